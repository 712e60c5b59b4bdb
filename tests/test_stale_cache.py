"""The cache never hands back stale weights (issue 27): a training-code change trains afresh, every
weights file says what it is and its readers check it, a missing model is noticed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

TRAIN_SCRIPT = textwrap.dedent("""
    import logging, sys
    import torch
    from tradeoff.adversarial.training import TrainConfig, train
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(0, 10, (48,), generator=g)
    cfg = TrainConfig(model="mlp", lr=1e-2, batch_size=16, epochs=2, device="cpu")
    model, _ = train(cfg, x, y, checkpoint_dir=sys.argv[1], log=logging.getLogger("train"))
    print("WEIGHTS", float(sum(p.abs().sum() for p in model.parameters())))
""")


def _train(src: Path, ckpt: Path) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(ckpt)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    weights = [line for line in proc.stdout.splitlines() if line.startswith("WEIGHTS")]
    return proc.stdout, weights[-1]


def test_a_training_code_change_trains_afresh_and_says_why(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    ckpt = tmp_path / "checkpoints"
    first_log, first = _train(src, ckpt)
    assert "starting fresh" in first_log
    # the probe: the standard objective's loss multiplied by 0 (the model then never learns)
    objectives = src / "tradeoff" / "adversarial" / "objectives.py"
    text = objectives.read_text()
    assert text.count("loss = F.cross_entropy(logits, y)") >= 1
    objectives.write_text(text.replace("loss = F.cross_entropy(logits, y)", "loss = 0 * F.cross_entropy(logits, y)", 1))
    second_log, second = _train(src, ckpt)
    why = [line for line in second_log.splitlines() if "starting fresh" in line]
    assert len(why) == 1 and "other training code" in why[0] and "code " in why[0], second_log
    assert "resuming from" not in second_log
    assert second != first  # the new code's weights, not the old code's
    # the same (new) code resumes its own finished run: nothing retrained, the same weights
    third_log, third = _train(src, ckpt)
    assert "resuming from" in third_log and "epoch 1 iteration" not in third_log, third_log
    assert third == second
    states = [json.loads(p.read_bytes()[8:8 + int.from_bytes(p.read_bytes()[:8], "little")])["__metadata__"]
              for p in ckpt.rglob("epoch-*.safetensors")]
    assert states and all(json.loads(s["tradeoff.state"])["identity"]["torch"] for s in states)
    assert all("cpu" in json.loads(s["tradeoff.state"])["recorded"] for s in states)
