"""Where the block may fork, the progress bar runs no thread of its own, so ``evidence
verify`` on a terminal reads files in forked readers, as in cron (``verify/readers.py``:
only a process running no other thread may fork). rich's bar redraws from a thread unless
told not to; with it, an auditor at a terminal verified on threads (2.7 s against 3.1 s
at a year's simulated archive)."""

from __future__ import annotations

import io
import threading

import pytest
import rich.progress
from rich.console import Console

from das_evidence.cli import output


def test_a_bar_on_a_terminal_is_drawn_without_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(output, "err_console", Console(file=screen, force_terminal=True))
    before = threading.active_count()
    with output.progress_bar("verify", forks=True) as update:
        assert update is not None  # a terminal: a bar
        assert threading.active_count() == before
        for done in range(1, 4):
            update(done, 3, "checking entries")
    assert "checking entries" in screen.getvalue()  # drawn, at the end at least
    with output.progress_bar("collect") as update:  # no fork: a thread keeps its clock
        assert threading.active_count() == before + 1


def test_redraws_are_spaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "err_console", Console(file=io.StringIO(), force_terminal=True))
    clock = iter([100.0, 100.01, 100.02, 100.5, 100.51, 100.52])
    monkeypatch.setattr(output.time, "monotonic", lambda: next(clock))
    drawn: list[float] = []
    real = rich.progress.Progress.refresh

    def refresh(self: rich.progress.Progress) -> None:
        drawn.append(1)
        real(self)

    monkeypatch.setattr(rich.progress.Progress, "refresh", refresh)
    with output.progress_bar("verify", forks=True) as update:
        assert update is not None
        drawn.clear()  # what starting the bar draws
        for done in range(1, 7):
            update(done, 100, "reading objects")
        assert len(drawn) == 2, drawn  # at 100.0 and 100.5 only
