"""Fuzz every parser hostile bytes reach: it returns or raises a product error, nothing else.

The suite's budget is short (``max_examples=200`` per parser); set
``EVIDENCE_FUZZ_SECONDS=300`` to run each parser that long instead
(``tests/fuzz/run.py`` does the same outside pytest and prints the rate).
"""

from __future__ import annotations

import contextlib
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import ALLOWED, SEEDS, TARGETS, mutate

SECONDS = float(os.environ.get("EVIDENCE_FUZZ_SECONDS", "0"))


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(
    max_examples=200 if not SECONDS else 10**9,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@given(raw=st.binary(max_size=4096), seed=st.integers(0, 2**32 - 1), use_raw=st.booleans())
def test_parser_raises_only_product_errors(name: str, raw: bytes, seed: int, use_raw: bool) -> None:
    data = raw if use_raw else mutate(SEEDS[name], random.Random(seed))
    with contextlib.suppress(*ALLOWED):
        TARGETS[name](data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seed_is_accepted_or_refused_cleanly(name: str) -> None:
    with contextlib.suppress(*ALLOWED):
        TARGETS[name](SEEDS[name])


@pytest.mark.skipif(not SECONDS, reason="set EVIDENCE_FUZZ_SECONDS for a long run")
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_for_a_time_budget(name: str) -> None:
    from tests.fuzz.run import fuzz

    _, failures = fuzz(name, SECONDS)
    assert not failures, failures[:3]
