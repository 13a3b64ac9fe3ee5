"""The dbt collector: one archive entry per dbt invocation found in a target directory.

A :class:`DbtCollector` reads and validates its target directory once, on
first use (building one is cheap), because the stream name carries the invocation id:
``dbt/<project>/<invocation_id>``. A target that fails validation keeps its
:class:`~das_evidence.collectors.dbt.artifacts.ArtifactError` (and one that
cannot be read for any other reason, that reason as a CollectorError), takes
the stream ``dbt/<project>/invalid`` and raises the error from
:meth:`due_windows` (which the runner reports per stream, with a non-zero exit,
writing nothing).

Collect right after the dbt command whose results matter (``dbt build``, ``run`` or
``test``): ``dbt source freshness`` rewrites manifest.json (so run_results no
longer matches it and the target is refused), and ``dbt docs generate`` rewrites
both with compile-only results (archived, but every test is ``not_evidenced``).

An invocation is a point in time: its window is ``[t, t]`` at run_results'
``metadata.generated_at``, due only while the stream has no entry, so an
invocation already archived is never archived again.

Store keys (Hive-style partitions, so DuckDB can read every invocation at once)::

    evidence/dbt/<project>/date=<YYYY-MM-DD>/invocation_id=<uuid>/manifest.json
    evidence/dbt/<project>/date=<YYYY-MM-DD>/invocation_id=<uuid>/nodes.parquet

The original artifact bytes come first (manifest, run_results, catalog,
sources, whichever exist), then the four tables of
:mod:`~das_evidence.collectors.dbt.tables`, always all four.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from das_evidence.collectors.dbt.artifacts import (
    DEFAULT_MAX_BYTES,
    FILENAMES,
    SCHEMA_KINDS,
    DbtTarget,
    TargetSource,
    open_target,
    read_target,
)
from das_evidence.collectors.dbt.tables import (
    NOT_EVIDENCED,
    SCHEMAS,
    DbtTables,
    build_tables,
)
from das_evidence.collectors.interface import (
    JSON_MEDIA_TYPE,
    PARQUET_MEDIA_TYPE,
    CollectedFile,
    Collection,
    Collector,
    Window,
    as_collector_error,
)
from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.errors import ArtifactError, CollectorError, ConfigError
from das_evidence.evidence_store.interface import validate_key
from das_evidence.streams import StreamId
from das_evidence.timefmt import rfc3339

log = logging.getLogger(__name__)

COLLECTOR_NAME = "dbt.artifacts"


def schema_fingerprint() -> str:
    """SHA-256 of the pinned table shapes; changes when and only when a schema does."""
    shape = [[name, [[f.name, str(f.type)] for f in schema]] for name, schema in SCHEMAS.items()]
    text = json.dumps(shape, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _validate_project(project: str) -> None:
    try:
        validate_key(project)
    except ConfigError:
        raise ConfigError(
            f"[[dbt]] project {project!r} cannot name a stream: use only A-Z a-z 0-9 . _ = -",
            fix='name the project as in dbt_project.yml, e.g. project = "jaffle_shop"',
        ) from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _build(target: DbtTarget) -> DbtTables:
    try:
        return build_tables(target)
    except (
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
        ArithmeticError,
        pa.ArrowException,
    ) as e:
        # The checks in artifacts.py passed, yet a field has a shape dbt never writes.
        names = ", ".join(a.filename for a in target.artifacts.values())
        raise ArtifactError(
            f"the dbt artifacts in {target.location} ({names}) have a field of an "
            f"unexpected shape: {type(e).__name__}: {e}",
            fix="regenerate the artifacts with dbt; if dbt wrote them, report this",
        ) from e


class DbtCollector(Collector):
    """The dbt invocation whose artifacts are in one target directory."""

    def __init__(
        self,
        project: str,
        source: TargetSource,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        _validate_project(project)
        self.project = project
        self.source = source
        self.name = COLLECTOR_NAME
        self.max_bytes = max_bytes
        # Read on first use, not here: building a collector is cheap, and one that
        # --only leaves out never touches its target.
        self._loaded = False
        self._stream = ""
        self._target: DbtTarget | None = None
        self._tables: DbtTables | None = None
        self._error: CollectorError | None = None

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            self._target = read_target(self.source, max_bytes=self.max_bytes)
            self._tables = _build(self._target)
        except Exception as e:
            # Reading happens here, outside the template methods: whatever a target
            # source raises (a refusal, or a bug) becomes this stream's error, which
            # due_windows raises, so the runner reports it with the other streams.
            self._stream = str(StreamId.dbt(self.project, "invalid"))
            self._error = as_collector_error(self._stream, e)
            log.error("dbt project %s: %s", self.project, self._error)
            if self._error is not e:
                self._error.__cause__ = e
        else:
            self._stream = str(StreamId.dbt(self.project, self._target.invocation_id))

    @property
    def stream(self) -> str:  # type: ignore[override]
        """``dbt/<project>/<invocation_id>``: known once the target has been read."""
        self._load()
        return self._stream

    @property
    def error(self) -> CollectorError | None:
        """Why the target cannot be archived (usually an ArtifactError), or None."""
        self._load()
        return self._error

    def _valid(self) -> tuple[DbtTarget, DbtTables]:
        self._load()
        if self._error is not None:
            raise self._error
        assert self._target is not None and self._tables is not None
        return self._target, self._tables

    @property
    def target(self) -> DbtTarget:
        return self._valid()[0]

    @property
    def tables(self) -> DbtTables:
        return self._valid()[1]

    def window(self) -> Window:
        t = self.target.run_results.generated_at
        return Window(t, t)

    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        self._valid()
        return [self.window()] if last_end is None else []

    def prefix(self) -> str:
        target = self.target
        day = target.run_results.generated_at.astimezone(UTC).strftime("%Y-%m-%d")
        return f"evidence/dbt/{self.project}/date={day}/invocation_id={target.invocation_id}/"

    def _collect(self, window: Window, spool: Path) -> Collection:
        target, tables = self._valid()
        if window != self.window():
            raise CollectorError(
                f"{self.stream} is the invocation at {rfc3339(self.window().start)}, "
                f"not the window {window.to_json()}",
                fix="collect the window due_windows returned",
            )
        prefix = self.prefix()
        files: list[CollectedFile] = []
        written: list[Path] = []
        try:
            for name, artifact in target.artifacts.items():
                key = validate_key(prefix + FILENAMES[name])
                path = spool / key.replace("/", "__")
                written.append(path)
                path.write_bytes(artifact.data)
                files.append(
                    CollectedFile(
                        key=key,
                        local_path=path,
                        sha256=hashlib.sha256(artifact.data).hexdigest(),
                        size=len(artifact.data),
                        rows=None,
                        media_type=JSON_MEDIA_TYPE,
                    )
                )
            for name, schema in SCHEMAS.items():
                key = validate_key(f"{prefix}{name}.parquet")
                path = spool / key.replace("/", "__")
                written.append(path)
                with DeterministicParquetWriter(path, schema) as writer:
                    for batch in tables[name].to_batches():
                        writer.write(batch)
                files.append(
                    CollectedFile(
                        key=key,
                        local_path=path,
                        sha256=_sha256_file(path),
                        size=path.stat().st_size,
                        rows=writer.rows,
                        media_type=PARQUET_MEDIA_TYPE,
                    )
                )
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        log.info("collected %s: %d files", self.stream, len(files))
        return Collection(
            stream=self.stream,
            window=window,
            files=tuple(files),
            predicate=self.predicate(),
        )

    def predicate(self) -> dict[str, Any]:
        """The ``source``, ``dbt``, ``rows`` and ``schema`` fields of this invocation's entry."""
        target, tables = self._valid()
        manifest, run_results = target.manifest, target.run_results
        tests = tables["tests"]
        ran = [
            (uid, status, evidence)
            for uid, status, evidence in zip(
                tests.column("unique_id").to_pylist(),
                tests.column("status").to_pylist(),
                tests.column("evidence_status").to_pylist(),
                strict=True,
            )
            if status is not None
        ]
        args = run_results.doc.get("args")
        command = args.get("which") if isinstance(args, dict) else None
        artifacts = {
            name: {
                "file": a.filename,
                "schema_version": f"{SCHEMA_KINDS[name]}/v{a.schema_version}",
                "dbt_schema_version": a.schema_url,
                "invocation_id": a.invocation_id,
                "generated_at": rfc3339(a.generated_at),
                "dbt_version": a.dbt_version,
            }
            for name, a in target.artifacts.items()
        }
        meta = manifest.metadata
        return {
            "source": {
                "system": "dbt",
                "project": self.project,
                "target_dir": self.source.location,
            },
            "dbt": {
                "project": self.project,
                "project_name": _opt_str(meta.get("project_name")),
                "invocation_id": target.invocation_id,
                "dbt_version": run_results.dbt_version,
                "adapter_type": _opt_str(meta.get("adapter_type")),
                "command": _opt_str(command),
                "artifacts": artifacts,
                "results": _counts(tables["results"].column("status").to_pylist()),
                "tests": _counts([evidence for _, _, evidence in ran]),
                "tests_not_run": tests.num_rows - len(ran),
                "not_evidenced": sorted(u for u, _, e in ran if e == NOT_EVIDENCED),
                "source_freshness": _counts(
                    tables["source_freshness"].column("status").to_pylist()
                ),
            },
            "rows": sum(tables[name].num_rows for name in SCHEMAS),
            "schema": {
                "fingerprint": schema_fingerprint(),
                "tables": {name: [f.name for f in schema] for name, schema in SCHEMAS.items()},
            },
        }


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _counts(values: Sequence[Any]) -> dict[str, int]:
    counts = Counter(str(v) if v is not None else "unknown" for v in values)
    return dict(sorted(counts.items()))


def dbt_collectors(
    entries: Sequence[tuple[str, str]],
    *,
    endpoint_url: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[DbtCollector]:
    """One collector per ``[[dbt]]`` entry ``(project, target_dir)``; reads each target.

    ``target_dir`` is a local path or ``s3://bucket/prefix/target`` (read with the
    AWS default credentials, at ``endpoint_url`` if given). A target that cannot be
    archived still gives a collector, whose stream ``dbt/<project>/invalid`` fails.
    """
    seen: set[str] = set()
    for project, _ in entries:
        if project in seen:
            raise ConfigError(
                f"[[dbt]] project {project!r} is configured twice",
                fix="give each [[dbt]] entry its own project name",
            )
        seen.add(project)
    if max_bytes <= 0:
        raise ConfigError(f"dbt max_bytes is {max_bytes}", fix="use a positive number of bytes")
    return [
        DbtCollector(
            project, open_target(target_dir, endpoint_url=endpoint_url), max_bytes=max_bytes
        )
        for project, target_dir in entries
    ]


__all__ = [
    "COLLECTOR_NAME",
    "DbtCollector",
    "dbt_collectors",
    "schema_fingerprint",
]
