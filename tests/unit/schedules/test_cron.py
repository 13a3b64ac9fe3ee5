"""Named schedules: cron validation, and the crontab and Kubernetes CronJobs rendered from them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from das_evidence.errors import ConfigError
from das_evidence.schedules.cron import (
    dump_yaml,
    k8s_cronjobs,
    make_schedule,
    render_crontab,
    render_k8s,
    schedules_from,
)
from das_evidence.validators import parse_cron, validate_timezone

yaml = pytest.importorskip("yaml")


@pytest.mark.parametrize(
    ("text", "field", "values"),
    [
        ("15 3 * * *", "minutes", {15}),
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("0 9-17/2 * * *", "hours", {9, 11, 13, 15, 17}),
        ("0 0 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 * * 0,7", "weekdays", {0}),
        ("0 0 * * sun", "weekdays", {0}),
        ("0 0 1 JAN,jul *", "months", {1, 7}),
        ("0 0 29 2 *", "days", {29}),
        ("0 0 1,15 * *", "days", {1, 15}),
        ("@daily", "hours", {0}),
        ("@hourly", "hours", set(range(24))),
    ],
)
def test_valid_expressions_and_their_values(text: str, field: str, values: set[int]) -> None:
    assert getattr(parse_cron(text), field) == values


def test_the_written_text_is_kept_with_whitespace_normalised() -> None:
    assert parse_cron("  15  3 * *\t*").text == "15 3 * * *"
    assert parse_cron("@weekly").text == "@weekly"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("15 3 * *", "has 4 fields"),
        ("0 15 3 * * *", "has 6 fields"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("* 24 * * *", "hour 24 is outside 0-23"),
        ("* * 0 * *", "day of month 0 is outside 1-31"),
        ("* * * 13 *", "month 13 is outside 1-12"),
        ("* * * * 8", "day of week 8 is outside 0-7"),
        ("* * * FOO *", "month 'FOO' is not a number or a name like JAN"),
        ("MON * * * *", "minute 'MON' is not a number"),
        ("5/10 * * * *", "write a step on * or a range"),
        ("*/0 * * * *", "step '0' must be a whole number from 1"),
        ("*/61 * * * *", "step 61 is larger than the range 0-59"),
        ("10-5 * * * *", "runs backwards"),
        ("1,,2 * * * *", "empty list item"),
        ("? * * * *", "is not a number"),
        ("0 0 L * *", "is not a number"),
        ("0 0 * * MON#1", "is not a number"),
        ("0 0 31 2 *", "never runs"),
        ("0 0 30,31 2 *", "never runs"),
        ("@reboot", "not a known macro"),
        ("", "has 1 fields"),
        ("\u0663 * * * *", "is not a number"),
        ("*/\u0663 * * * *", "must be a whole number"),
    ],
)
def test_invalid_expressions_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_cron(text)
    assert message in str(info.value)


def test_time_zones_and_names_are_checked() -> None:
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    assert validate_timezone("UTC") == "UTC"
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValueError, match="time zone"):
            validate_timezone(bad)
    for bad_name in ("Nightly", "night_ly", "-x", "x" * 44, "", "nightly\n"):
        with pytest.raises(ValueError, match="schedule name"):
            make_schedule(bad_name, "15 3 * * *")
    assert make_schedule("x" * 43, "15 3 * * *").name == "x" * 43
    with pytest.raises(ValueError, match="at least one"):
        make_schedule("n", "15 3 * * *", streams=[])


def test_a_schedule_selects_streams_by_name_or_last_part() -> None:
    s = make_schedule("hourly", "5 * * * *", streams=["*history", "dbt/shop/*"])
    assert s.selects("snowflake/ACME/access_history")
    assert s.selects("dbt/shop/0f1e")
    assert not s.selects("snowflake/ACME/policy_state")
    assert make_schedule("all", "5 * * * *").selects("snowflake/ACME/policy_state")


class _Cfg:
    def __init__(self, cron: str, streams: tuple[str, ...] = ("*",), timezone: str = "UTC"):
        self.cron, self.streams, self.timezone = cron, streams, timezone


def test_schedules_from_config_sorts_and_names_the_bad_one() -> None:
    got = schedules_from({"weekly": _Cfg("0 4 * * SUN"), "nightly": _Cfg("15 3 * * *")})
    assert [s.name for s in got] == ["nightly", "weekly"]
    with pytest.raises(ConfigError, match=r"schedules\.bad: hour 25"):
        schedules_from({"bad": _Cfg("0 25 * * *")})


def _schedules() -> list:  # type: ignore[type-arg]
    return schedules_from(
        {
            "nightly": _Cfg("15 3 * * *"),
            "policy": _Cfg("0 6 * * MON-FRI", ("policy_state",), "Europe/Berlin"),
            "weekly": _Cfg("@weekly"),
        }
    )


def test_crontab_lines() -> None:
    text = render_crontab(_schedules(), config_path="/etc/evidence/evidence.toml")
    assert text.splitlines()[2:] == [
        "CRON_TZ=UTC",
        "15 3 * * * evidence run --schedule nightly --config /etc/evidence/evidence.toml",
        "CRON_TZ=Europe/Berlin",
        "0 6 * * MON-FRI evidence run --schedule policy --config /etc/evidence/evidence.toml",
        "CRON_TZ=UTC",
        "@weekly evidence run --schedule weekly --config /etc/evidence/evidence.toml",
    ]
    assert all(line.startswith("#") for line in text.splitlines()[:2])
    assert text.endswith("\n")


def test_crontab_quotes_the_path_and_escapes_percent() -> None:
    [s] = schedules_from({"nightly": _Cfg("15 3 * * *")})
    line = render_crontab([s], config_path="/srv/my conf/100%.toml", command="/opt/ev/bin/evidence")
    assert line.splitlines()[-1] == (
        "15 3 * * * /opt/ev/bin/evidence run --schedule nightly --config '/srv/my conf/100\\%.toml'"
    )
    with pytest.raises(ConfigError):
        render_crontab([s], config_path="/x\n* * * * * rm -rf /")
    with pytest.raises(ConfigError):
        render_crontab([], config_path="/x")


def _k8s() -> str:
    return render_k8s(
        _schedules(),
        image="ghcr.io/acme/das-evidence:1.0",
        config_secret="evidence-config",
        namespace="evidence",
    )


def test_k8s_yaml_parses_to_one_hardened_cronjob_per_schedule() -> None:
    docs = list(yaml.safe_load_all(_k8s()))
    assert docs == k8s_cronjobs(
        _schedules(),
        image="ghcr.io/acme/das-evidence:1.0",
        config_secret="evidence-config",
        namespace="evidence",
    )
    assert [d["metadata"]["name"] for d in docs] == [
        "evidence-nightly",
        "evidence-policy",
        "evidence-weekly",
    ]
    for d, (cron, tz) in zip(
        docs,
        [("15 3 * * *", "UTC"), ("0 6 * * MON-FRI", "Europe/Berlin"), ("@weekly", "UTC")],
        strict=True,
    ):
        assert (d["apiVersion"], d["kind"]) == ("batch/v1", "CronJob")
        assert d["metadata"]["namespace"] == "evidence"
        spec = d["spec"]
        assert (spec["schedule"], spec["timeZone"]) == (cron, tz)
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] == 3600
        job = spec["jobTemplate"]["spec"]
        assert job["activeDeadlineSeconds"] == 14400 and job["backoffLimit"] == 0
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [c] = pod["containers"]
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        name = d["metadata"]["name"].removeprefix("evidence-")
        assert c["command"] == ["evidence"]
        assert c["args"] == ["run", "--schedule", name, "--config", "/etc/evidence/evidence.toml"]
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        assert mounts["config"] == {
            "name": "config",
            "mountPath": "/etc/evidence",
            "readOnly": True,
        }
        assert mounts["tmp"]["mountPath"] == "/tmp"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["secret"] == {
            "secretName": "evidence-config",
            "defaultMode": 0o440,
        }
        assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}


def test_k8s_output_is_deterministic_and_quotes_every_string() -> None:
    text = _k8s()
    assert text == _k8s()
    assert 'schedule: "15 3 * * *"' in text and 'schedule: "@weekly"' in text
    lines = text.splitlines()
    assert lines[0].startswith("# ") and lines[1] == "---"
    assert lines.count("---") == 3
    assert "\nspec:\n" in text and "schedule: 15" not in text


def test_k8s_names_are_checked() -> None:
    base = {"image": "img:1", "config_secret": "cfg", "namespace": "ns"}
    for bad in (
        {"namespace": "Bad_NS"},
        {"namespace": "ns\n"},
        {"config_secret": "a/b"},
        {"image": "has space"},
    ):
        with pytest.raises(ConfigError):
            render_k8s(_schedules(), **{**base, **bad})
    sa = k8s_cronjobs(
        _schedules(),
        image="img:1",
        config_secret="cfg",
        namespace="ns",
        service_account="evidence-collector",
    )
    assert sa[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == (
        "evidence-collector"
    )


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=20))
_keys = st.text(min_size=1, max_size=12)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=20,
)


@given(st.dictionaries(_keys, _values, max_size=6))
def test_the_yaml_emitter_round_trips_through_a_yaml_parser(doc: dict) -> None:  # type: ignore[type-arg]
    assert yaml.safe_load(dump_yaml(doc)) == (doc or None)
