"""Data-protection checks: tags, masking and row-access policies, and who read PHI.

Tags and policy references come from the latest policy-state snapshot of the
period; policy changes from every snapshot's ``changes.parquet`` and the policy
views' own timestamps; reads from ACCESS_HISTORY.

Reads of PHI: each ACCESS_HISTORY row of the period (``BASE_OBJECTS_ACCESSED``
and ``DIRECT_OBJECTS_ACCESSED``, so a view over a tagged table counts) is matched
to the columns TAG_REFERENCES tags with one of ``phi_tags`` (a tag on a whole
table makes every column read from it PHI). ACCESS_HISTORY has no role, so the
role is QUERY_HISTORY.ROLE_NAME of the same QUERY_ID, when QUERY_HISTORY of the
period holds that query. Rows whose role cannot be found are not guessed: they
are listed in ``details.unresolved`` and, unless another read already fails the
check, make it ``not_evidenced``. Only the primary role is known this way;
secondary roles (``USE SECONDARY ROLES``) are not in QUERY_HISTORY.

| check | SOC 2 | HIPAA |
|---|---|---|
| ``sensitive-columns-without-masking`` | CC6.1, C1.1 (confidential information is protected) | 164.312(a)(1) access control, 164.308(a)(4) information access management |
| ``policy-references-not-active`` | CC6.1, CC7.1 (configuration is monitored) | 164.312(a)(1) |
| ``protection-policies-changed`` | CC8.1 (changes are authorised and reviewed), CC6.1 | 164.312(a)(1), 164.308(a)(1)(ii)(D) activity review |
| ``phi-reads-outside-allowlist`` | CC6.1, CC6.3 (least privilege), CC7.2 | 164.312(b) audit controls, 164.312(a)(1), 164.308(a)(1)(ii)(D) |
"""  # noqa: E501

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from das_evidence.reports.checks._support import (
    HistoryFile,
    Missing,
    SnapshotView,
    coverage_holes,
    describe,
    history_files,
    holes_json,
    json_value,
    jsonable,
    rows_in_period,
    snapshot_view,
    ts,
    upper_set,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef

MASKING = "MASKING_POLICY"
ROW_ACCESS = "ROW_ACCESS_POLICY"
POLICY_VIEW_KIND = {"MASKING_POLICIES": MASKING, "ROW_ACCESS_POLICIES": ROW_ACCESS}
MAX_LISTED = 20  # query ids listed per finding; counts are always complete

ColumnKey = tuple[str, str, str, str]  # database, schema, object, column


def _qualified(*parts: Any) -> str:
    return ".".join(str(p) for p in parts if p is not None)


def _policy(row: Mapping[str, Any]) -> str:
    """The policy a POLICY_REFERENCES row names."""
    return _qualified(row.get("POLICY_DB"), row.get("POLICY_SCHEMA"), row.get("POLICY_NAME"))


def _referenced(row: Mapping[str, Any], *, column: bool = False) -> str:
    """The object (and with ``column``, the column) a POLICY_REFERENCES row protects."""
    parts = [row.get("REF_DATABASE_NAME"), row.get("REF_SCHEMA_NAME"), row.get("REF_ENTITY_NAME")]
    return _qualified(*parts, row.get("REF_COLUMN_NAME") if column else None)


def _defined(row: Mapping[str, Any]) -> str:
    """The policy a MASKING_POLICIES / ROW_ACCESS_POLICIES row defines."""
    return _qualified(row.get("POLICY_CATALOG"), row.get("POLICY_SCHEMA"), row.get("POLICY_NAME"))


@dataclass(frozen=True)
class _Tagged:
    """Columns and whole objects that carry one of a set of tags."""

    columns: dict[ColumnKey, dict[str, str | None]]  # -> {tag name: tag value}
    objects: dict[str, dict[str, str | None]]  # qualified object -> {tag name: tag value}


def _tagged(tags: SnapshotView, names: Iterable[str]) -> _Tagged:
    wanted = upper_set(names)
    columns: dict[ColumnKey, dict[str, str | None]] = {}
    objects: dict[str, dict[str, str | None]] = {}
    for r in tags.rows():
        tag = str(r.get("TAG_NAME") or "")
        if tag.upper() not in wanted:
            continue
        db, schema, name = r.get("OBJECT_DATABASE"), r.get("OBJECT_SCHEMA"), r.get("OBJECT_NAME")
        if str(r.get("DOMAIN") or "").upper() == "COLUMN" and r.get("COLUMN_NAME"):
            key = (str(db), str(schema), str(name), str(r["COLUMN_NAME"]))
            columns.setdefault(key, {})[tag] = r.get("TAG_VALUE")
        elif str(r.get("DOMAIN") or "").upper() in {"TABLE", "VIEW", "MATERIALIZED VIEW"}:
            objects.setdefault(_qualified(db, schema, name), {})[tag] = r.get("TAG_VALUE")
    return _Tagged(columns, objects)


class SensitiveColumnsWithoutMasking(Check):
    """Columns tagged with one of ``sensitive_tags`` must have an ACTIVE masking policy.

    Needs TAG_REFERENCES and POLICY_REFERENCES of the latest snapshot; a tag-based
    masking policy shows there per column too, so both kinds count. A masking
    reference whose POLICY_STATUS is not ACTIVE does not mask. Tags on whole
    tables are listed in ``details`` (their columns are not in the evidence).
    """

    check_id = "sensitive-columns-without-masking"
    title = "PII/PHI-tagged columns without a masking policy"
    control = Control(soc2=("CC6.1", "C1.1"), hipaa=("164.312(a)(1)", "164.308(a)(4)"))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        tags = snapshot_view(evidence, "TAG_REFERENCES")
        if isinstance(tags, Missing):
            return self.not_evidenced(tags.reason, evidence=tags.evidence)
        refs_view = snapshot_view(evidence, "POLICY_REFERENCES", tags.entry)
        if isinstance(refs_view, Missing):
            return self.not_evidenced(refs_view.reason, evidence=[tags.ref])
        refs = [tags.ref, refs_view.ref]
        tagged = _tagged(tags, ctx.settings.sensitive_tags)
        if not tagged.columns:
            return self.not_evidenced(
                f"no column is tagged {', '.join(ctx.settings.sensitive_tags)} in "
                f"{describe(tags.entry)}, so nothing identifies the columns to protect",
                evidence=refs,
                details={"tagged_objects": sorted(tagged.objects)},
            )
        policies: dict[ColumnKey, list[dict[str, Any]]] = {}
        for r in refs_view.rows():
            if str(r.get("POLICY_KIND") or "").upper() != MASKING or not r.get("REF_COLUMN_NAME"):
                continue
            key = (
                str(r.get("REF_DATABASE_NAME")),
                str(r.get("REF_SCHEMA_NAME")),
                str(r.get("REF_ENTITY_NAME")),
                str(r.get("REF_COLUMN_NAME")),
            )
            policies.setdefault(key, []).append(
                {
                    "policy": _policy(r),
                    "status": r.get("POLICY_STATUS"),
                    "via_tag": _qualified(
                        r.get("TAG_DATABASE"), r.get("TAG_SCHEMA"), r.get("TAG_NAME")
                    )
                    or None,
                }
            )
        findings = []
        for key in sorted(tagged.columns):
            on_column = policies.get(key, [])
            if any(str(p["status"]).upper() == "ACTIVE" for p in on_column):
                continue
            findings.append(
                {
                    "object": _qualified(*key[:3]),
                    "column": key[3],
                    "tags": dict(sorted(tagged.columns[key].items())),
                    "masking_policies_not_active": on_column,
                    "as_of": tags.entry.predicate.get("as_of"),
                }
            )
        details = {
            "as_of": tags.entry.predicate.get("as_of"),
            "tagged_columns": len(tagged.columns),
            "tagged_objects": sorted(tagged.objects),
        }
        if findings:
            names = ", ".join(f"{f['object']}.{f['column']}" for f in findings)
            return self.result(
                "fail",
                f"{len(findings)} of {len(tagged.columns)} tagged columns have no active "
                f"masking policy: {names}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(tagged.columns)} tagged columns have an active masking policy",
            evidence=refs,
            details=details,
        )


class PolicyReferencesNotActive(Check):
    """Every policy reference (masking, row access, network ...) must be ACTIVE.

    Fails for each POLICY_REFERENCES row of the latest snapshot whose POLICY_STATUS
    is anything else (e.g. MULTIPLE_MASKING_POLICY_ASSIGNED_TO_THE_COLUMN), or empty.
    """

    check_id = "policy-references-not-active"
    title = "Policy references not ACTIVE"
    control = Control(soc2=("CC6.1", "CC7.1"), hipaa=("164.312(a)(1)",))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        view = snapshot_view(evidence, "POLICY_REFERENCES")
        if isinstance(view, Missing):
            return self.not_evidenced(view.reason, evidence=view.evidence)
        rows = view.rows()
        findings = [
            {
                "policy": _policy(r),
                "policy_kind": r.get("POLICY_KIND"),
                "object": _referenced(r),
                "object_domain": r.get("REF_ENTITY_DOMAIN"),
                "column": r.get("REF_COLUMN_NAME"),
                "status": r.get("POLICY_STATUS"),
                "as_of": view.entry.predicate.get("as_of"),
            }
            for r in rows
            if str(r.get("POLICY_STATUS") or "").upper() != "ACTIVE"
        ]
        details = {"as_of": view.entry.predicate.get("as_of"), "references": len(rows)}
        if findings:
            return self.result(
                "fail",
                f"{len(findings)} of {len(rows)} policy references are not ACTIVE",
                findings=findings,
                evidence=[view.ref],
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(rows)} policy references are ACTIVE",
            evidence=[view.ref],
            details=details,
        )


@dataclass
class _PolicyChange:
    view: str
    policy_id: Any
    policy: str
    kind: str
    change: str  # changed | dropped | unset
    at: str | None = None
    changed_columns: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    seen_in: list[dict[str, Any]] = field(default_factory=list)
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "policy": self.policy,
            "policy_id": self.policy_id,
            "kind": self.kind,
            "change": self.change,
            "at": self.at,
            "changed_columns": self.changed_columns,
            "before": self.before,
            "after": self.after,
            "seen_in": self.seen_in,
        }
        if self.reference is not None:
            out["reference"] = self.reference
        return out


def _in_period(value: Any, evidence: EvidenceSet) -> bool:
    return isinstance(value, datetime) and evidence.start <= value < evidence.end


class ProtectionPoliciesChanged(Check):
    """Masking and row-access policies altered, dropped or unset from an object in the period.

    Two sources, merged per policy: the ``changes.parquet`` of each snapshot in the
    period (a changed or removed MASKING_POLICIES / ROW_ACCESS_POLICIES row; a
    removed or changed POLICY_REFERENCES row of those kinds, i.e. a policy unset or
    re-pointed) and, in the latest snapshot, LAST_ALTERED or DELETED inside the
    period. New policies and new references are listed in ``details.added``.

    A pass needs both policy views in the latest snapshot and every snapshot of the
    period compared with a previous one (POLICY_REFERENCES included): an unset
    before the first snapshot ever taken leaves no trace.
    """

    check_id = "protection-policies-changed"
    title = "Masking or row-access policies changed or dropped in the period"
    control = Control(soc2=("CC8.1", "CC6.1"), hipaa=("164.312(a)(1)", "164.308(a)(1)(ii)(D)"))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        snapshots = evidence.policy_snapshots()
        if not snapshots:
            return self.not_evidenced("no policy-state snapshot in the period")
        found: dict[tuple[str, Any, str | None], _PolicyChange] = {}
        added: list[dict[str, Any]] = []
        gaps: list[str] = []
        refs: list[EvidenceRef] = []
        for snap in snapshots:
            changes = snap.predicate.get("changes") or {}
            if changes.get("baseline", True):
                gaps.append(f"{describe(snap)} is the stream's first snapshot")
                continue
            if "POLICY_REFERENCES" not in (changes.get("compared_views") or []):
                gaps.append(f"{describe(snap)} did not compare POLICY_REFERENCES")
            f = snap.file("changes.parquet")
            if f is None:
                gaps.append(f"{describe(snap)} has no changes.parquet")
                continue
            refs.append(snap.ref(str(f["path"])))
            table = evidence.table(str(f["path"]))
            self._from_changes(snap, table.to_pylist(), found, added)

        latest = snapshots[-1]
        for view, kind in POLICY_VIEW_KIND.items():
            got = snapshot_view(evidence, view, latest)
            if isinstance(got, Missing):
                gaps.append(got.reason)
                continue
            refs.append(got.ref)
            self._from_timestamps(got, kind, evidence, found, added)

        findings = [c.to_json() for _, c in sorted(found.items(), key=lambda kv: str(kv[0]))]
        details = {"added": added, "not_evidenced": gaps, "snapshots": len(snapshots)}
        if findings:
            names = ", ".join(sorted({f"{f['policy']} ({f['change']})" for f in findings}))
            return self.result(
                "fail",
                f"{len(findings)} masking/row-access policy change(s) in the period: {names}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if gaps:
            return self.not_evidenced(
                "no policy change found, but the evidence cannot show all of them: "
                + "; ".join(gaps),
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            "no masking or row-access policy was altered, dropped or unset in the period",
            evidence=refs,
            details=details,
        )

    @staticmethod
    def _from_changes(
        snap: EvidenceEntry,
        rows: list[dict[str, Any]],
        found: dict[tuple[str, Any, str | None], _PolicyChange],
        added: list[dict[str, Any]],
    ) -> None:
        seen = {
            "entry": snap.index,
            "as_of": snap.predicate.get("as_of"),
            "since": (snap.predicate.get("changes") or {}).get("since"),
        }
        for c in rows:
            view = str(c.get("VIEW"))
            before = json_value(c.get("BEFORE")) or {}
            after = json_value(c.get("AFTER")) or {}
            row = after or before
            columns = [str(x) for x in json_value(c.get("CHANGED_COLUMNS")) or []]
            change = str(c.get("CHANGE"))
            if view in POLICY_VIEW_KIND:
                name = _defined(row)
                if change == "added":
                    added.append({"policy": name, "kind": POLICY_VIEW_KIND[view], **seen})
                    continue
                key: tuple[str, Any, str | None] = (view, row.get("POLICY_ID"), None)
                kind = POLICY_VIEW_KIND[view]
                what = "dropped" if change == "removed" else "changed"
                item = found.setdefault(
                    key, _PolicyChange(view, row.get("POLICY_ID"), name, kind, what)
                )
                if change == "removed":
                    item.at = jsonable(after.get("DELETED") or before.get("DELETED"))
                else:
                    item.at = jsonable(after.get("LAST_ALTERED"))
                item.changed_columns = sorted(set(item.changed_columns) | set(columns))
                item.before.update({k: jsonable(before.get(k)) for k in columns})
                item.after.update({k: jsonable(after.get(k)) for k in columns})
                item.seen_in.append(seen)
            elif view == "POLICY_REFERENCES":
                kind = str(row.get("POLICY_KIND") or "").upper()
                if kind not in (MASKING, ROW_ACCESS):
                    continue
                name = _policy(row)
                target = _referenced(row, column=True)
                if change == "added":
                    added.append({"policy": name, "kind": kind, "reference": target, **seen})
                    continue
                key = (view, row.get("POLICY_ID"), target)
                what = "unset" if change == "removed" else "reference changed"
                item = found.setdefault(
                    key,
                    _PolicyChange(view, row.get("POLICY_ID"), name, kind, what, reference=target),
                )
                item.changed_columns = sorted(set(item.changed_columns) | set(columns))
                item.before.update({k: jsonable(before.get(k)) for k in columns})
                item.after.update({k: jsonable(after.get(k)) for k in columns})
                item.seen_in.append(seen)

    @staticmethod
    def _from_timestamps(
        view: SnapshotView,
        kind: str,
        evidence: EvidenceSet,
        found: dict[tuple[str, Any, str | None], _PolicyChange],
        added: list[dict[str, Any]],
    ) -> None:
        seen = {"entry": view.entry.index, "as_of": view.entry.predicate.get("as_of")}
        for r in view.rows(current=False):
            name = _defined(r)
            created, altered, deleted = r.get("CREATED"), r.get("LAST_ALTERED"), r.get("DELETED")
            if _in_period(created, evidence):
                added.append({"policy": name, "kind": kind, "created": jsonable(created), **seen})
            if _in_period(deleted, evidence):
                change, at = "dropped", deleted
            elif _in_period(altered, evidence) and altered != created:
                change, at = "changed", altered
            else:
                continue
            key = (view.view, r.get("POLICY_ID"), None)
            item = found.setdefault(
                key, _PolicyChange(view.view, r.get("POLICY_ID"), name, kind, change)
            )
            item.at = item.at or jsonable(at)
            if change == "dropped":
                item.change = "dropped"
            item.seen_in.append({**seen, "column": "DELETED" if deleted else "LAST_ALTERED"})


@dataclass
class _Read:
    role: str | None
    user: str | None
    obj: str
    columns: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    queries: int = 0
    first: datetime | None = None
    last: datetime | None = None
    query_ids: list[str] = field(default_factory=list)
    sources: set[tuple[int, str]] = field(default_factory=set)

    def add(self, query_id: str, at: datetime, cols: set[str], masked: set[str]) -> None:
        self.columns |= cols
        self.masked |= masked
        self.queries += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)
        if len(self.query_ids) < MAX_LISTED:
            self.query_ids.append(query_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "user": self.user,
            "object": self.obj,
            "columns": sorted(self.columns),
            "masked_columns": sorted(self.masked),
            "queries": self.queries,
            "first": ts(self.first) if self.first else None,
            "last": ts(self.last) if self.last else None,
            "query_ids": self.query_ids,
            "evidence": [{"entry": i, "path": p} for i, p in sorted(self.sources)],
        }


def _objects(text: Any) -> list[Mapping[str, Any]]:
    value = json_value(text)
    return [o for o in value if isinstance(o, Mapping)] if isinstance(value, list) else []


def _masked_columns(text: Any) -> set[tuple[str, str]]:
    out = set()
    for obj in _objects(text):
        for col in obj.get("columns") or []:
            kinds = {str(p.get("policyKind", "")).upper() for p in col.get("policies") or []}
            if MASKING in kinds:
                out.add((str(obj.get("objectName")), str(col.get("columnName"))))
    return out


class PhiReadsOutsideAllowlist(Check):
    """Reads of PHI-tagged columns by a role not in ``phi_reader_roles``.

    Needs TAG_REFERENCES (latest snapshot) and ACCESS_HISTORY of the period; roles
    come from QUERY_HISTORY by QUERY_ID (see the module docstring). One finding
    per (role, user, object), with the PHI columns read, which of them a masking
    policy applied to, the number of queries and the first query ids.
    """

    check_id = "phi-reads-outside-allowlist"
    title = "Reads of PHI-tagged columns by roles outside the allowlist"
    control = Control(
        soc2=("CC6.1", "CC6.3", "CC7.2"),
        hipaa=("164.312(b)", "164.312(a)(1)", "164.308(a)(1)(ii)(D)"),
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        tags = snapshot_view(evidence, "TAG_REFERENCES")
        if isinstance(tags, Missing):
            return self.not_evidenced(tags.reason, evidence=tags.evidence)
        phi = _tagged(tags, ctx.settings.phi_tags)
        if not phi.columns and not phi.objects:
            return self.not_evidenced(
                f"nothing is tagged {', '.join(ctx.settings.phi_tags)} in {describe(tags.entry)}, "
                "so no read can be recognised as a PHI read",
                evidence=[tags.ref],
            )
        access = history_files(evidence, "access_history")
        if not access:
            return self.not_evidenced("no ACCESS_HISTORY window in the period", evidence=[tags.ref])
        phi_columns: dict[str, set[str]] = {}
        for db, schema, name, column in phi.columns:
            phi_columns.setdefault(_qualified(db, schema, name), set()).add(column)
        names = sorted(set(phi_columns) | set(phi.objects))

        reads = self._phi_reads(evidence, access, names, phi_columns, set(phi.objects))
        queries = history_files(evidence, "query_history")
        roles = _roles(queries, {r[0] for r in reads})
        allowed = upper_set(ctx.settings.phi_reader_roles)

        flagged: dict[tuple[str, str | None, str], _Read] = {}
        unresolved: dict[tuple[str | None, str], _Read] = {}
        allowed_reads = 0
        for query_id, user, at, obj, cols, masked, source in reads:
            role = roles.get(query_id)
            if role is None:
                item = unresolved.setdefault((user, obj), _Read(None, user, obj))
            elif role.upper() in allowed:
                allowed_reads += 1
                continue
            else:
                item = flagged.setdefault((role, user, obj), _Read(role, user, obj))
            item.add(query_id, at, cols, masked)
            item.sources.add(source)
            if role is not None:
                item.sources |= roles.sources(query_id)

        refs = [tags.ref, *(f.ref for f in access), *(f.ref for f in queries)]
        holes = coverage_holes(
            evidence, "access_history", ctx.horizon(evidence), ctx.settings.stale_after
        )
        details: dict[str, Any] = {
            "as_of": tags.entry.predicate.get("as_of"),
            "phi_reads": len(reads),
            "allowed_reads": allowed_reads,
            "allowed_roles": sorted(allowed),
            "unresolved_reads": sum(u.queries for u in unresolved.values()),
            "unresolved": [
                u.to_json() for _, u in sorted(unresolved.items(), key=lambda kv: str(kv[0]))
            ],
            "coverage_holes": {s: holes_json(h) for s, h in holes.items()},
        }
        findings = [r.to_json() for _, r in sorted(flagged.items(), key=lambda kv: str(kv[0]))]
        if findings:
            who = sorted({f"{f['role']}/{f['user']}" for f in findings})
            return self.result(
                "fail",
                f"PHI-tagged columns were read by {len(who)} role/user pair(s) outside "
                f"{', '.join(sorted(allowed)) or 'the (empty) allowlist'}: {', '.join(who)}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if unresolved:
            return self.not_evidenced(
                f"{details['unresolved_reads']} PHI read(s) have no QUERY_HISTORY row in the "
                "period, so their role is unknown",
                evidence=refs,
                details=details,
            )
        if holes:
            return self.not_evidenced(
                "no PHI read outside the allowlist in the evidenced windows, but "
                "ACCESS_HISTORY does not cover the whole period: " + ", ".join(sorted(holes)),
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(reads)} PHI reads in the period were by allowlisted roles",
            evidence=refs,
            details=details,
        )

    @staticmethod
    def _phi_reads(
        evidence: EvidenceSet,
        files: list[HistoryFile],
        names: list[str],
        phi_columns: dict[str, set[str]],
        phi_objects: set[str],
    ) -> list[tuple[str, str | None, datetime, str, set[str], set[str], tuple[int, str]]]:
        """``(query id, user, time, object, PHI columns, of which masked, source)`` per read."""
        out = []
        cols = (
            "QUERY_ID",
            "QUERY_START_TIME",
            "USER_NAME",
            "BASE_OBJECTS_ACCESSED",
            "DIRECT_OBJECTS_ACCESSED",
            "POLICIES_REFERENCED",
        )
        for f in files:
            table = rows_in_period(f.table, "QUERY_START_TIME", evidence.start, evidence.end, cols)
            table = table.filter(_mentions(table, names))  # cheap text filter before parsing JSON
            for r in table.to_pylist():
                read: dict[str, set[str]] = {}
                objects = _objects(r["BASE_OBJECTS_ACCESSED"]) + _objects(
                    r["DIRECT_OBJECTS_ACCESSED"]
                )
                for obj in objects:
                    name = str(obj.get("objectName"))
                    columns = {
                        str(c.get("columnName"))
                        for c in obj.get("columns") or []
                        if isinstance(c, Mapping)
                    }
                    if name in phi_objects:
                        hit = columns or {"*"}
                    else:
                        hit = columns & phi_columns.get(name, set())
                    if hit:
                        read.setdefault(name, set()).update(hit)
                masked = _masked_columns(r["POLICIES_REFERENCED"])
                for name, hit in read.items():
                    out.append(
                        (
                            str(r["QUERY_ID"]),
                            r["USER_NAME"],
                            r["QUERY_START_TIME"],
                            name,
                            hit,
                            {c for c in hit if (name, c) in masked},
                            (f.entry.index, f.path),
                        )
                    )
        return out


def _mentions(table: pa.Table, names: list[str]) -> pa.ChunkedArray:
    mask = pa.chunked_array([pa.array([False] * table.num_rows, pa.bool_())])
    for column in ("BASE_OBJECTS_ACCESSED", "DIRECT_OBJECTS_ACCESSED"):
        values = table.column(column)
        for name in names:
            # The quoted name, as it appears in the JSON, so PATIENTS does not match PATIENTS_X.
            hit = pc.match_substring(values, json.dumps(name, ensure_ascii=False))
            mask = pc.or_kleene(mask, pc.fill_null(hit, False))
    return mask


class _Roles:
    """QUERY_ID -> ROLE_NAME from QUERY_HISTORY, and which file said so."""

    def __init__(self) -> None:
        self._role: dict[str, str] = {}
        self._source: dict[str, tuple[int, str]] = {}

    def put(self, query_id: str, role: str, source: tuple[int, str]) -> None:
        self._role[query_id] = role
        self._source[query_id] = source

    def get(self, query_id: str) -> str | None:
        return self._role.get(query_id)

    def sources(self, query_id: str) -> set[tuple[int, str]]:
        return {self._source[query_id]} if query_id in self._source else set()


def _roles(files: list[HistoryFile], query_ids: set[str]) -> _Roles:
    roles = _Roles()
    if not query_ids:
        return roles
    wanted = pa.array(sorted(query_ids), pa.string())
    for f in files:
        table = f.table.select(["QUERY_ID", "ROLE_NAME"])
        table = table.filter(pc.is_in(table.column("QUERY_ID"), value_set=wanted))
        for r in table.to_pylist():
            if r["ROLE_NAME"]:
                roles.put(str(r["QUERY_ID"]), str(r["ROLE_NAME"]), (f.entry.index, f.path))
    return roles
