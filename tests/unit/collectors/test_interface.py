"""The Collector template methods: every failure is a CollectorError, every result is checked."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from das_evidence.collectors.interface import (
    JSON_MEDIA_TYPE,
    ArchiveReader,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.errors import CollectorError, ConfigError, StoreError

from .conformance import UNEXPECTED, NoArchive

T = datetime(2026, 11, 1, tzinfo=UTC)
W = Window(T, T + timedelta(hours=1))
STREAM = "test/scripted"


class Scripted(Collector):
    """A collector whose hooks do what the test says."""

    def __init__(
        self,
        *,
        attach: Callable[[], None] = lambda: None,
        plan: Callable[[], list[Window]] = lambda: [W],
        collect: Callable[[Path], Collection] | None = None,
    ) -> None:
        self.stream = STREAM
        self.name = "scripted"
        self._on_attach = attach
        self._plan = plan
        self._produce = collect or (lambda spool: _collection(spool))

    def _attach(self, archive: ArchiveReader) -> None:
        self._on_attach()

    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        return self._plan()

    def _collect(self, window: Window, spool: Path) -> Collection:
        return self._produce(spool)


def _file(path: Path, data: bytes = b"{}", key: str = "evidence/test/a.json") -> CollectedFile:
    path.write_bytes(data)
    return CollectedFile(
        key, path, hashlib.sha256(data).hexdigest(), len(data), None, JSON_MEDIA_TYPE
    )


def _collection(spool: Path, *files: CollectedFile, window: Window = W) -> Collection:
    return Collection(STREAM, window, files or (_file(spool / "a.json"),), {})


def _raise(e: Exception) -> Callable[..., None]:
    def hook(*args: object) -> None:
        raise e

    return hook


def _call(method: str, hook: Callable[..., None], spool: Path) -> None:
    if method == "attach":
        Scripted(attach=hook).attach(NoArchive())
    elif method == "due_windows":
        Scripted(plan=hook).due_windows(None, T)  # type: ignore[arg-type]
    else:
        Scripted(collect=hook).collect(W, spool)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["attach", "due_windows", "collect"])
@pytest.mark.parametrize("kind", list(UNEXPECTED))
def test_anything_a_hook_raises_is_a_collector_error_naming_stream_and_type(
    method: str, kind: str, tmp_path: Path
) -> None:
    error = UNEXPECTED[kind]()
    with pytest.raises(CollectorError) as caught:
        _call(method, _raise(error), tmp_path)
    assert type(caught.value) is CollectorError and caught.value.exit_code == 3
    assert caught.value.message.startswith(f"{STREAM}: unexpected {kind}: ")
    assert caught.value.message.endswith("(a bug in the collector, or input it does not handle)")
    assert caught.value.__cause__ is error


@pytest.mark.parametrize("method", ["attach", "due_windows", "collect"])
def test_a_collector_error_passes_unchanged(method: str, tmp_path: Path) -> None:
    error = CollectorError("view X has no column Y", fix="grant it")
    with pytest.raises(CollectorError) as caught:
        _call(method, _raise(error), tmp_path)
    assert caught.value is error


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [(ConfigError("bad port", fix="set port"), 2), (StoreError("bucket gone", fix="check"), 3)],
)
def test_a_product_error_keeps_its_message_fix_and_exit_code(
    error: ConfigError | StoreError, exit_code: int, tmp_path: Path
) -> None:
    with pytest.raises(CollectorError) as caught:
        _call("collect", _raise(error), tmp_path)
    assert caught.value.message == f"{STREAM}: {error.message}"
    assert caught.value.fix == error.fix and caught.value.exit_code == exit_code
    assert caught.value.__cause__ is error
    assert CollectorError.exit_code == 3  # the instance's, not the class's


def test_an_interrupt_is_not_wrapped(tmp_path: Path) -> None:
    def interrupted(spool: Path) -> Collection:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Scripted(collect=interrupted).collect(W, tmp_path)


def _outside(spool: Path) -> Collection:
    return _collection(spool, _file(spool.parent / "elsewhere.json"))


def _symlink_out(spool: Path) -> Collection:
    target = _file(spool.parent / "elsewhere.json")
    (spool / "link.json").symlink_to(target.local_path)
    return _collection(spool, CollectedFile(target.key, spool / "link.json", *_rest(target)))


def _rest(f: CollectedFile) -> tuple[str, int, int | None, str]:
    return f.sha256, f.size, f.rows, f.media_type


def _changed_after_hashing(spool: Path) -> Collection:
    f = _file(spool / "a.json", b'{"a": 1}')
    f.local_path.write_bytes(b'{"a": 2}')
    return _collection(spool, f)


def _wrong_size(spool: Path) -> Collection:
    f = _file(spool / "a.json")
    return _collection(spool, CollectedFile(f.key, f.local_path, f.sha256, 99, None, "x"))


def _missing(spool: Path) -> Collection:
    f = _file(spool / "a.json")
    f.local_path.unlink()
    return _collection(spool, f)


def _a_directory(spool: Path) -> Collection:
    (spool / "d").mkdir()
    return _collection(spool, CollectedFile("k", spool / "d", "0" * 64, 0, None, "x"))


def _key_twice(spool: Path) -> Collection:
    return _collection(spool, _file(spool / "a.json"), _file(spool / "b.json"))


def _other_stream(spool: Path) -> Collection:
    return Collection("test/other", W, (_file(spool / "a.json"),), {})


def _other_window(spool: Path) -> Collection:
    return _collection(spool, _file(spool / "a.json"), window=Window(T, T))


@pytest.mark.parametrize(
    ("produce", "message"),
    [
        (_outside, "outside its spool directory"),
        (_symlink_out, "outside its spool directory"),
        (_changed_after_hashing, "bytes with SHA-256"),
        (_wrong_size, "says evidence/test/a.json is 99 bytes"),
        (_missing, "which is not a file"),
        (_a_directory, "which is not a file"),
        (_key_twice, "names the key evidence/test/a.json twice"),
        (_other_stream, "collected into the stream 'test/other'"),
        (_other_window, "asked for"),
    ],
)
def test_a_collection_the_runner_must_not_archive_is_a_collector_error(
    produce: Callable[[Path], Collection], message: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(CollectorError, match=message) as caught:
        Scripted(collect=produce).collect(W, spool)
    assert caught.value.message.startswith(f"{STREAM}: ")


def test_a_good_collection_passes_as_it_is(tmp_path: Path) -> None:
    made: list[Collection] = []

    def produce(spool: Path) -> Collection:
        made.append(_collection(spool, _file(spool / "a.json"), _file(spool / "b", key="k2")))
        return made[0]

    assert Scripted(collect=produce).collect(W, tmp_path) is made[0]


@pytest.mark.parametrize(
    ("last_end", "plan", "message"),
    [
        (None, [Window(T.replace(tzinfo=None), T.replace(tzinfo=None))], "not an ordered pair"),
        (None, [Window(T + timedelta(hours=1), T)], "not an ordered pair"),
        (None, [W, Window(T + timedelta(minutes=30), T + timedelta(hours=2))], "planned"),
        (T + timedelta(minutes=1), [W], "already collected or planned"),
        (T, [Window(T, T)], "everything up to 2026-11-01T00:00:00Z"),
        (None, [Window(T, T), Window(T, T)], "already collected or planned"),
    ],
)
def test_a_plan_that_overlaps_or_is_not_utc_is_a_collector_error(
    last_end: datetime | None, plan: list[Window], message: str
) -> None:
    with pytest.raises(CollectorError, match=message):
        Scripted(plan=lambda: plan).due_windows(last_end, T + timedelta(days=1))


def test_a_plan_may_start_after_the_last_end_and_be_empty() -> None:
    later = Window(T + timedelta(hours=2), T + timedelta(hours=2))
    assert Scripted(plan=lambda: [later]).due_windows(T, T + timedelta(days=1)) == [later]
    assert Scripted(plan=lambda: []).due_windows(T, T + timedelta(days=1)) == []
