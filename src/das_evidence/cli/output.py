"""Rendering for the CLI: logging set-up, progress on a terminal, and JSON output.

Both consoles print text as it is: markup is off, so a path, a stream name or
an error message with ``[brackets]`` in it is never read as a Rich style.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

console = Console(stderr=False, highlight=False, soft_wrap=True, markup=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

#: ``progress(done, total, what)``: the callback library code takes for long work.
ProgressFn = Callable[[int, int, str], None]


class JsonLines(logging.Formatter):
    """One JSON object a line; tracebacks only when asked for (``--verbose``)."""

    def __init__(self, tracebacks: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        evidence = getattr(record, "evidence", None)
        if isinstance(evidence, dict):
            line.update(evidence)
        if record.exc_info and self.tracebacks:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log records to stderr: Rich on a terminal, JSON lines otherwise.

    ``quiet`` keeps only errors; ``verbose`` adds debug records.
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console, show_path=False, show_time=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines(tracebacks=verbose))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    # The connector and the fake server are chatty at INFO.
    for noisy in ("snowflake", "fakesnow", "uvicorn", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    # The connector logs every retry as a warning and a failure with its traceback; the
    # error it raises is diagnosed and reported once (connection.py). --verbose shows them.
    logging.getLogger("snowflake").setLevel(logging.WARNING if verbose else logging.CRITICAL + 1)


#: The least time between two redraws of a progress bar.
REDRAW_SECONDS = 0.1


@contextmanager
def progress_bar(
    title: str, *, enabled: bool = True, forks: bool = False
) -> Iterator[ProgressFn | None]:
    """A progress bar on stderr while the block runs, when stderr is a terminal.

    Yields the callback to hand to the library, or None (no terminal, or not
    ``enabled``, e.g. ``--quiet``): nothing is drawn where no one watches, and
    the bar is gone when the block ends. With ``forks`` (the block may fork) it is
    redrawn from the callback (at most :data:`REDRAW_SECONDS` apart), not by a thread
    of its own: only a process running no other thread may fork, and ``evidence
    verify`` reads files in forked readers then (``verify/readers.py``), on a terminal
    as in cron. Otherwise a thread redraws it, so its clock moves during a long wait.
    """
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn(title, markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=err_console,
        transient=True,
        auto_refresh=not forks,
    ) as bar:
        task = bar.add_task("", total=None)
        drawn = [0.0]

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total or None, description=what)
            if not forks:
                return
            now = time.monotonic()
            if now - drawn[0] >= REDRAW_SECONDS or (total and done >= total):
                drawn[0] = now
                bar.refresh()

        yield update


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
