"""A job stopped with SIGTERM leaves no temporary file (issue 27, item 6): the kill is triggered by
the line the writer prints once its temporary file exists, not by timing."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {adapter!r})
    import _adapter
    from tradeoff import io

    class Job:  # the parts of the snakemake object the adapter reads
        log, threads, rule = [], 1, "mnist_tables"
        wildcards = {{}}
        resources = type("R", (), {{"gpu": 0}})()

    _adapter.setup(Job())
    with io.atomic_path(sys.argv[1]) as tmp:
        tmp.write_text("half a table")
        print("WRITING", tmp, flush=True)
        while True:
            time.sleep(0.05)
""")


def test_sigterm_mid_write_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "results" / "mnist" / "paper_comparison.md"
    script = WRITER.format(adapter=str(REPO / "workflow" / "scripts"))
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("WRITING "), (line, proc.stderr.read() if proc.stderr else "")
    tmp = Path(line.split(" ", 1)[1].strip())
    assert tmp.exists() and tmp.name.startswith(".paper_comparison.md.") and tmp.name.endswith(".tmp")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM  # ends as the signal would have
    assert not tmp.exists(), "the temporary file of the stopped write remains"
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
