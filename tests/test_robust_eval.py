"""Tests for tradeoff.adversarial.robust_eval, on a SmallCNN trained briefly on a synthetic 10-class task."""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import REPO, synthetic
from torch import nn

from tradeoff.adversarial.attacks import pgd
from tradeoff.adversarial.robust_eval import (
    ATTACKS,
    accuracy,
    evaluate_grid,
    evaluate_grid_outcomes,
    normalize_spec,
    predict,
    run_attack,
    sanity_checks,
)
from tradeoff.nets.models import build_model

torch.set_num_threads(1)

COLUMNS = ["attack", "norm", "eps", "steps", "restarts", "alpha", "random_start", "n",
           "n_correct", "accuracy", "seconds"]


@pytest.fixture(scope="module")
def model(synthetic_model: nn.Module) -> nn.Module:
    return synthetic_model


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic(64, seed=2)


class Quantized(nn.Module):
    """Gradient masking: inputs rounded to 8 levels, so input gradients are zero."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 8) / 8)


def test_accuracy_and_predict(model, data) -> None:
    x, y = data
    with torch.no_grad():
        manual = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy(model, x, y, batch_size=10) == pytest.approx(manual)
    assert predict(model, x, batch_size=7).tolist() == model(x).argmax(1).tolist()
    assert manual > 0.8


def test_normalize_spec() -> None:
    s = normalize_spec({"attack": "PGD", "norm": "Linf", "eps": 0.3, "steps": 40})
    assert s == {"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": 40, "restarts": 1,
                 "alpha": pytest.approx(2.5 * 0.3 / 40), "random_start": True}
    assert normalize_spec(s) == s
    f = normalize_spec({"attack": "fgsm", "norm": "l2", "eps": 1.5})
    assert f["alpha"] == 1.5 and f["steps"] == 1 and not f["random_start"]
    a = normalize_spec({"attack": "autoattack", "norm": "linf", "eps": 0.3})
    assert a["steps"] == 100 and a["version"] == "standard" and a["n_queries"] == 5000
    assert normalize_spec({"attack": "clean"})["eps"] == 0.0
    with pytest.raises(ValueError, match="autoattack"):
        normalize_spec({"attack": "cw", "norm": "l2", "eps": 1.0})
    with pytest.raises(ValueError, match="l2"):
        normalize_spec({"attack": "pgd", "norm": "l1", "eps": 1.0})
    with pytest.raises(ValueError, match="stepz"):
        normalize_spec({"attack": "pgd", "norm": "l2", "eps": 1.0, "stepz": 3})


def test_schema_attack_enum_and_keys_equal_the_registry() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    item = (schema["properties"]["mnist"]["properties"]["evaluation"]["properties"]["attacks"]
            ["items"])
    assert item["properties"]["attack"]["enum"] == list(ATTACKS)
    # besides the attacks' own keys, an entry may name the recipes whose models run it (a grid key)
    assert set(item["properties"]) == set().union(*(kind.keys() for kind in ATTACKS.values())) | {"recipes"}


def test_alpha_and_random_start_reproduce_a_published_protocol(model, data) -> None:
    """Madry's evaluation protocol (fixed alpha 0.01, here without a random start) exactly."""
    x, y = data
    spec = {"attack": "pgd", "norm": "linf", "eps": 0.05, "steps": 4, "restarts": 1,
            "alpha": 0.01, "random_start": False}
    s = normalize_spec(spec)
    assert s["alpha"] == 0.01 and s["random_start"] is False
    ref = pgd(model, x, y, norm="linf", eps=0.05, alpha=0.01, steps=4, random_start=False)
    assert torch.equal(run_attack(model, x, y, spec, engine="eager"), ref)
    assert not torch.equal(run_attack(model, x, y, {**spec, "random_start": True},
                                      generator=torch.Generator().manual_seed(0),
                                      engine="eager"), ref)
    row = evaluate_grid(model, x, y, [spec]).iloc[0]
    assert row["alpha"] == 0.01 and not row["random_start"]
    with torch.no_grad():
        robust = (model(x).argmax(1) == y) & (model(ref).argmax(1) == y)
    assert row["n_correct"] == int(robust.sum())
    f = normalize_spec({"attack": "fgsm", "norm": "linf", "eps": 0.1, "alpha": 0.125,
                        "random_start": True})  # FGSM-RS ("Fast is better than free")
    assert f["alpha"] == 0.125 and f["random_start"] is True


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_registered_attack_runs_in_the_ball(model, data, name) -> None:
    x, y = data[0][:8], data[1][:8]
    spec = {"attack": name, "norm": "linf", "eps": 0.05, "steps": 2, "n_queries": 5}
    spec = {k: v for k, v in spec.items() if k in ATTACKS[name].keys()}
    x_adv = run_attack(model, x, y, spec, generator=torch.Generator().manual_seed(0))
    s = normalize_spec(spec)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= s["eps"] + 1e-6


def test_grid_rows(model, data) -> None:
    x, y = data
    grid = [
        {"attack": "clean"},
        {"attack": "fgsm", "norm": "linf", "eps": 0.03},
        {"attack": "pgd", "norm": "linf", "eps": 0.03, "steps": 10},
        {"attack": "fgsm", "norm": "l2", "eps": 0.6},
        {"attack": "pgd", "norm": "l2", "eps": 0.6, "steps": 10, "restarts": 2},
    ]
    state = torch.get_rng_state()
    df = evaluate_grid(model, x, y, grid, batch_size=24, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert list(df.columns) == COLUMNS
    assert df["attack"].tolist() == ["clean", "fgsm", "pgd", "fgsm", "pgd"]
    assert df["norm"].tolist() == ["none", "linf", "linf", "l2", "l2"]
    assert df["steps"].tolist() == [0, 1, 10, 1, 10]
    assert df["restarts"].tolist() == [0, 1, 1, 1, 2]
    assert df.loc[2, "alpha"] == pytest.approx(2.5 * 0.03 / 10)
    assert (df["n"] == len(y)).all()
    assert df["accuracy"].between(0, 1).all()
    assert (df["accuracy"] == df["n_correct"] / df["n"]).all()
    assert df.loc[0, "accuracy"] == pytest.approx(accuracy(model, x, y))
    clean = df.loc[0, "accuracy"]
    assert (df["accuracy"] <= clean).all()
    assert df.loc[2, "accuracy"] <= df.loc[1, "accuracy"]  # PGD below FGSM on this model
    assert df.loc[4, "accuracy"] <= df.loc[3, "accuracy"]
    assert df.loc[2, "accuracy"] < clean  # the attack does something
    again = evaluate_grid(model, x, y, grid, batch_size=24, seed=0)
    assert again["n_correct"].tolist() == df["n_correct"].tolist()


def test_grid_outcomes_are_the_table_per_example(model, data) -> None:
    """Per-example outcomes: row i's mean is row i's accuracy; the clean row is predict == y; a
    robust example is clean-correct."""
    x, y = data
    grid = [{"attack": "clean"}, {"attack": "pgd", "norm": "linf", "eps": 0.03, "steps": 5}]
    df, outcomes = evaluate_grid_outcomes(model, x, y, grid, batch_size=24, seed=0)
    assert outcomes.dtype == bool and outcomes.shape == (2, len(y))
    assert outcomes.sum(1).tolist() == df["n_correct"].tolist()
    assert (outcomes[0] == (predict(model, x) == y).numpy()).all()
    assert not (outcomes[1] & ~outcomes[0]).any() and outcomes[1].sum() < outcomes[0].sum()
    assert evaluate_grid(model, x, y, grid, batch_size=24, seed=0)["n_correct"].tolist() == df["n_correct"].tolist()


def test_grid_is_nested_in_steps_and_restarts(model, data) -> None:
    x, y = data
    alpha = 0.03 / 4
    grid = [{"attack": "pgd", "norm": "linf", "eps": 0.03, "steps": s, "alpha": alpha}
            for s in (1, 3, 6)]
    grid += [{"attack": "pgd", "norm": "linf", "eps": 0.03, "steps": 3, "alpha": alpha,
              "restarts": r} for r in (2, 3)]
    acc = evaluate_grid(model, x, y, grid, batch_size=32, seed=1)["accuracy"].tolist()
    assert acc[0] >= acc[1] >= acc[2]
    assert acc[1] >= acc[3] >= acc[4]


def test_model_mode_restored(model, data) -> None:
    x, y = data
    model.train()
    try:
        grid = [{"attack": "clean"}, {"attack": "pgd", "norm": "l2", "eps": 1.0, "steps": 2}]
        evaluate_grid(model, x[:8], y[:8], grid)
        assert model.training and all(m.training for m in model.modules())
    finally:
        model.eval()


def test_sanity_checks_pass_on_honest_model(model, data) -> None:
    x, y = data
    source = build_model("small")  # an unrelated (untrained) source: weak transfer
    out = sanity_checks(model, x[:32], y[:32], norm="linf", eps=0.03, steps=10,
                        source_model=source, batch_size=16)
    assert out["large_eps"] == 0.5
    assert out["large_eps_accuracy"] <= 0.05 and out["large_eps_ok"]
    assert len(out["loss_trajectory"]) == 11
    assert out["loss_final"] > out["loss_initial"] and out["loss_rises_ok"]
    assert 0 <= out["whitebox_accuracy"] <= out["clean_accuracy"]
    assert out["transfer_accuracy"] >= out["whitebox_accuracy"] and out["transfer_ok"]
    assert out["passed"] is True
    l2 = sanity_checks(model, x[:16], y[:16], norm="l2", eps=0.6, steps=5)
    assert l2["large_eps"] == 6.0 and l2["transfer_ok"] is None and l2["passed"]


def test_sanity_checks_flag_gradient_masking(model, data) -> None:
    x, y = data
    masked = Quantized(model)
    out = sanity_checks(masked, x[:16], y[:16], norm="linf", eps=0.03, steps=5, source_model=model)
    assert not out["loss_rises_ok"]
    assert not out["large_eps_ok"]
    assert out["passed"] is False


def test_autoattack_tiny(model, data) -> None:
    """CPU-cheap AutoAttack: 16 examples, 10 APGD/APGD-T/FAB-T iterations, 100 Square queries
    (the default, as in the original AutoAttack, is 100 iterations and 5000 queries)."""
    x, y = data[0][:16], data[1][:16]
    state = torch.get_rng_state()
    df = evaluate_grid(model, x, y, [
        {"attack": "clean"},
        {"attack": "autoattack", "norm": "linf", "eps": 0.03, "steps": 10, "n_queries": 100},
    ], seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # torchattacks' reseeding is contained
    assert df["attack"].tolist() == ["clean", "autoattack"]
    assert 0 <= df.loc[1, "accuracy"] < df.loc[0, "accuracy"]
    assert all(p.grad is None for p in model.parameters())
