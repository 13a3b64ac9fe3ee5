"""OSCAL 1.1 assessment results: the check results of a period, for GRC tools.

This module owns the OSCAL export. It builds an ``assessment-results`` document
with compliance-trestle's models (so the shape is the one NIST's schema
defines), serializes it, and parses it back with the same models before
returning it: a document this module hands out has already validated.

What an auditor finds in the document:

- one ``observation`` per check: ``collected`` is the newest ``collected_at``
  of the log entries the check read, ``expires`` is that plus ``expires_after``,
  and ``relevant-evidence`` points (``#uuid``) at back-matter resources;
- one ``finding`` per check that did not pass (``fail``, and ``not_evidenced``,
  which is never a silent pass), targeting the check as an objective, with the
  SOC 2 and HIPAA ids it maps to as props;
- on both, for a check of the CIS Snowflake Foundations Benchmark, a
  ``cis-recommendation`` prop (value the recommendation id, e.g. ``1.12``,
  ``class`` the benchmark, :data:`CIS_CLASS`);
- when any check of the benchmark ran, one ``finding`` per *manual* CIS
  recommendation, targeting ``cis-<id>``:
  the checks do not decide it, so it is ``not-satisfied`` with reason
  ``other``, an ``assessment`` prop of ``manual`` and the catalogue's reason
  as remarks (an auditor decides it; never a silent pass);
- one back-matter ``resource`` per evidence file any check cites, whose
  ``rlinks`` carry the file's store key and its signed SHA-256.

No IO and no clock: the same inputs give byte-identical output (UUIDs are
version 5 from a fixed namespace and stable names; :func:`to_bytes` sorts keys).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import trestle.oscal.assessment_results as ar
import trestle.oscal.common as oc
from pydantic.v1 import BaseModel as V1BaseModel
from pydantic.v1 import ValidationError
from trestle.common.err import TrestleError
from trestle.oscal import OSCAL_VERSION, OSCAL_VERSION_REGEX

from das_evidence.errors import FormatError
from das_evidence.reports.checks.cis import RECOMMENDATIONS, manual
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, EvidenceRef
from das_evidence.timefmt import parse_rfc3339

__all__ = [
    "CIS_CLASS",
    "DEFAULT_EXPIRES_AFTER",
    "DEFAULT_NAMESPACE",
    "OSCAL_VERSION",
    "PROP_NS",
    "assessment_results",
    "from_bytes",
    "to_bytes",
    "validate",
]

#: Namespace of the document's version 5 UUIDs. Pass another one (for example
#: one per log origin) to keep two organisations' UUIDs apart.
DEFAULT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://das-evidence.dev/oscal/v1")
#: Namespace of the props this module defines (OSCAL reserves the default one).
PROP_NS = "https://das-evidence.dev/ns/oscal"
DEFAULT_EXPIRES_AFTER = timedelta(days=30)
#: The ``class`` of a ``cis-recommendation`` prop: which benchmark the id is of.
CIS_CLASS = "cis-snowflake-foundations-v1.0.0"
TOOL_NAME = "das-evidence"

_ROLE = "prepared-by"
_M = TypeVar("_M", bound=V1BaseModel)
_REASON = {"fail": oc.Reason.fail, "not_evidenced": oc.Reason.other}


def assessment_results(
    results: Sequence[CheckResult],
    evidence: EvidenceSet,
    *,
    title: str,
    generated_at: datetime,
    period_start: datetime,
    period_end: datetime,
    tool_version: str,
    expires_after: timedelta = DEFAULT_EXPIRES_AFTER,
    namespace: uuid.UUID = DEFAULT_NAMESPACE,
    assessment_plan_href: str | None = None,
) -> dict[str, Any]:
    """The ``{"assessment-results": ...}`` document of ``results``, validated.

    ``evidence`` is the set the checks read: every file a check cites must be a
    file of one of its entries, with the same SHA-256 (else :class:`FormatError`).
    ``assessment_plan_href`` is where an OSCAL assessment plan lives, if one is
    published; without it ``import-ap`` points at a back-matter placeholder.
    """
    generated_at = _utc(generated_at, "generated_at")
    period_start = _utc(period_start, "period_start")
    period_end = _utc(period_end, "period_end")
    if period_end < period_start:
        raise ValueError(f"period_end {period_end} is before period_start {period_start}")
    if expires_after <= timedelta(0):
        raise ValueError(f"expires_after must be positive, got {expires_after}")
    seen: set[str] = set()
    for r in results:
        if r.check_id in seen:
            raise ValueError(f"check id {r.check_id!r} appears twice in results")
        seen.add(r.check_id)

    period = f"{_ts(period_start)}/{_ts(period_end)}"

    def uid(*parts: object) -> str:
        return str(uuid.uuid5(namespace, "|".join(str(p) for p in parts)))

    entries = {e.index: e for e in evidence.entries}
    party_uuid = uid("party", TOOL_NAME)
    component_uuid = uid("component", TOOL_NAME)
    origins = [
        _m(
            oc.Origin,
            actors=[
                _m(oc.OriginActor, type=oc.OriginActorValidValues.tool, actor_uuid=component_uuid)
            ],
        )
    ]

    try:
        resources = {ref: _resource(ref, entries, uid) for ref in _cited(results)}
        observations: list[oc.Observation] = []
        findings: list[oc.Finding] = []
        for r in results:
            obs_uuid = uid("observation", period, r.check_id)
            collected = _collected(r, entries, default=generated_at)
            observations.append(
                _m(
                    oc.Observation,
                    uuid=obs_uuid,
                    title=r.title,
                    description=r.summary,
                    props=_with_cis(_props(_check_props(r, with_controls=False)), r.cis),
                    methods=[oc.Methods.TEST],
                    origins=origins,
                    relevant_evidence=[
                        _m(
                            oc.RelevantEvidence,
                            href=f"#{resources[ref].uuid}",
                            description=f"Log entry {ref.entry}: {ref.path}",
                        )
                        for ref in _unique(r.evidence)
                    ]
                    or None,
                    collected=collected,
                    expires=collected + expires_after,
                )
            )
            if r.status != "pass":
                findings.append(
                    _m(
                        oc.Finding,
                        uuid=uid("finding", period, r.check_id),
                        title=r.title,
                        description=r.summary,
                        props=_with_cis(_props(_check_props(r, with_controls=True)), r.cis),
                        origins=origins,
                        target=_m(
                            oc.FindingTarget,
                            type=oc.FindingTargetTypeValidValues.objective_id,
                            target_id=r.check_id,
                            description=r.summary,
                            status=_m(
                                oc.ObjectiveStatus,
                                state=oc.ObjectiveStatusStateValidValues.not_satisfied,
                                reason=_REASON[r.status],
                            ),
                        ),
                        related_observations=[_m(oc.RelatedObservation, observation_uuid=obs_uuid)],
                    )
                )
        # The benchmark is in scope when a check of it ran; then its manual
        # recommendations are listed too, so coverage is complete.
        for rec in manual() if any(r.cis is not None for r in results) else ():
            findings.append(
                _m(
                    oc.Finding,
                    uuid=uid("finding", period, "cis-manual", rec.cis),
                    title=rec.title,
                    description=(
                        f"CIS {rec.cis} is a manual recommendation: {TOOL_NAME} does not "
                        "decide it from evidence; an auditor does."
                    ),
                    props=_with_cis(_props([("assessment", "manual")]), rec.cis),
                    origins=origins,
                    target=_m(
                        oc.FindingTarget,
                        type=oc.FindingTargetTypeValidValues.objective_id,
                        target_id=f"cis-{rec.cis}",
                        description=rec.title,
                        status=_m(
                            oc.ObjectiveStatus,
                            state=oc.ObjectiveStatusStateValidValues.not_satisfied,
                            reason=oc.Reason.other,
                            remarks=f"Not assessed automatically: {rec.manual_reason}",
                        ),
                    ),
                )
            )

        plan_uuid = uid("assessment-plan", title)
        plan = _m(
            oc.Resource,
            uuid=plan_uuid,
            title="Assessment plan",
            description=(
                f"The control checks of {TOOL_NAME} {tool_version}."
                + ("" if assessment_plan_href else " No OSCAL assessment plan is published.")
            ),
            rlinks=[_m(oc.Rlink, href=assessment_plan_href)] if assessment_plan_href else None,
        )
        result = _m(
            ar.Result,
            uuid=uid("result", title, period),
            title=title,
            description=(
                f"Control checks of {TOOL_NAME} {tool_version} over the evidence of "
                f"[{_ts(period_start)}, {_ts(period_end)})."
            ),
            start=period_start,
            end=period_end,
            local_definitions=_m(
                ar.LocalDefinitions1,
                components=[
                    _m(
                        oc.SystemComponent,
                        uuid=component_uuid,
                        type=oc.SystemComponentTypeValidValues.software,
                        title=TOOL_NAME,
                        description="Audit-evidence collector, archive and control checks.",
                        props=_props([("version", tool_version)]),
                        status=_m(
                            oc.Status,
                            state=oc.SystemComponentOperationalStateValidValues.operational,
                        ),
                    )
                ],
            ),
            reviewed_controls=_m(
                oc.ReviewedControls,
                control_selections=[
                    _m(
                        oc.ControlSelection,
                        description="The controls the checks map to (see props).",
                        props=_props(_control_props(results)),
                        include_all=_m(oc.IncludeAll),
                    )
                ],
            ),
            observations=observations or None,
            findings=findings or None,
        )
        document = _m(
            ar.AssessmentResults,
            uuid=uid("assessment-results", title, period),
            metadata=_m(
                oc.Metadata,
                title=title,
                last_modified=generated_at,
                version=_ts(generated_at),
                oscal_version=OSCAL_VERSION,
                roles=[_m(oc.Role, id=_ROLE, title="Prepared By")],
                parties=[
                    _m(
                        oc.Party,
                        uuid=party_uuid,
                        type=oc.PartyTypeValidValues.organization,
                        name=TOOL_NAME,
                        props=_props([("version", tool_version)]),
                    )
                ],
                responsible_parties=[
                    _m(oc.ResponsibleParty, role_id=_ROLE, party_uuids=[party_uuid])
                ],
            ),
            import_ap=_m(ar.ImportAp, href=f"#{plan_uuid}"),
            results=[result],
            back_matter=_m(
                oc.BackMatter,
                resources=[plan, *(resources[ref] for ref in sorted(resources, key=_ref_key))],
            ),
        )
        out: dict[str, Any] = json.loads(document.oscal_serialize_json())
    except (ValidationError, TrestleError) as e:
        raise FormatError(
            f"the check results do not make a valid OSCAL {OSCAL_VERSION} document: {e}",
            fix="check ids must be OSCAL tokens (kebab-case starting with a letter)",
        ) from e
    validate(out)
    return out


def validate(document: Mapping[str, Any]) -> None:
    """Raise :class:`FormatError` unless ``document`` is valid OSCAL 1.1 assessment results.

    Parsed with compliance-trestle's model (required fields, types, UUID and
    token patterns, no unknown fields), then checked for what the model leaves
    out: the 1.1.x ``oscal-version``, time zones on every date-time, unique
    UUIDs and ``#uuid`` references that resolve to back-matter resources.
    """
    if set(document) != {"assessment-results"}:
        raise FormatError(
            f"an OSCAL assessment-results document has exactly one top-level key, "
            f"'assessment-results'; got {sorted(document)}"
        )
    try:
        model = ar.Model.parse_obj(document)
    except ValidationError as e:
        raise FormatError(
            f"not valid OSCAL {OSCAL_VERSION} assessment results: {_describe(e)}"
        ) from e
    doc = model.assessment_results
    version = doc.metadata.oscal_version.__root__
    if not re.match(OSCAL_VERSION_REGEX, version):
        raise FormatError(
            f"metadata.oscal-version is {version!r}; this export writes OSCAL 1.1.x "
            f"({OSCAL_VERSION})"
        )
    for path, value in _walk(doc, "assessment-results"):
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise FormatError(f"{path} is {value.isoformat()} without a time zone")
    uuids: dict[str, str] = {}
    for path, value in _walk(doc, "assessment-results"):
        if path.endswith(".uuid") and isinstance(value, str):
            if value.lower() in uuids:
                raise FormatError(f"uuid {value} is used by {uuids[value.lower()]} and {path}")
            uuids[value.lower()] = path
    back_matter = doc.back_matter.resources if doc.back_matter is not None else None
    resources = {r.uuid.lower() for r in back_matter or []}
    refs = [("assessment-results.import-ap.href", doc.import_ap.href)]
    for i, res in enumerate(doc.results):
        at = f"assessment-results.results[{i}]"
        for j, obs in enumerate(res.observations or []):
            refs += [
                (f"{at}.observations[{j}].relevant-evidence[{k}].href", ev.href)
                for k, ev in enumerate(obs.relevant_evidence or [])
                if ev.href is not None
            ]
        observations = {o.uuid.lower() for o in res.observations or []}
        for j, f in enumerate(res.findings or []):
            for rel in f.related_observations or []:
                if rel.observation_uuid.lower() not in observations:
                    raise FormatError(
                        f"{at}.findings[{j}] relates to observation "
                        f"{rel.observation_uuid}, which is not in the result"
                    )
    for path, href in refs:
        if href.startswith("#") and href[1:].lower() not in resources:
            raise FormatError(f"{path} is {href}, which names no back-matter resource")


def to_bytes(document: Mapping[str, Any]) -> bytes:
    """The document as UTF-8 JSON with sorted keys: the bytes to write and to hash."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def from_bytes(data: bytes) -> dict[str, Any]:
    """Parse and :func:`validate` a document written by :func:`to_bytes`."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"OSCAL document is not UTF-8 JSON: {e}") from e
    if not isinstance(document, dict):
        raise FormatError("OSCAL document is not a JSON object")
    validate(document)
    return document


# --- building blocks ---------------------------------------------------------


def _m(model: type[_M], **fields: Any) -> _M:
    """Build and validate a trestle model from field names.

    Through one untyped call because mypy reads the generated models' aliases and
    ``Field(None)`` defaults as required keyword names; pydantic still validates
    every field and, the models forbidding extras, rejects a misspelt one.
    """
    return model(**fields)


def _utc(t: datetime, name: str) -> datetime:
    if t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got {t.isoformat()}")
    return t.astimezone(UTC)


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref_key(ref: EvidenceRef) -> tuple[int, str, str]:
    return (ref.entry, ref.path, ref.sha256)


def _unique(refs: Iterable[EvidenceRef]) -> list[EvidenceRef]:
    return list(dict.fromkeys(refs))


def _cited(results: Sequence[CheckResult]) -> list[EvidenceRef]:
    return sorted(_unique(ref for r in results for ref in r.evidence), key=_ref_key)


def _entry_of(ref: EvidenceRef, entries: Mapping[int, EvidenceEntry]) -> EvidenceEntry:
    entry = entries.get(ref.entry)
    if entry is None:
        raise FormatError(
            f"a check cites log entry {ref.entry} ({ref.path}), which is not in the evidence set",
            fix="build the OSCAL export from the same evidence set the checks read",
        )
    return entry


def _resource(
    ref: EvidenceRef, entries: Mapping[int, EvidenceEntry], uid: Callable[..., str]
) -> oc.Resource:
    entry = _entry_of(ref, entries)
    signed = next((f for f in entry.files if f["path"] == ref.path), None)
    if signed is None:
        raise FormatError(f"log entry {ref.entry} has no file {ref.path}, which a check cites")
    if str(signed["sha256"]).lower() != ref.sha256.lower():
        raise FormatError(
            f"a check cites {ref.path} of log entry {ref.entry} with sha256 {ref.sha256}, "
            f"but the entry signed {signed['sha256']}"
        )
    media_type = signed.get("media_type")
    return _m(
        oc.Resource,
        uuid=uid("resource", ref.entry, ref.path, ref.sha256.lower()),
        title=f"{entry.stream}, log entry {ref.entry}: {ref.path.rsplit('/', 1)[-1]}",
        props=_props([("log-index", str(ref.entry)), ("stream", entry.stream)]),
        rlinks=[
            _m(
                oc.Rlink,
                # Store keys are plain relative paths; quoting only touches
                # characters a URI reference may not hold.
                href=quote(ref.path, safe="/=:@"),
                media_type=str(media_type) if media_type else None,
                hashes=[_m(oc.Hash, algorithm=oc.Algorithm.SHA_256, value=ref.sha256.lower())],
            )
        ],
    )


def _collected(
    result: CheckResult, entries: Mapping[int, EvidenceEntry], *, default: datetime
) -> datetime:
    times = [
        parse_rfc3339(str(_entry_of(ref, entries).predicate["collected_at"]))
        for ref in result.evidence
    ]
    return max(times, default=default)


def _check_props(result: CheckResult, *, with_controls: bool) -> list[tuple[str, str]]:
    props = [("check-id", result.check_id), ("status", result.status)]
    if result.findings:
        props.append(("failing-rows", str(len(result.findings))))
    if with_controls:
        props += [("soc2-control", c) for c in result.control.soc2]
        props += [("hipaa-section", c) for c in result.control.hipaa]
    return props


def _with_cis(props: list[oc.Property] | None, cis: str | None) -> list[oc.Property] | None:
    """``props`` and, for a CIS recommendation, its ``cis-recommendation`` prop."""
    if cis is None or cis not in RECOMMENDATIONS:
        return props
    prop = _m(oc.Property, name="cis-recommendation", ns=PROP_NS, value=cis, class_=CIS_CLASS)
    return [*(props or []), prop]


def _control_props(results: Sequence[CheckResult]) -> list[tuple[str, str]]:
    soc2 = sorted({c for r in results for c in r.control.soc2})
    hipaa = sorted({c for r in results for c in r.control.hipaa})
    return [("soc2-control", c) for c in soc2] + [("hipaa-section", c) for c in hipaa]


def _props(pairs: Sequence[tuple[str, str]]) -> list[oc.Property] | None:
    return [_m(oc.Property, name=n, ns=PROP_NS, value=v) for n, v in pairs] or None


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, V1BaseModel):
        for name, field in value.__fields__.items():
            yield from _walk(getattr(value, name), f"{path}.{field.alias}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def _describe(e: ValidationError) -> str:
    errors = e.errors()
    shown = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return shown + more
