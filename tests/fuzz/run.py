"""Fuzz each parser for N seconds and print examples/second and failures.

PYTHONPATH=src python -m tests.fuzz.run 300            # every parser, 300 s each
PYTHONPATH=src python -m tests.fuzz.run 60 pack_zip    # one parser
"""

from __future__ import annotations

import random
import sys
import time
import traceback

from tests.fuzz.targets import ALLOWED, SEEDS, TARGETS, mutate


def fuzz(name: str, seconds: float, seed: int = 0) -> tuple[int, list[str]]:
    rnd = random.Random(seed)
    target, base = TARGETS[name], SEEDS[name]
    failures: list[str] = []
    examples = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        raw = rnd.random() < 0.2
        data = rnd.randbytes(rnd.randint(0, 4096)) if raw else mutate(base, rnd)
        examples += 1
        try:
            target(data)
        except ALLOWED:
            pass
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            failures.append(f"{type(e).__name__}: {e} <- {data[:80]!r}")
            if len(failures) == 1:
                traceback.print_exc()
    return examples, failures


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    names = sys.argv[2:] or sorted(TARGETS)
    bad = 0
    for name in names:
        began = time.monotonic()
        examples, failures = fuzz(name, seconds)
        took = time.monotonic() - began
        print(
            f"{name}: {took:.0f} s, {examples} examples, {examples / took:.0f}/s, "
            f"{len(failures)} failures",
            flush=True,
        )
        for f in failures[:5]:
            print(f"  {f}", flush=True)
        bad += len(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
