"""Rendering for the CLI: logging set-up and JSON output."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from rich.console import Console

console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


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


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console, show_path=False, show_time=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines(tracebacks=verbose))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    # The connector and the fake server are chatty at INFO.
    for noisy in ("snowflake", "fakesnow", "uvicorn", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The connector logs every retry as a warning and a failure with its traceback; the
    # error it raises is diagnosed and reported once (connection.py). --verbose shows them.
    logging.getLogger("snowflake").setLevel(logging.WARNING if verbose else logging.CRITICAL + 1)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
