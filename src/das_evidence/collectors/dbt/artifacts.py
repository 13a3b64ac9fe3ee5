"""Reading one dbt target directory (local or ``s3://``) into validated artifacts.

This module owns everything that can make a dbt target unfit for evidence, and
refuses it before a single byte is archived:

1. the directory is a dbt target: it holds ``manifest.json`` and ``run_results.json``
   (``catalog.json`` and ``sources.json`` are optional);
2. every artifact present is at most ``max_bytes`` long, checked from the file
   system or a HEAD request *before* any byte is read;
3. the bytes are UTF-8, nested at most ``MAX_JSON_DEPTH`` levels (checked before
   parsing) and a JSON object with a ``metadata`` object;
4. ``metadata.dbt_schema_version`` names this kind of artifact
   (``https://schemas.getdbt.com/dbt/manifest/v12.json``) in a version listed
   in :data:`SUPPORTED_VERSIONS`;
5. ``metadata.invocation_id`` is a UUID and ``metadata.generated_at`` a time;
6. run_results comes from the same dbt invocation as the manifest;
7. every ``unique_id`` in run_results, sources.json and catalog.json names a
   resource of the manifest.

``catalog.json`` (``dbt docs generate``) and ``sources.json`` (``dbt source
freshness``) are written by their own dbt commands, so their invocation ids
differ from the manifest's by design: they are accepted, recorded with their
own invocation id and time, and checked only to name the manifest's resources.

Every refusal is an :class:`ArtifactError` whose message names the file, the
problem and the fix. The original bytes are kept as read, so the archived
bytes are exactly the validated ones.
"""

from __future__ import annotations

import json
import re
import stat
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from das_evidence.errors import ArtifactError, EvidenceError, StoreError
from das_evidence.manifests.jsonlimits import MAX_JSON_DEPTH, json_depth_exceeded

DEFAULT_MAX_BYTES = 512 * 1024**2

#: artifact -> file name, in the order they are read and archived
FILENAMES: Mapping[str, str] = {
    "manifest": "manifest.json",
    "run_results": "run_results.json",
    "catalog": "catalog.json",
    "sources": "sources.json",
}
REQUIRED = ("manifest", "run_results")

#: artifact -> the kind in its schema URL
SCHEMA_KINDS: Mapping[str, str] = {
    "manifest": "manifest",
    "run_results": "run-results",
    "catalog": "catalog",
    "sources": "sources",
}

#: Schema versions this collector reads, newest first. Manifest v9 (dbt 1.5) is the
#: oldest with model contracts, ``access`` and a test's ``attached_node``, which
#: the nodes and tests tables need; the fields read are the same in every
#: version listed (checked against dbt's published schemas).
SUPPORTED_VERSIONS: Mapping[str, tuple[int, ...]] = {
    "manifest": (12, 11, 10, 9),  # dbt 1.8+, 1.7, 1.6, 1.5
    "run_results": (6, 5, 4),  # dbt 1.8+, 1.7, 1.0-1.6
    "catalog": (1,),  # dbt 1.0+
    "sources": (3,),  # dbt 1.0+
}

_SCHEMA_URL = re.compile(r"^https://schemas\.getdbt\.com/dbt/([a-z-]+)/v(\d+)\.json$")
_CHUNK = 1 << 20


def _versions(artifact: str) -> str:
    kind = SCHEMA_KINDS[artifact]
    return ", ".join(f"{kind} v{v}" for v in SUPPORTED_VERSIONS[artifact])


# -- where the bytes come from ----------------------------------------------------


class TargetSource(ABC):
    """A dbt ``target/`` directory: sizes first, then bytes."""

    #: the configured location, for messages and the predicate
    location: str

    def describe(self, name: str) -> str:
        """The file as a person would find it: ``path/to/target/manifest.json``."""
        return f"{self.location.rstrip('/')}/{name}"

    @abstractmethod
    def check_target(self) -> None:
        """Raise :class:`ArtifactError` unless the location can be a target directory."""

    @abstractmethod
    def size(self, name: str) -> int | None:
        """Size in bytes of ``name``, or None when it does not exist. Reads no content."""

    @abstractmethod
    def read(self, name: str, max_bytes: int) -> bytes:
        """The bytes of ``name``; refuses more than ``max_bytes`` even if it grew."""


class LocalTarget(TargetSource):
    """A target directory on the local file system."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def check_target(self) -> None:
        if not self.path.is_dir():
            what = "does not exist" if not self.path.exists() else "is not a directory"
            raise ArtifactError(
                f"{self.location} is not a dbt target: it {what}",
                fix="set target_dir in [[dbt]] to the project's target/ directory "
                "(where dbt writes manifest.json and run_results.json)",
            )

    def size(self, name: str) -> int | None:
        path = self.path / name
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ArtifactError(
                f"cannot read {path}: {e.strerror}",
                fix="check the collector can read the dbt target directory",
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(
                f"{path} is not a regular file", fix="point target_dir at dbt's target/ directory"
            )
        return st.st_size

    def read(self, name: str, max_bytes: int) -> bytes:
        path = self.path / name
        try:
            with path.open("rb") as f:
                # One byte past the limit tells a file that grew since its size was checked.
                data = f.read(max_bytes + 1)
        except OSError as e:
            raise ArtifactError(
                f"cannot read {path}: {e.strerror}",
                fix="check the collector can read the dbt target directory",
            ) from None
        if len(data) > max_bytes:
            raise _too_large(self.describe(name), None, max_bytes)
        return data


class S3Target(TargetSource):
    """A target directory copied to ``s3://bucket/prefix/target``, read-only."""

    def __init__(self, uri: str, *, endpoint_url: str | None = None) -> None:
        self.location = uri.rstrip("/")
        self._endpoint_url = endpoint_url
        self._reader: Any = None

    def _s3(self) -> Any:
        if self._reader is None:
            from das_evidence.aws import S3Reader
            from das_evidence.evidence_store.s3 import parse_s3_uri

            try:
                bucket, prefix = parse_s3_uri(self.location)
            except EvidenceError as e:
                raise ArtifactError(
                    f"{self.location} is not a dbt target: {e.message}",
                    fix="set target_dir to s3://bucket/prefix/target",
                ) from None
            self._reader = S3Reader(bucket, prefix, endpoint_url=self._endpoint_url)
        return self._reader

    def check_target(self) -> None:
        self._s3()

    def size(self, name: str) -> int | None:
        try:
            size = self._s3().size(name)
        except StoreError as e:
            raise ArtifactError(
                f"cannot read {self.describe(name)}: {e.message}",
                fix="check credentials, the endpoint and the bucket",
            ) from None
        return None if size is None else int(size)

    def read(self, name: str, max_bytes: int) -> bytes:
        try:
            data = bytes(self._s3().read(name, max_bytes))
        except StoreError as e:
            raise ArtifactError(
                f"cannot read {self.describe(name)}: {e.message}",
                fix="check credentials, the endpoint and the bucket",
            ) from None
        if len(data) > max_bytes:
            raise _too_large(self.describe(name), len(data), max_bytes)
        return data


def open_target(target_dir: str, *, endpoint_url: str | None = None) -> TargetSource:
    """A local path or an ``s3://`` URI as a :class:`TargetSource`."""
    if target_dir.startswith("s3://"):
        return S3Target(target_dir, endpoint_url=endpoint_url)
    return LocalTarget(Path(target_dir))


# -- one validated artifact -------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """One artifact: its original bytes, its parsed JSON and its metadata."""

    name: str  # manifest, run_results, catalog, sources
    filename: str
    origin: str  # where it was read from, for messages
    data: bytes
    doc: Mapping[str, Any]
    schema_url: str
    schema_version: int
    invocation_id: str
    generated_at: datetime
    dbt_version: str | None

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta: Mapping[str, Any] = self.doc["metadata"]
        return meta


def _too_large(origin: str, size: int | None, max_bytes: int) -> ArtifactError:
    actual = f"is {size:,} bytes" if size is not None else "grew while it was read and is"
    return ArtifactError(
        f"{origin} {actual} over the {max_bytes:,}-byte size limit; it was not read",
        fix="raise max_bytes for this [[dbt]] entry if the artifact is genuine",
    )


def parse_time(value: Any, origin: str, field: str) -> datetime:
    """An ISO 8601 time from an artifact, as aware UTC (dbt writes naive UTC in places)."""
    if not isinstance(value, str):
        raise ArtifactError(
            f"{origin}: {field} is {_show(value)}, not a time",
            fix="regenerate the artifact with dbt; it is not one dbt wrote",
        )
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ArtifactError(
            f"{origin}: {field} {value!r} is not an ISO 8601 time",
            fix="regenerate the artifact with dbt; it is not one dbt wrote",
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_artifact(name: str, data: bytes, origin: str) -> Artifact:
    """Validate the bytes of one artifact (steps 3 to 5 of the module docstring)."""
    filename = FILENAMES[name]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ArtifactError(
            f"{origin} is not UTF-8: byte 0x{data[e.start]:02x} at offset {e.start} "
            f"cannot be decoded",
            fix=f"regenerate {filename} with dbt; dbt writes UTF-8 JSON",
        ) from None
    deep = json_depth_exceeded(data)
    if deep is not None:
        raise ArtifactError(
            f"{origin} is nested deeper than {MAX_JSON_DEPTH} levels (byte {deep}); "
            "dbt writes a few levels, so it is not a dbt artifact",
            fix=f"regenerate {filename} with dbt",
        )
    try:
        doc = json.loads(text)
    except RecursionError:  # the pre-scan makes this unreachable; kept as a backstop
        raise ArtifactError(f"{origin} is nested too deeply to parse") from None
    except json.JSONDecodeError as e:
        ends_early = not text.rstrip().endswith(("}", "]"))
        hint = "; the file ends early, so it was probably cut short" if ends_early else ""
        raise ArtifactError(
            f"{origin} is not valid JSON ({e.msg}, line {e.lineno} column {e.colno}){hint}",
            fix=f"regenerate {filename} with dbt, or copy it again if the copy was cut short",
        ) from None
    if not isinstance(doc, dict):
        raise ArtifactError(
            f"{origin} is JSON but not an object, so not a dbt {filename}",
            fix="point target_dir at dbt's target/ directory",
        )
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise ArtifactError(
            f"{origin} has no metadata object, so its schema version is unknown",
            fix=f"regenerate {filename} with dbt; every dbt artifact has metadata."
            "dbt_schema_version",
        )
    url = metadata.get("dbt_schema_version")
    if not isinstance(url, str):
        raise ArtifactError(
            f"{origin} has no metadata.dbt_schema_version, so its schema version is unknown",
            fix=f"regenerate {filename} with dbt; supported: {_versions(name)}",
        )
    match = _SCHEMA_URL.match(url)
    if match is None:
        raise ArtifactError(
            f"{origin}: metadata.dbt_schema_version {url!r} is not a dbt schema URL",
            fix=f"regenerate {filename} with dbt; supported: {_versions(name)}",
        )
    kind, version = match.group(1), int(match.group(2))
    if kind != SCHEMA_KINDS[name]:
        raise ArtifactError(
            f"{origin} is a dbt {kind} artifact (schema {kind} v{version}), not a "
            f"{SCHEMA_KINDS[name]}",
            fix=f"put dbt's own {filename} in the target directory",
        )
    if version not in SUPPORTED_VERSIONS[name]:
        newer = version > max(SUPPORTED_VERSIONS[name])
        raise ArtifactError(
            f"{origin} has schema version {kind} v{version} "
            f"(metadata.dbt_schema_version {url}), which this collector does not read; "
            f"supported: {_versions(name)}",
            fix="upgrade das-evidence to a version that reads it"
            if newer
            else "upgrade dbt to 1.5 or later; older artifacts lack contracts and access",
        )
    invocation_id = metadata.get("invocation_id")
    if not isinstance(invocation_id, str) or not _is_uuid(invocation_id):
        raise ArtifactError(
            f"{origin}: metadata.invocation_id is {_show(invocation_id)}, not a dbt "
            "invocation UUID",
            fix=f"regenerate {filename} with dbt",
        )
    generated_at = parse_time(metadata.get("generated_at"), origin, "metadata.generated_at")
    dbt_version = metadata.get("dbt_version")
    return Artifact(
        name=name,
        filename=filename,
        origin=origin,
        data=data,
        doc=doc,
        schema_url=url,
        schema_version=version,
        invocation_id=invocation_id,
        generated_at=generated_at,
        dbt_version=dbt_version if isinstance(dbt_version, str) else None,
    )


def _is_uuid(value: str) -> bool:
    # The id becomes a store key segment and a stream name: only the canonical form.
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


# -- the whole target -------------------------------------------------------------


@dataclass(frozen=True)
class DbtTarget:
    """Validated artifacts of one dbt invocation (manifest and run_results), plus extras."""

    location: str
    artifacts: Mapping[str, Artifact]

    @property
    def manifest(self) -> Artifact:
        return self.artifacts["manifest"]

    @property
    def run_results(self) -> Artifact:
        return self.artifacts["run_results"]

    @property
    def catalog(self) -> Artifact | None:
        return self.artifacts.get("catalog")

    @property
    def sources(self) -> Artifact | None:
        return self.artifacts.get("sources")

    @property
    def invocation_id(self) -> str:
        return self.run_results.invocation_id


def _resource_map(manifest: Artifact, key: str) -> Mapping[str, Any]:
    value = manifest.doc.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArtifactError(
            f"{manifest.origin}: {key} is {_show(value)}, not an object of resources",
            fix="regenerate manifest.json with dbt",
        )
    return value


def known_unique_ids(manifest: Artifact) -> set[str]:
    """Every resource id a result may name: nodes, sources, unit tests and the rest."""
    known: set[str] = set()
    for key in (
        "nodes",
        "sources",
        "unit_tests",
        "functions",
        "exposures",
        "metrics",
        "semantic_models",
        "saved_queries",
    ):
        known.update(_resource_map(manifest, key))
    return known


def _results(artifact: Artifact) -> list[Mapping[str, Any]]:
    results = artifact.doc.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ArtifactError(
            f"{artifact.origin}: results is {_show(results)}, not a list of result objects",
            fix=f"regenerate {artifact.filename} with dbt",
        )
    for i, r in enumerate(results):
        if not isinstance(r.get("unique_id"), str):
            raise ArtifactError(
                f"{artifact.origin}: results[{i}].unique_id is {_show(r.get('unique_id'))}, "
                "not a resource id",
                fix=f"regenerate {artifact.filename} with dbt",
            )
    return results


def _check_names(artifact: Artifact, ids: list[str], manifest: Artifact, known: set[str]) -> None:
    unknown = sorted({i for i in ids if i not in known})
    if unknown:
        shown = ", ".join(unknown[:3]) + (
            f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        )
        raise ArtifactError(
            f"{artifact.origin} names {len(unknown)} resource(s) that are not in "
            f"{manifest.origin}: {shown}",
            fix="copy manifest.json and the other artifacts from the same dbt project and run",
        )


def check_consistency(target: DbtTarget) -> None:
    """Steps 6 and 7: one invocation, and no result about an unknown resource."""
    manifest, run_results = target.manifest, target.run_results
    if run_results.invocation_id != manifest.invocation_id:
        raise ArtifactError(
            f"{run_results.origin} is from dbt invocation {run_results.invocation_id} but "
            f"{manifest.origin} is from {manifest.invocation_id}: they describe different runs",
            fix="collect right after the dbt command that ran (dbt build, run or test): "
            "dbt source freshness and dbt docs generate rewrite manifest.json; or copy "
            "manifest.json and run_results.json away together after that command",
        )
    known = known_unique_ids(manifest)
    _check_names(run_results, [r["unique_id"] for r in _results(run_results)], manifest, known)
    if target.sources is not None:
        sources = target.sources
        _check_names(sources, [r["unique_id"] for r in _results(sources)], manifest, known)
    if target.catalog is not None:
        catalog = target.catalog
        ids: list[str] = []
        for key in ("nodes", "sources"):
            part = catalog.doc.get(key, {})
            if not isinstance(part, dict):
                raise ArtifactError(
                    f"{catalog.origin}: {key} is {_show(part)}, not an object",
                    fix="regenerate catalog.json with dbt docs generate",
                )
            ids.extend(part)
        _check_names(catalog, ids, manifest, known)


def read_target(source: TargetSource, *, max_bytes: int = DEFAULT_MAX_BYTES) -> DbtTarget:
    """Read and validate every artifact in ``source``; raises :class:`ArtifactError`."""
    source.check_target()
    sizes = {name: source.size(filename) for name, filename in FILENAMES.items()}
    missing = [FILENAMES[n] for n in REQUIRED if sizes[n] is None]
    if missing:
        present = [FILENAMES[n] for n, s in sizes.items() if s is not None]
        found = f"it has {', '.join(present)}" if present else "it has no dbt artifact"
        raise ArtifactError(
            f"{source.location} is not a dbt target: {' and '.join(missing)} missing ({found})",
            fix="point target_dir at the target/ directory of a dbt project after "
            "dbt build, run or test",
        )
    # Every size is checked before any file is read.
    for name, size in sizes.items():
        if size is not None and size > max_bytes:
            raise _too_large(source.describe(FILENAMES[name]), size, max_bytes)
    artifacts: dict[str, Artifact] = {}
    for name, size in sizes.items():
        if size is None:
            continue
        data = source.read(FILENAMES[name], max_bytes)
        artifacts[name] = parse_artifact(name, data, source.describe(FILENAMES[name]))
    target = DbtTarget(source.location, artifacts)
    check_consistency(target)
    return target
