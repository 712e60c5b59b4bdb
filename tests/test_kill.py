"""A training job killed with SIGKILL leaves nothing Snakemake takes as complete; the next run resumes
from the job's last checkpoint and ends with the same weights as an uninterrupted run (CPU)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, copy_workflow, snakemake
from killing import signal_job_when
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

TARGET = "results/mnist/models/linf-0.3/n~1000/seed~0/weights.safetensors"


def _kill_training_job(proc: subprocess.Popen[str], ckpt_root: Path, timeout: float = 300) -> None:
    """Wait for the job's first checkpoint, then SIGKILL the job's script process (not Snakemake)."""
    signal_job_when(proc, lambda: bool(list(ckpt_root.rglob("epoch-*.safetensors"))), "mnist_train.py",
                    signal.SIGKILL, timeout)


def test_sigkilled_training_resumes_to_identical_weights(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf", REPO / "tests" / "config" / "tiny.yaml", data="none")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", TARGET]
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _kill_training_job(proc, work / "resources" / "checkpoints")
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out
    assert not (work / TARGET).exists(), "a killed job left an output behind"
    done = snakemake(work, TARGET)
    log = (work / "logs/mnist_train/linf-0.3/n~1000/seed~0.log").read_text()
    assert "resuming from" in log, log
    resumed = load_file(work / TARGET)
    # the tiny run's results as built (conftest): asked for only now, so that under xdist this test
    # trains while the tiny run is built on the other worker
    uninterrupted = load_file(request.getfixturevalue("tiny_results").parent / TARGET)
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        assert torch.equal(resumed[name], uninterrupted[name]), name
    assert done.returncode == 0
