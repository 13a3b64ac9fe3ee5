"""A finding's JSON values as the report's table cells: human text, never raw JSON."""

from __future__ import annotations

import json
from typing import Any

from das_evidence.reports.cells import (
    DASH,
    EVIDENCE_HEADER,
    INLINE_ITEMS,
    cell,
    entries_cell,
    entry_href,
    header,
    row_entries,
    table,
    text_of,
)
from das_evidence.reports.model import EvidenceRef

LOGIN = "evidence/snowflake/ACME/login_history/date=2026-11-21/w.parquet"
USERS = "evidence/snowflake/ACME/policy_state/date=2026-11-26/t/users.parquet"
GRANTS = "evidence/snowflake/ACME/policy_state/date=2026-11-26/t/grants_to_users.parquet"


def _ref(entry: int, path: str) -> EvidenceRef:
    return EvidenceRef(entry, path, "ab" * 32)


def test_headers_read_as_words_with_their_acronyms() -> None:
    assert header("client_ips") == "Client IPs"
    assert header("user_id") == "User ID"
    assert header("has_mfa") == "Has MFA"
    assert header("as_of") == "As of"
    assert header("query_ids") == "Query IDs"
    assert header("dbt_version") == "dbt version"
    assert header("ROLE") == "Role"


def test_times_numbers_booleans_and_none() -> None:
    t = cell("first", "2026-11-21T15:36:00.079655Z")
    assert (t.text, t.time, t.words) == (
        "2026-11-21 15:36:00 UTC",
        "2026-11-21T15:36:00.079655Z",
        ["2026-11-21", "15:36:00 UTC"],
    )
    assert cell("as_of", "2026-11-26T04:00:00Z").text == "2026-11-26 04:00:00 UTC"
    assert cell("name", "2026-11-26").time == ""  # a date is not a time
    assert (cell("failures", 40).text, cell("failures", 40).numeric) == ("40", True)
    assert cell("hours", 142.0).text == "142"
    assert cell("has_mfa", False).text == "no" and not cell("has_mfa", True).numeric
    assert cell("user", None).text == DASH


def test_short_lists_inline_and_long_ones_as_a_count_that_expands() -> None:
    assert cell("columns", ["PHONE", "SSN"]).text == "PHONE, SSN"
    assert cell("columns", []).text == "none"
    ids = [207789000000 + i for i in range(40)]
    long = cell("event_ids", ids)
    assert long.text == "40 event IDs"
    assert long.items == tuple(str(i) for i in ids)  # every item, nothing lost
    many = cell("via", [f"ROLE_{i}" for i in range(INLINE_ITEMS + 1)])
    assert many.text == f"{INLINE_ITEMS + 1} items" and len(many.items) == INLINE_ITEMS + 1


def test_objects_read_as_key_value_pairs_never_as_json() -> None:
    assert cell("tags", {"PHI": "name", "PII": "name"}).text == "PHI: name, PII: name"
    nested: Any = {
        "before": {"POLICY_BODY": "CASE WHEN x THEN y END", "OWNER": None},
        "list": [{"policy": "P", "status": "ACTIVE", "via_tag": None}, [1, [2, 3]]],
        "flag": True,
    }
    for key, value in nested.items():
        c = cell(key, value)
        for text in (c.text, *c.items):
            assert not text.startswith(("{", "[")) and '"' not in text, text
    assert text_of(nested["before"]) == "POLICY_BODY: CASE WHEN x THEN y END; OWNER: —"
    assert text_of({}) == DASH


def test_entry_references_become_links_in_runs() -> None:
    refs = [{"entry": e, "path": f"evidence/{e}.parquet"} for e in (0, 1, 2, 3, 14, 15, 30)]
    c = cell("evidence", refs)
    assert c.text == "entries 0–3, 14–15, 30"
    assert [[link.text for link in run] for run in c.runs] == [["0", "3"], ["14", "15"], ["30"]]
    assert c.runs[0][0].href == entry_href(0) == "entries/000000000000.dsse.json"
    assert c.runs[0][0].title == "evidence/0.parquet"
    one = cell("evidence", {"entry": 8, "path": LOGIN})
    assert one.text == "entry 8" and one.links[0].title == LOGIN
    assert cell("last_entry", 12).text == "entry 12"
    seen = cell("seen_in", [{"entry": 28, "as_of": "2026-11-26T04:00:00Z"}])
    assert seen.text == "entry 28" and seen.links[0].href == entry_href(28)
    assert entries_cell({5: [], 6: []}, noun=False).text == "5–6"
    assert entries_cell({}).text == DASH


def test_a_row_rests_on_its_own_evidence_first() -> None:
    refs = [_ref(7, LOGIN), _ref(8, LOGIN), _ref(28, USERS)]
    own = {"user": "DAVE", "evidence": [{"entry": 8, "path": LOGIN}]}
    assert row_entries(own, refs) == {8: [LOGIN]}
    # then entries it names (with the check's files of them)
    assert row_entries({"stream": "x", "last_entry": 28}, refs) == {28: [USERS]}
    assert row_entries({"seen_in": [{"entry": 28, "as_of": "t"}]}, refs) == {28: [USERS]}
    # then the check's files under the row's stream
    gap = {"stream": "snowflake/ACME/policy_state", "start": "2026-11-20T00:00:00Z"}
    assert row_entries(gap, refs) == {28: [USERS]}
    # then the check's evidence when it is one entry; otherwise nothing is guessed
    assert row_entries({"user": "ERIN"}, [_ref(28, USERS), _ref(28, GRANTS)]) == {
        28: [USERS, GRANTS]
    }
    assert row_entries({"user": "ERIN"}, refs) == {}


def test_a_findings_table_links_every_row_to_its_entries() -> None:
    rows = [
        {
            "user": "DAVE_ADMIN",
            "failures": 40,
            "first": "2026-11-21T15:36:00Z",
            "event_ids": list(range(40)),
            "evidence": [{"entry": 8, "path": LOGIN}],
        },
        {"user": "ERIN", "failures": None, "first": None, "event_ids": [1]},
    ]
    t = table(rows, check_refs=[_ref(8, LOGIN)])
    assert t.keys == ("user", "failures", "first", "event_ids", "evidence")
    assert t.headers == ("User", "Failures", "First", "Event IDs", EVIDENCE_HEADER)
    assert t.numeric == (False, True, False, False, False)
    dave, erin = t.rows
    assert [c.text for c in dave] == [
        "DAVE_ADMIN",
        "40",
        "2026-11-21 15:36:00 UTC",
        "40 event IDs",
        "8",
    ]
    assert dave[-1].links[0].href == entry_href(8)
    assert erin[-1].text == "8"  # the check's one entry
    for row in t.rows:
        for c in row:
            assert "{" not in c.text and "[" not in c.text
    assert json.loads(json.dumps(rows)) == rows  # the findings themselves are untouched


def test_no_entries_column_when_a_column_already_links_each_row() -> None:
    rows = [{"policy": "P", "seen_in": [{"entry": 28, "as_of": "2026-11-26T04:00:00Z"}]}]
    assert table(rows).headers == ("Policy", "Seen in")
    assert table([{"user": "x"}], check_refs=[_ref(1, LOGIN), _ref(2, USERS)]).headers == ("User",)
