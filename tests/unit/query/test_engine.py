"""SQL over a signed archive: views from the log, provenance, verified reads, errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from das_evidence.errors import QueryError, StoreError, VerificationError
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.query.engine import ArchiveSql
from das_evidence.verify import load_trust, verify_target
from das_evidence.verify.archive import Trust
from tests.unit.query.conftest import ORIGIN, T0, ArchiveBuilder, objects, parquet

DAY = timedelta(days=1)


def _login(event_id: int, user: str, ip: str, ok: bool) -> dict[str, object]:
    return {
        "EVENT_ID": event_id,
        "EVENT_TIMESTAMP": T0 + timedelta(minutes=event_id),
        "USER_NAME": user,
        "CLIENT_IP": ip,
        "IS_SUCCESS": "YES" if ok else "NO",
    }


def _trust(b: ArchiveBuilder, *, vkey: bool = True) -> Trust:
    return load_trust([b.pub], str(b.vkey) if vkey else None, ORIGIN)


def _rows(archive: ArchiveSql, sql: str) -> list[dict[str, object]]:
    return archive.query(sql).to_dicts()


@pytest.fixture
def logins(builder: ArchiveBuilder) -> ArchiveBuilder:
    """Two windows of LOGIN_HISTORY and an amendment with a late row of the first."""
    builder.history("login_history", [_login(1, "ALICE", "10.0.0.1", False)])
    builder.history(
        "login_history", [_login(2, "BOB", "10.0.0.2", True)], start=T0 + DAY, end=T0 + 2 * DAY
    )
    builder.history("login_history", [_login(3, "ALICE", "10.0.0.1", False)], amends=0)
    return builder


def test_a_view_is_every_file_its_entries_sign_amendments_included(logins: ArchiveBuilder) -> None:
    with ArchiveSql(logins.store, ORIGIN) as archive:
        rows = _rows(archive, "SELECT EVENT_ID, _entry, _file, _account FROM login_history")
    assert sorted((r["EVENT_ID"], r["_entry"]) for r in rows) == [(1, 0), (2, 1), (3, 2)]
    files = {r["_entry"]: r["_file"] for r in rows}
    assert files[2] == (
        "evidence/snowflake/ACME/login_history/date=2026-11-20/"
        "20261120T000000Z_20261121T000000Z.amend-0.parquet"
    )
    assert {r["_account"] for r in rows} == {"ACME"}
    for entry, path in files.items():  # each row names the file its entry signed
        assert [s.name for s in logins.log.entries[entry].statement.subjects] == [path]


def test_a_file_no_entry_signs_is_in_no_view(logins: ArchiveBuilder) -> None:
    data, _ = parquet([_login(99, "MALLORY", "6.6.6.6", True)], _schema("login_history"))
    logins.store.put_once("evidence/snowflake/ACME/login_history/date=2026-11-20/x.parquet", data)
    with ArchiveSql(logins.store, ORIGIN) as archive:
        users = {r["USER_NAME"] for r in _rows(archive, "SELECT USER_NAME FROM login_history")}
    assert users == {"ALICE", "BOB"}


def _schema(view: str) -> object:
    from das_evidence.collectors.snowflake.views import VIEWS

    return VIEWS[view].schema()


def test_accounts_share_a_view_told_apart_by_account(builder: ArchiveBuilder) -> None:
    builder.history("login_history", [_login(1, "ALICE", "10.0.0.1", False)], account="PROD")
    builder.history("login_history", [_login(1, "ALICE", "10.0.0.9", False)], account="DEV")
    with ArchiveSql(builder.store, ORIGIN) as archive:
        rows = _rows(archive, "SELECT _account, CLIENT_IP FROM login_history ORDER BY _account")
    assert rows == [
        {"_account": "DEV", "CLIENT_IP": "10.0.0.9"},
        {"_account": "PROD", "CLIENT_IP": "10.0.0.1"},
    ]


def _grant(grantee: str) -> dict[str, object]:
    return {
        "PRIVILEGE": "SELECT",
        "GRANTED_ON": "TABLE",
        "NAME": "PATIENTS",
        "GRANTEE_NAME": grantee,
    }


def test_policy_views_newest_per_account_history_and_changes(builder: ArchiveBuilder) -> None:
    a1, a2 = T0 + timedelta(hours=4), T0 + DAY + timedelta(hours=4)
    tags = [{"TAG_NAME": "PHI", "OBJECT_NAME": "PATIENTS", "DOMAIN": "TABLE"}]
    builder.snapshot(a1, {"GRANTS_TO_ROLES": [_grant("ANALYST")], "TAG_REFERENCES": tags})
    builder.snapshot(a1, {"GRANTS_TO_ROLES": [_grant("OTHER")]}, account="DEV")
    change = {"VIEW": "GRANTS_TO_ROLES", "CHANGE": "added", "KEY": '{"GRANTEE_NAME":"ENGINEER"}'}
    # The newest snapshot cannot read TAG_REFERENCES: the view keeps the newest one that did.
    builder.snapshot(
        a2,
        {"GRANTS_TO_ROLES": [_grant("ANALYST"), _grant("ENGINEER")]},
        changes=[change],
        since=a1,
    )
    with ArchiveSql(builder.store, ORIGIN) as archive:
        newest = _rows(
            archive,
            "SELECT _account, GRANTEE_NAME, _as_of, _entry FROM policy_grants_to_roles "
            "ORDER BY _account, GRANTEE_NAME",
        )
        history = _rows(archive, "SELECT COUNT(*) AS n FROM policy_grants_to_roles_history")
        tag_entries = _rows(archive, "SELECT DISTINCT _entry FROM policy_tag_references")
        changes = _rows(
            archive, 'SELECT "VIEW", CHANGE, _as_of, _since, _entry FROM policy_changes'
        )
    assert [(r["_account"], r["GRANTEE_NAME"], r["_entry"]) for r in newest] == [
        ("ACME", "ANALYST", 2),
        ("ACME", "ENGINEER", 2),
        ("DEV", "OTHER", 1),
    ]
    assert newest[0]["_as_of"] == a2
    assert history == [{"n": 4}]
    assert tag_entries == [{"_entry": 0}]
    assert changes == [
        {"VIEW": "GRANTS_TO_ROLES", "CHANGE": "added", "_as_of": a2, "_since": a1, "_entry": 2}
    ]


def test_old_and_new_policy_keys_query_as_one(builder: ArchiveBuilder) -> None:
    """Snapshots from before the as_of= partition and after it: the log names both."""
    a1, a2 = T0 + timedelta(hours=4), T0 + DAY + timedelta(hours=4)
    builder.snapshot(a1, {"GRANTS_TO_ROLES": [_grant("ANALYST")]}, old_layout=True)
    builder.snapshot(a2, {"GRANTS_TO_ROLES": [_grant("ENGINEER")]}, changes=[], since=a1)
    with ArchiveSql(builder.store, ORIGIN) as archive:
        rows = _rows(
            archive,
            "SELECT GRANTEE_NAME, _file FROM policy_grants_to_roles_history ORDER BY _as_of",
        )
    assert [r["GRANTEE_NAME"] for r in rows] == ["ANALYST", "ENGINEER"]
    assert "/date=2026-11-20/20261120T040000Z/" in str(rows[0]["_file"])
    assert "/date=2026-11-21/as_of=20261121T040000Z/" in str(rows[1]["_file"])
    report = verify_target(str(builder.store.root), pubs=[builder.pub])
    assert report.ok, report.findings  # verification does not depend on key shape either


def test_dbt_views_carry_the_invocation(builder: ArchiveBuilder) -> None:
    builder.dbt(T0, {"tests": [{"unique_id": "test.a", "evidence_status": "failed"}]})
    builder.dbt(
        T0 + DAY,
        {"tests": [{"unique_id": "test.a", "evidence_status": "passed"}]},
        invocation_id="00000000-0000-4000-8000-000000000002",
    )
    with ArchiveSql(builder.store, ORIGIN) as archive:
        rows = _rows(
            archive,
            "SELECT evidence_status, _project, _invocation_id, _generated_at FROM dbt_tests "
            "ORDER BY _generated_at",
        )
    assert rows == [
        {
            "evidence_status": "failed",
            "_project": "jaffle_health",
            "_invocation_id": "00000000-0000-4000-8000-000000000001",
            "_generated_at": T0,
        },
        {
            "evidence_status": "passed",
            "_project": "jaffle_health",
            "_invocation_id": "00000000-0000-4000-8000-000000000002",
            "_generated_at": T0 + DAY,
        },
    ]


def test_base_columns_are_one_row_per_named_column_of_a_base_object(
    builder: ArchiveBuilder,
) -> None:
    access = [
        {"QUERY_ID": "q1", "USER_NAME": "ALICE", "QUERY_START_TIME": T0,
         "BASE_OBJECTS_ACCESSED": objects(("DB.S.PATIENTS", ["SSN", "DOB"]), ("DB.S.X", []))},
        {"QUERY_ID": "q2", "USER_NAME": "BOB", "QUERY_START_TIME": T0,
         "BASE_OBJECTS_ACCESSED": "[]", "DIRECT_OBJECTS_ACCESSED": objects(("DB.S.V", ["A"]))},
        {"QUERY_ID": "q3", "USER_NAME": "BOB", "QUERY_START_TIME": T0},
    ]  # fmt: skip
    builder.history("access_history", access)
    with ArchiveSql(builder.store, ORIGIN) as archive:
        rows = _rows(
            archive,
            "SELECT QUERY_ID, USER_NAME, OBJECT_NAME, COLUMN_NAME, _entry "
            "FROM access_history_base_columns ORDER BY COLUMN_NAME",
        )
    assert rows == [
        {"QUERY_ID": "q1", "USER_NAME": "ALICE", "OBJECT_NAME": "DB.S.PATIENTS",
         "COLUMN_NAME": "DOB", "_entry": 0},
        {"QUERY_ID": "q1", "USER_NAME": "ALICE", "OBJECT_NAME": "DB.S.PATIENTS",
         "COLUMN_NAME": "SSN", "_entry": 0},
    ]  # fmt: skip


def test_an_unknown_view_is_a_query_error_listing_the_views(logins: ArchiveBuilder) -> None:
    with ArchiveSql(logins.store, ORIGIN) as archive, pytest.raises(QueryError) as e:
        archive.query("SELECT * FROM logins")
    assert e.value.exit_code == 2
    assert "no view 'logins'" in e.value.message and "login_history" in str(e.value.fix)


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELEC 1", "sql parser error"),
        ("SELECT nope FROM login_history", 'unable to find column "nope"'),
        ("", "empty"),
    ],
)
def test_bad_sql_is_a_query_error_with_the_engine_message(
    logins: ArchiveBuilder, sql: str, said: str
) -> None:
    with ArchiveSql(logins.store, ORIGIN) as archive, pytest.raises(QueryError) as e:
        archive.query(sql)
    assert e.value.exit_code == 2 and said in e.value.message
    assert "Resolved plan" not in e.value.message  # polars' plan dump is cut


def test_view_names_are_case_insensitive_and_limit_cuts(logins: ArchiveBuilder) -> None:
    with ArchiveSql(logins.store, ORIGIN) as archive:
        assert archive.query("SELECT * FROM LOGIN_HISTORY").height == 3
        assert archive.query("SELECT * FROM login_history", limit=1).height == 1


def test_only_the_views_a_query_names_are_read(builder: ArchiveBuilder) -> None:
    builder.history("login_history", [_login(1, "ALICE", "10.0.0.1", False)])
    builder.history("sessions", [{"SESSION_ID": 1, "CREATED_ON": T0, "USER_NAME": "ALICE"}])
    builder.writable()
    [subject] = builder.log.entries[1].statement.subjects
    (builder.store.root / subject.name).unlink()
    with ArchiveSql(builder.store, ORIGIN) as archive:
        assert archive.query("SELECT * FROM login_history").height == 1
        with pytest.raises(StoreError) as e:
            archive.query("SELECT * FROM sessions")
    assert e.value.exit_code == 3


def test_describe_lists_rows_and_columns(logins: ArchiveBuilder) -> None:
    with ArchiveSql(logins.store, ORIGIN) as archive:
        [info] = archive.describe()
    assert (info.name, info.files, info.rows) == ("login_history", 3, 3)
    assert info.columns[:2] == ("EVENT_ID", "EVENT_TIMESTAMP")
    assert info.columns[-3:] == ("_account", "_entry", "_file")


# --- --verified ------------------------------------------------------------------------


def _tamper(b: ArchiveBuilder, entry: int) -> None:
    """file_swapped: the entry's file replaced by other rows (the put-once lock undone)."""
    b.writable()
    [subject] = b.log.entries[entry].statement.subjects
    data, _ = parquet([_login(1, "MALLORY", "6.6.6.6", True)], _schema("login_history"))
    (b.store.root / subject.name).write_bytes(data)


def test_verified_reads_the_same_rows_as_direct(logins: ArchiveBuilder) -> None:
    sql = "SELECT * FROM login_history ORDER BY EVENT_ID"
    with ArchiveSql(logins.store, ORIGIN) as direct:
        expected = direct.query(sql)
    with ArchiveSql(logins.store, ORIGIN, trust=_trust(logins)) as verified:
        assert verified.query(sql).equals(expected)


def test_file_swapped_is_read_directly_but_refused_verified(logins: ArchiveBuilder) -> None:
    _tamper(logins, 0)
    sql = "SELECT DISTINCT USER_NAME FROM login_history ORDER BY USER_NAME"
    with ArchiveSql(logins.store, ORIGIN) as direct:
        assert "MALLORY" in direct.query(sql)["USER_NAME"].to_list()  # nothing checked
    with (
        ArchiveSql(logins.store, ORIGIN, trust=_trust(logins)) as verified,
        pytest.raises(VerificationError) as e,
    ):
        verified.query(sql)
    assert e.value.exit_code == 1
    assert "20261120T000000Z_20261121T000000Z.parquet (entry 0) does not match" in str(e.value)


def test_a_swapped_file_of_another_view_does_not_stop_a_query(logins: ArchiveBuilder) -> None:
    logins.history("sessions", [{"SESSION_ID": 1, "CREATED_ON": T0, "USER_NAME": "ALICE"}])
    _tamper(logins, 0)
    with ArchiveSql(logins.store, ORIGIN, trust=_trust(logins)) as verified:
        assert verified.query("SELECT * FROM sessions").height == 1


def test_entries_signed_by_an_untrusted_key_are_refused(
    logins: ArchiveBuilder, tmp_path: Path
) -> None:
    other = write_key_pair(tmp_path / "other", ORIGIN)
    trust = load_trust([other["pub"]], str(logins.vkey), ORIGIN)
    with (
        ArchiveSql(logins.store, ORIGIN, trust=trust) as verified,
        pytest.raises(VerificationError) as e,
    ):
        verified.query("SELECT * FROM login_history")
    assert "V2 signature" in str(e.value)


def test_a_log_cut_short_is_refused_by_its_checkpoint(logins: ArchiveBuilder) -> None:
    """entry_dropped: the newest entry deleted; the checkpoint still covers it."""
    logins.writable()
    (logins.store.root / "log" / "entries" / "000000000002.dsse.json").unlink()
    with ArchiveSql(logins.store, ORIGIN) as direct:  # read as it is, unchecked
        assert direct.query("SELECT * FROM login_history").height == 2
    with pytest.raises(VerificationError) as e:
        ArchiveSql(logins.store, ORIGIN, trust=_trust(logins))
    assert "V7 checkpoint" in str(e.value) and "covers 3 entries, the log has 2" in str(e.value)


def test_an_ed25519_pub_alone_checks_the_checkpoint_too(logins: ArchiveBuilder) -> None:
    """Without --vkey the note key is derived from an Ed25519 --pub, as `evidence verify` does."""
    logins.writable()
    (logins.store.root / "log" / "entries" / "000000000002.dsse.json").unlink()
    with pytest.raises(VerificationError) as e:
        ArchiveSql(logins.store, ORIGIN, trust=_trust(logins, vkey=False))
    assert "V7 checkpoint" in str(e.value)


def test_verified_copies_are_removed_on_close(logins: ArchiveBuilder) -> None:
    archive = ArchiveSql(logins.store, ORIGIN, trust=_trust(logins))
    with archive:
        archive.query("SELECT * FROM login_history")
        spool = archive._spool
        assert spool is not None and len(list(spool.iterdir())) == 3
    assert not spool.exists()


def test_the_frame_is_lazy_polars(logins: ArchiveBuilder) -> None:
    with ArchiveSql(logins.store, ORIGIN) as archive:
        assert isinstance(archive.frame("login_history"), pl.LazyFrame)
