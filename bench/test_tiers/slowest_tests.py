"""The slowest tests of a pytest run, as a Markdown table for bench/RESULTS.md.

pytest prints them itself (pyproject's ``--durations=25``); this reads that block from a saved log
and writes one row per entry (seconds, phase, test), slowest first, with the total of the listed
entries:

    make test 2>&1 | tee test.log
    .venv/bin/python bench/test_tiers/slowest_tests.py test.log [--top 25]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HEADER = re.compile(r"^=+ slowest (?:\d+ )?durations =+$")
ROW = re.compile(r"^(?P<seconds>\d+(?:\.\d+)?)s (?P<phase>setup|call|teardown) +(?P<test>\S.*)$")


def slowest(log: str, top: int = 25) -> list[tuple[float, str, str]]:
    """(seconds, phase, test id) of the durations block of ``log``, slowest first, at most ``top``."""
    rows: list[tuple[float, str, str]] = []
    inside = False
    for line in log.splitlines():
        if HEADER.match(line.strip()):
            inside, rows = True, []  # the last block wins (a log of several runs)
            continue
        if inside:
            m = ROW.match(line.strip())
            if m:
                rows.append((float(m["seconds"]), m["phase"], m["test"]))
            elif line.strip() and not line.startswith("("):
                inside = False
    if not rows:
        raise ValueError("no 'slowest durations' block in the log (run pytest with --durations=N)")
    return sorted(rows, key=lambda r: -r[0])[:top]


def markdown(rows: list[tuple[float, str, str]]) -> str:
    lines = ["| # | seconds | phase | test |", "| ---: | ---: | --- | --- |"]
    lines += [f"| {i} | {s:.1f} | {phase} | `{test}` |" for i, (s, phase, test) in enumerate(rows, 1)]
    lines.append(f"|  | {sum(s for s, _, _ in rows):.1f} | total of these {len(rows)} |  |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path, help="a saved pytest log ('-': standard input)")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    text = sys.stdin.read() if str(args.log) == "-" else args.log.read_text(errors="replace")
    print(markdown(slowest(text, args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
