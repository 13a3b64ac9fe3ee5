"""Every collector runs the conformance suite: history, policy state, dbt and the test fake.

History and policy state are built as ``evidence collect`` builds them (settings and
``collectors.catalogue.build_collectors``) and read the fake Snowflake on
127.0.0.1 through the real connector; the server is one per module, seeded
once and never changed by a test. A broken source is a real session whose
result stream fails after its first batch, as a dropped connection does.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import pkgutil
import shutil
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import das_evidence.collectors
from das_evidence.aws import S3Reader, make_client
from das_evidence.collectors.catalogue import build_collectors
from das_evidence.collectors.dbt import DbtCollector
from das_evidence.collectors.dbt.artifacts import LocalTarget
from das_evidence.collectors.interface import Collector, Window
from das_evidence.collectors.snowflake import (
    HistoryCollector,
    LazySession,
)
from das_evidence.collectors.snowflake.connection import QueryResult, SnowflakeSession
from das_evidence.collectors.snowflake.history import WINDOW_GRID, floor_to
from das_evidence.collectors.snowflake.policy import PolicyStateCollector
from das_evidence.collectors.snowflake.unload import UnloadCollector
from das_evidence.config import Settings, load_settings
from das_evidence.demo import fake_unload
from das_evidence.demo.policy_seed import seed_policy_state
from das_evidence.demo.run import write_demo_config
from das_evidence.demo.seed import seed_account_usage
from das_evidence.demo.server import FakeSnowflake
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.streams import HISTORY_STREAMS, POLICY_LATENCY, POLICY_STREAM
from das_evidence.timefmt import parse_rfc3339
from tests.unit.verify.s3_archive import aws

from .conformance import CollectorConformance
from .dbt.conftest import PROJECT, TARGET
from .test_runner import NOW as FAKE_NOW
from .test_runner import FakeCollector

__all__ = ["aws"]

# -- the fake Snowflake, shared by history and policy state ----------------------------

SNOWFLAKE_NOW = datetime(2026, 11, 20, 6, tzinfo=UTC)
# Two history windows, cut at the midnight between them.
HISTORY_START = datetime(2026, 11, 19, 12, tzinfo=UTC)


class Snowflake:
    """The seeded server, its settings and one shared session, as `evidence collect` has."""

    def __init__(self, fake: FakeSnowflake, settings: Settings) -> None:
        self.fake = fake
        self.settings = settings
        self.session = LazySession(settings.snowflake.connector_args())
        self._opened: list[SnowflakeSession] = []

    def broken_session(self, error: Exception) -> Callable[[], SnowflakeSession]:
        """A session factory whose query results fail with ``error`` after one batch."""
        opened: list[SnowflakeSession] = []

        def session() -> SnowflakeSession:
            if not opened:
                opened.append(BrokenSession(self.settings.snowflake.connector_args(), error))
                self._opened.append(opened[0])
            return opened[0]

        return session

    def close(self) -> None:
        self.session.close()
        for s in self._opened:
            s.close()


class BrokenSession(SnowflakeSession):
    """A real session whose result stream breaks after the first batch."""

    def __init__(self, connector_args: dict[str, Any], error: Exception) -> None:
        super().__init__(connector_args)
        self.error = error

    def query_arrow(self, sql: str, params: Sequence[Any]) -> QueryResult:
        result = super().query_arrow(sql, params)

        def batches() -> Iterator[Any]:
            yield from itertools.islice(result.batches, 1)
            raise self.error

        return QueryResult(result.query_id, batches())


@pytest.fixture(scope="module")
def snowflake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snowflake]:
    directory = tmp_path_factory.mktemp("snowflake")
    write_key_pair(directory / "keys", "evidence.example.com/conformance")
    with FakeSnowflake() as fake:
        seed_account_usage(fake.duck, end=SNOWFLAKE_NOW, days=2, access_rows_per_day=200)
        seed_policy_state(fake.duck, now=SNOWFLAKE_NOW - timedelta(hours=3))
        config = write_demo_config(directory, port=fake.port, start=HISTORY_START)
        sf = Snowflake(fake, load_settings(config))
        try:
            yield sf
        finally:
            sf.close()


class TestHistoryConformance(CollectorConformance):
    collector_type = HistoryCollector
    # Snowflake gives every run of the same query a new id.
    VOLATILE = ("query.query_id",)

    @pytest.fixture(params=HISTORY_STREAMS)
    def stream(self, request: pytest.FixtureRequest) -> str:
        name: str = request.param
        return name

    @pytest.fixture
    def now(self) -> datetime:
        return SNOWFLAKE_NOW

    @pytest.fixture
    def expected_span(self, snowflake: Snowflake, stream: str) -> Window:
        # The trailing window ends on the hour, whatever minute the run starts.
        end = floor_to(SNOWFLAKE_NOW - snowflake.settings.safety(stream), WINDOW_GRID)
        return Window(HISTORY_START, end)

    @pytest.fixture
    def make_collector(self, snowflake: Snowflake, stream: str) -> Callable[[], Collector]:
        def make() -> Collector:
            [c] = build_collectors(snowflake.settings, snowflake.session, SNOWFLAKE_NOW, stream)
            return c

        return make

    @pytest.fixture
    def broken_collector(
        self, snowflake: Snowflake, stream: str
    ) -> Callable[[Exception], Collector]:
        def make(error: Exception) -> Collector:
            session = snowflake.broken_session(error)
            [c] = build_collectors(snowflake.settings, session, SNOWFLAKE_NOW, stream)
            return c

        return make


class TestPolicyStateConformance(CollectorConformance):
    collector_type = PolicyStateCollector
    VOLATILE = ("views.*.query_id", "views.*.query_ids")
    READS_ARCHIVE = True  # the previous snapshot, to record what changed

    @pytest.fixture
    def now(self) -> datetime:
        return SNOWFLAKE_NOW

    @pytest.fixture
    def expected_span(self) -> Window:
        # On the interval grid (a day: midnight UTC), whatever minute the run starts.
        as_of = floor_to(SNOWFLAKE_NOW - POLICY_LATENCY, timedelta(days=1))
        return Window(as_of, as_of)

    @pytest.fixture
    def make_collector(self, snowflake: Snowflake) -> Callable[[], Collector]:
        def make() -> Collector:
            [c] = build_collectors(
                snowflake.settings, snowflake.session, SNOWFLAKE_NOW, POLICY_STREAM
            )
            return c

        return make

    @pytest.fixture
    def broken_collector(self, snowflake: Snowflake) -> Callable[[Exception], Collector]:
        def make(error: Exception) -> Collector:
            session = snowflake.broken_session(error)
            [c] = build_collectors(snowflake.settings, session, SNOWFLAKE_NOW, POLICY_STREAM)
            return c

        return make


# -- dbt: a copy of the fixture target, so the suite sees any write to the input --------


class BrokenTarget(LocalTarget):
    """A local target directory whose reads fail with ``error``."""

    def __init__(self, path: Path, error: Exception) -> None:
        super().__init__(path)
        self.error = error

    def read(self, name: str, max_bytes: int) -> bytes:
        raise self.error


DBT_NOW = datetime(2026, 12, 1, 6, tzinfo=UTC)


class TestDbtConformance(CollectorConformance):
    collector_type = DbtCollector

    @pytest.fixture
    def target(self, tmp_path: Path) -> Path:
        copy = tmp_path / "input" / "target"
        shutil.copytree(TARGET, copy)
        return copy

    @pytest.fixture
    def now(self) -> datetime:
        return DBT_NOW

    @pytest.fixture
    def expected_span(self) -> Window:
        doc = json.loads((TARGET / "run_results.json").read_bytes())
        t = parse_rfc3339(doc["metadata"]["generated_at"])
        return Window(t, t)

    @pytest.fixture
    def make_collector(self, target: Path) -> Callable[[], Collector]:
        return lambda: DbtCollector(PROJECT, LocalTarget(target))

    @pytest.fixture
    def broken_collector(self, target: Path) -> Callable[[Exception], Collector]:
        return lambda error: DbtCollector(PROJECT, BrokenTarget(target, error))


# -- history unloaded by Snowflake to a stage (moto in process) --------------------------

UNLOAD_BUCKET = "evidence"
UNLOAD_STAGE = "@EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE"
UNLOAD_STAGING = f"s3://{UNLOAD_BUCKET}/staging/"


class BrokenStaging(S3Reader):
    """The staging prefix, whose reads fail with ``error`` after the first part."""

    def __init__(self, error: Exception) -> None:
        super().__init__(UNLOAD_BUCKET, "staging", client=make_client("s3", region="us-east-1"))
        self.error = error
        self.reads = 0

    def read_range(self, name: str, start: int, end: int, version_id: str | None) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return super().read_range(name, start, end, version_id)


class TestUnloadConformance(CollectorConformance):
    collector_type = UnloadCollector
    # Each attempt unloads to a fresh staging path, as a new query.
    VOLATILE = (
        "query.query_id",
        "query.sql",
        "unload.query_id",
        "unload.staging_uri",
        "unload.objects",
    )

    @pytest.fixture
    def settings(self, snowflake: Snowflake, aws: None, tmp_path: Path) -> Iterator[Settings]:
        s3 = make_client("s3", region="us-east-1")
        s3.create_bucket(Bucket=UNLOAD_BUCKET, ObjectLockEnabledForBucket=True)
        fake_unload.register_stage(UNLOAD_STAGE, UNLOAD_STAGING)
        directory = tmp_path / "unload-config"
        directory.mkdir()
        config = write_demo_config(
            directory,
            port=snowflake.fake.port,
            start=HISTORY_START,
            store=f'uri = "s3://{UNLOAD_BUCKET}/archive"',
        )
        config.write_text(
            config.read_text().replace(
                "[streams.access_history]\n",
                "[streams.access_history]\n"
                'mode = "server_side_unload"\n'
                f'stage = "{UNLOAD_STAGE}"\n'
                f'staging_prefix = "{UNLOAD_STAGING}"\n'
                "max_file_size = 8192\n",
            )
        )
        yield load_settings(config)
        fake_unload.deny(UNLOAD_STAGE)

    @pytest.fixture
    def now(self) -> datetime:
        return SNOWFLAKE_NOW

    @pytest.fixture
    def expected_span(self, settings: Settings) -> Window:
        end = floor_to(SNOWFLAKE_NOW - settings.safety("access_history"), WINDOW_GRID)
        return Window(HISTORY_START, end)

    @pytest.fixture
    def make_collector(self, snowflake: Snowflake, settings: Settings) -> Callable[[], Collector]:
        def make() -> Collector:
            [c] = build_collectors(settings, snowflake.session, SNOWFLAKE_NOW, "access_history")
            assert isinstance(c, UnloadCollector)
            return c

        return make

    @pytest.fixture
    def broken_collector(
        self, snowflake: Snowflake, settings: Settings
    ) -> Callable[[Exception], Collector]:
        def make(error: Exception) -> Collector:
            [history] = build_collectors(
                snowflake.settings, snowflake.session, SNOWFLAKE_NOW, "access_history"
            )
            assert isinstance(history, HistoryCollector)
            return UnloadCollector(
                history,
                session=snowflake.session,
                stage=UNLOAD_STAGE,
                staging=BrokenStaging(error),
                max_file_size=1024,
                part_size=256,
            )

        return make


# -- the runner tests' fake -------------------------------------------------------------


class TestFakeCollectorConformance(CollectorConformance):
    collector_type = FakeCollector

    @pytest.fixture
    def now(self) -> datetime:
        return FAKE_NOW

    @pytest.fixture
    def expected_span(self) -> Window:
        return Window(datetime(2026, 11, 1, tzinfo=UTC), FAKE_NOW - timedelta(hours=3))

    @pytest.fixture
    def make_collector(self) -> Callable[[], Collector]:
        return lambda: FakeCollector("fake/conformance")

    @pytest.fixture
    def broken_collector(self) -> Callable[[Exception], Collector]:
        return lambda error: FakeCollector("fake/conformance", error=error)


# -- nobody is left out -----------------------------------------------------------------


def _subclasses(cls: type[Any]) -> set[type[Any]]:
    out: set[type[Any]] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_collector_inherits_the_conformance_suite() -> None:
    for module in pkgutil.walk_packages(
        das_evidence.collectors.__path__, das_evidence.collectors.__name__ + "."
    ):
        importlib.import_module(module.name)
    product = {
        c
        for c in _subclasses(Collector)
        if c.__module__.startswith("das_evidence.") and not inspect.isabstract(c)
    }
    covered = {t.collector_type for t in _subclasses(CollectorConformance)}
    assert product, "no collector found: the package walk is broken"
    assert product | {FakeCollector} <= covered, (
        f"without a conformance subclass: {sorted(c.__name__ for c in product - covered)}"
    )
