"""Data-protection checks: tags, masking and row-access policies, and who read PHI.

Tags and policy references come from the latest policy-state snapshot of the
period (for PHI reads, the newest one that evidences TAG_REFERENCES); policy changes from every snapshot's ``changes.parquet`` and the policy
views' own timestamps; reads from ACCESS_HISTORY.

Reads of PHI are defined once, in :mod:`.phi` (the report's chart counts the
same reads): a column tagged with one of ``phi_tags``, or any column of a
table or view so tagged, read according to ACCESS_HISTORY
``BASE_OBJECTS_ACCESSED`` in the period; the role is QUERY_HISTORY.ROLE_NAME of
the same QUERY_ID. Reads whose role cannot be found are not guessed: they are
listed in ``details.unresolved`` (role "unknown role") and, unless another read
already fails the check, make it ``not_evidenced``.

| check | SOC 2 | HIPAA |
|---|---|---|
| ``sensitive-columns-without-masking`` | CC6.1, C1.1 (confidential information is protected) | 164.312(a)(1) access control, 164.308(a)(4) information access management |
| ``policy-references-not-active`` | CC6.1, CC7.1 (configuration is monitored) | 164.312(a)(1) |
| ``protection-policies-changed`` | CC8.1 (changes are authorised and reviewed), CC6.1 | 164.312(a)(1), 164.308(a)(1)(ii)(D) activity review |
| ``phi-reads-outside-allowlist`` | CC6.1, CC6.3 (least privilege), CC7.2 | 164.312(b) audit controls, 164.312(a)(1), 164.308(a)(1)(ii)(D) |
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from das_evidence.reports.checks._support import (
    Missing,
    SnapshotView,
    coverage_holes,
    describe,
    holes_json,
    json_value,
    jsonable,
    snapshot_view,
    ts,
    upper_set,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.checks.phi import (
    UNKNOWN_ROLE,
    ColumnKey,
    PhiReads,
    phi_reads,
    qualified,
    tagged,
)
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef

MASKING = "MASKING_POLICY"
ROW_ACCESS = "ROW_ACCESS_POLICY"
POLICY_VIEW_KIND = {"MASKING_POLICIES": MASKING, "ROW_ACCESS_POLICIES": ROW_ACCESS}
MAX_LISTED = 20  # query ids listed per finding; counts are always complete


def _policy(row: Mapping[str, Any]) -> str:
    """The policy a POLICY_REFERENCES row names."""
    return qualified(row.get("POLICY_DB"), row.get("POLICY_SCHEMA"), row.get("POLICY_NAME"))


def _referenced(row: Mapping[str, Any], *, column: bool = False) -> str:
    """The object (and with ``column``, the column) a POLICY_REFERENCES row protects."""
    parts = [row.get("REF_DATABASE_NAME"), row.get("REF_SCHEMA_NAME"), row.get("REF_ENTITY_NAME")]
    return qualified(*parts, row.get("REF_COLUMN_NAME") if column else None)


def _defined(row: Mapping[str, Any]) -> str:
    """The policy a MASKING_POLICIES / ROW_ACCESS_POLICIES row defines."""
    return qualified(row.get("POLICY_CATALOG"), row.get("POLICY_SCHEMA"), row.get("POLICY_NAME"))


class SensitiveColumnsWithoutMasking(Check):
    """Columns tagged with one of ``sensitive_tags`` must have an ACTIVE masking policy.

    Needs TAG_REFERENCES and POLICY_REFERENCES of the latest snapshot; a tag-based
    masking policy shows there per column too, so both kinds count. A masking
    reference whose POLICY_STATUS is not ACTIVE does not mask. Tags on whole
    tables are listed in ``details`` (their columns are not in the evidence).
    """

    check_id = "sensitive-columns-without-masking"
    reads = ("policy_state: tag_references.parquet, policy_references.parquet (ACCOUNT_USAGE)",)
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
        sensitive = tagged(tags, ctx.settings.sensitive_tags)
        if not sensitive.columns:
            return self.not_evidenced(
                f"no column is tagged {', '.join(ctx.settings.sensitive_tags)} in "
                f"{describe(tags.entry)}, so nothing identifies the columns to protect",
                evidence=refs,
                details={"tagged_objects": sorted(sensitive.objects)},
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
                    "via_tag": qualified(
                        r.get("TAG_DATABASE"), r.get("TAG_SCHEMA"), r.get("TAG_NAME")
                    )
                    or None,
                }
            )
        findings = []
        for key in sorted(sensitive.columns):
            on_column = policies.get(key, [])
            if any(str(p["status"]).upper() == "ACTIVE" for p in on_column):
                continue
            findings.append(
                {
                    "object": qualified(*key[:3]),
                    "column": key[3],
                    "tags": dict(sorted(sensitive.columns[key].items())),
                    "masking_policies_not_active": on_column,
                    "as_of": tags.entry.predicate.get("as_of"),
                }
            )
        details = {
            "as_of": tags.entry.predicate.get("as_of"),
            "tagged_columns": len(sensitive.columns),
            "tagged_objects": sorted(sensitive.objects),
        }
        if findings:
            names = ", ".join(f"{f['object']}.{f['column']}" for f in findings)
            return self.result(
                "fail",
                f"{len(findings)} of {len(sensitive.columns)} tagged columns have no active "
                f"masking policy: {names}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(sensitive.columns)} tagged columns have an active masking policy",
            evidence=refs,
            details=details,
        )


class PolicyReferencesNotActive(Check):
    """Every policy reference (masking, row access, network ...) must be ACTIVE.

    Fails for each POLICY_REFERENCES row of the latest snapshot whose POLICY_STATUS
    is anything else (e.g. MULTIPLE_MASKING_POLICY_ASSIGNED_TO_THE_COLUMN), or empty.
    """

    check_id = "policy-references-not-active"
    reads = ("policy_state: policy_references.parquet (ACCOUNT_USAGE.POLICY_REFERENCES)",)
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
    reads = (
        "policy_state: changes.parquet of every snapshot in the period",
        "policy_state: masking_policies.parquet, row_access_policies.parquet (ACCOUNT_USAGE)",
    )
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


def _findings(
    found: PhiReads, reads: pl.DataFrame, keys: Sequence[str], role: str | None
) -> list[dict[str, Any]]:
    """One finding per group of ``reads`` (rows of ``found.table``) by ``keys``: the PHI
    columns read, those a masking policy applied to, the queries (counted, the first
    and last start, the first :data:`MAX_LISTED` ids by start) and the evidence files;
    sorted by the group's key. ``role`` names the groups' role when ``keys`` do not."""
    if reads.height == 0:
        return []
    reads = reads.with_columns(_user=pl.col("user").cast(pl.String).fill_null("None"))
    # each query once per group, at its first read's start (in ACCESS_HISTORY order)
    queries = (
        reads.group_by([*keys, "query_id"], maintain_order=True)
        .agg(pl.col("at").first())
        .sort([*keys, "at", "query_id"])
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().alias("_queries"),
            pl.col("at").first().alias("_first"),
            pl.col("at").last().alias("_last"),
            pl.col("query_id").head(MAX_LISTED).alias("_ids"),
        )
    )
    groups = (
        reads.group_by(keys, maintain_order=True)
        .agg(
            pl.col("user").first().alias("_first_user"),
            pl.col("column").unique().alias("_columns"),
            pl.col("column").filter(pl.col("masked")).unique().alias("_masked"),
            pl.col("source").unique().alias("_sources"),
            pl.col("role_source").drop_nulls().unique().alias("_role_sources"),
        )
        .join(queries, on=keys, how="inner")
    )
    access = [f.ref for f in found.access]
    history = [f.ref for f in found.queries]
    out = []
    for g in groups.iter_rows(named=True):
        refs = {access[i] for i in g["_sources"]} | {history[i] for i in g["_role_sources"]}
        key = tuple(g[k] for k in keys)
        out.append(
            (
                key,
                {
                    "role": role if role is not None else g["role"],
                    "user": g["_first_user"],
                    "object": g["object"],
                    "columns": sorted(set(g["_columns"])),
                    "masked_columns": sorted(set(g["_masked"])),
                    "queries": g["_queries"],
                    "first": ts(g["_first"]),
                    "last": ts(g["_last"]),
                    "query_ids": list(g["_ids"]),
                    "evidence": [
                        {"entry": r.entry, "path": r.path}
                        for r in sorted(refs, key=lambda r: (r.entry, r.path))
                    ],
                },
            )
        )
    return [finding for _, finding in sorted(out, key=lambda kv: kv[0])]


class PhiReadsOutsideAllowlist(Check):
    """Reads of PHI by a role not in ``phi_reader_roles``.

    A PHI read is as :mod:`.phi` defines it (the report's chart counts the same
    reads). Needs a snapshot evidencing TAG_REFERENCES and ACCESS_HISTORY of the
    period. One finding per (role, user, object), with the PHI columns read,
    which of them a masking policy applied to, the number of queries and the
    first query ids.
    """

    check_id = "phi-reads-outside-allowlist"
    reads = (
        "policy_state: tag_references.parquet (ACCOUNT_USAGE.TAG_REFERENCES)",
        "streams access_history, query_history (ACCOUNT_USAGE)",
    )
    title = "Reads of PHI-tagged columns by roles outside the allowlist"
    control = Control(
        soc2=("CC6.1", "CC6.3", "CC7.2"),
        hipaa=("164.312(b)", "164.312(a)(1)", "164.308(a)(1)(ii)(D)"),
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        settings = ctx.settings
        found = phi_reads(evidence, settings.phi_tags)
        if isinstance(found, Missing):
            return self.not_evidenced(found.reason, evidence=found.evidence)
        tags = found.tag_view
        if not found.tagged:
            return self.not_evidenced(
                f"nothing is tagged {', '.join(settings.phi_tags)} in {describe(tags.entry)}, "
                "so no read can be recognised as a PHI read",
                evidence=[tags.ref],
            )
        if not found.access:
            return self.not_evidenced("no ACCESS_HISTORY window in the period", evidence=[tags.ref])
        allowed = upper_set(settings.phi_reader_roles)
        reads = found.table
        roles = reads["role"].drop_nulls().unique().to_list()
        allowed_roles = [r for r in roles if r.upper() in allowed]
        unresolved = reads.filter(pl.col("role").is_null())
        flagged = reads.filter(pl.col("role").is_not_null() & ~pl.col("role").is_in(allowed_roles))
        allowed_queries = reads.filter(pl.col("role").is_in(allowed_roles))["query_id"].n_unique()

        refs = [tags.ref, *(f.ref for f in found.access), *(f.ref for f in found.queries)]
        holes = coverage_holes(
            evidence, "access_history", ctx.horizon(evidence), settings.stale_after
        )
        details: dict[str, Any] = {
            "as_of": tags.entry.predicate.get("as_of"),
            "tags_entry": tags.entry.index,
            "phi_reads": found.n_queries(),
            "phi_column_reads": len(found),
            "allowed_reads": allowed_queries,
            "allowed_roles": sorted(allowed),
            "unresolved_reads": unresolved["query_id"].n_unique(),
            "unresolved": _findings(found, unresolved, ["_user", "object"], UNKNOWN_ROLE),
            "coverage_holes": {s: holes_json(h) for s, h in holes.items()},
        }
        findings = _findings(found, flagged, ["role", "_user", "object"], None)
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
        if unresolved.height:
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
            f"all {details['phi_reads']} queries that read PHI in the period ran under "
            "allowlisted roles",
            evidence=refs,
            details=details,
        )
