"""Like-for-like published rows (tradeoff.stages.mnist_tables.paper_comparison, tradeoff.adversarial.published)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.adversarial.published import PUBLISHED, attack_matches, recipe_mismatch
from tradeoff.stages.mnist_tables import paper_comparison

MADRY = {"recipe": "linf-0.3", "model": "madry", "objective": "pgd", "norm": "linf", "eps": 0.3, "optimizer": "adam"}


def _row(attack: str, steps: int, restarts: int, alpha: float, acc: float, recipe: str = "linf-0.3") -> dict:
    return {"recipe": recipe, "size": 60000, "attack": attack, "norm": "none" if attack == "clean" else "linf",
            "eps": 0.0 if attack == "clean" else 0.3, "steps": steps, "restarts": restarts, "alpha": alpha,
            "device": "cpu", "precision": "fp32", "accuracy_mean": acc, "accuracy_std": 0.0, "n_seeds": 2}


def test_trades_row_is_the_published_model() -> None:
    trades = [p for p in PUBLISHED if p["key"] == "trades"]
    assert {p["model"] for p in trades} == {"TRADES (1/lambda = 6; 4-conv SmallCNN, SGD)"}
    assert {(p["attack"], p["robust"]) for p in trades} == {("pgd", 0.9607), ("autoattack", 0.9281)}
    beta1 = {"model": "madry", "objective": "trades", "norm": "linf", "eps": 0.3, "trades_beta": 1.0,
             "optimizer": "adam"}
    assert recipe_mismatch(beta1, "trades") == ("model madry, published trades-smallcnn; trades_beta 1.0, "
                                                "published 6.0; optimizer adam, published sgd")
    assert recipe_mismatch(MADRY, "madry") == ""
    assert "model small" in recipe_mismatch({**MADRY, "model": "small"}, "madry")


def test_attack_matching_needs_steps_restarts_and_step() -> None:
    pgd40 = next(p for p in PUBLISHED if p["key"] == "madry" and p["steps"] == 40)
    assert attack_matches(_row("pgd", 40, 1, 0.01, 0.9), pgd40)
    assert not attack_matches(_row("pgd", 40, 1, 2.5 * 0.3 / 40, 0.9), pgd40)  # our default step
    assert not attack_matches(_row("pgd", 10, 1, 0.01, 0.9), pgd40)  # PGD-10 is not PGD-40
    assert not attack_matches({**_row("pgd", 40, 1, 0.01, 0.9), "eps": 0.2}, pgd40)


def test_comparison_is_like_for_like_or_says_why_not(tmp_path: Path) -> None:
    summary = pd.DataFrame([_row("clean", 0, 0, 0.0, 0.985), _row("pgd", 40, 1, 0.01, 0.93),
                            _row("pgd", 10, 1, 0.075, 0.95), _row("autoattack", 100, 1, np.nan, 0.88),
                            _row("clean", 0, 0, 0.0, 0.99, "trades-1")])
    summary.to_csv(tmp_path / "s.csv", index=False)
    recipes = [MADRY, {"recipe": "trades-1", "model": "madry", "objective": "trades", "norm": "linf", "eps": 0.3,
                       "trades_beta": 1.0, "optimizer": "adam"}]
    table = paper_comparison(str(tmp_path / "s.csv"), str(tmp_path / "p.csv"), str(tmp_path / "p.md"),
                             compare={"linf-0.3": "madry", "trades-1": "trades"}, size=60000, recipes=recipes)
    madry = table[table["recipe"] == "linf-0.3"]
    assert madry["status"].tolist() == ["like for like", "not run", "like for like"]  # PGD-40, PGD-100 x 20, AA
    assert madry["our_robust"].tolist()[0] == 0.93 and np.isnan(madry["our_robust"].tolist()[1])
    assert madry["our_clean"].tolist()[0] == 0.985 and madry["n_seeds"].tolist()[0] == 2
    trades = table[table["recipe"] == "trades-1"]
    assert trades["status"].str.startswith("different recipe (model madry").all()
    assert trades["our_clean"].isna().all()
    md = (tmp_path / "p.md").read_text()
    assert "| Madry adversarial training | PGD-100 x 20, step 0.01 | 98.80% / 89.30% | PGD ℓ∞ ε=0.3 (`linf-0.3`) (60000) | not run |" in md
    assert "98.50% / 93.00% (2)" in md


def test_fast_row_is_like_for_like_for_wongs_net_at_its_own_size(tmp_path: Path) -> None:
    # Wong et al.'s net (ours: wong) with FGSM-RS is the Fast recipe; sizes are per recipe
    summary = pd.DataFrame([{**_row("clean", 0, 0, 0.0, 0.986, "fast"), "size": 55000},
                            {**_row("pgd", 50, 10, 0.01, 0.86, "fast"), "size": 55000},
                            {**_row("clean", 0, 0, 0.0, 0.985), "size": 4000}])
    summary.to_csv(tmp_path / "s.csv", index=False)
    fast = {"recipe": "fast", "model": "wong", "objective": "fgsm", "norm": "linf", "eps": 0.3, "random_start": True,
            "optimizer": "adam"}
    table = paper_comparison(str(tmp_path / "s.csv"), str(tmp_path / "p.csv"), str(tmp_path / "p.md"),
                             compare={"fast": "fast", "linf-0.3": "madry"}, size={"fast": 55000, "linf-0.3": 4000},
                             recipes=[fast, MADRY])
    row = table[table["recipe"] == "fast"].iloc[0]
    assert (row["status"], row["size"], row["our_robust"], row["our_clean"]) == ("like for like", 55000, 0.86, 0.986)
    assert set(table.loc[table["recipe"] == "linf-0.3", "size"]) == {4000}
    assert "random_start False" in recipe_mismatch({**fast, "random_start": False}, "fast")
