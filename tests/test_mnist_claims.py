"""Paper Figs. 7 and 1 as claims (tradeoff.stages.mnist_tables.mnist_claims), on hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeoff.claims import CLAIM_COLUMNS, claims_markdown
from tradeoff.stages.mnist_tables import mnist_claims


def _summary(clean: dict[tuple[str, int], float]) -> pd.DataFrame:
    rows = [{"recipe": r, "size": n, "attack": "clean", "accuracy_mean": a} for (r, n), a in clean.items()]
    rows.append({"recipe": "standard", "size": 1000, "attack": "pgd", "accuracy_mean": 0.0})  # ignored
    return pd.DataFrame(rows)


RECIPES = pd.DataFrame([
    {"recipe": "standard", "objective": "standard", "norm": np.nan, "eps": np.nan},
    {"recipe": "linf-0.1", "objective": "pgd", "norm": "linf", "eps": 0.1},
    {"recipe": "linf-0.3", "objective": "pgd", "norm": "linf", "eps": 0.3},
    {"recipe": "l2-1.5", "objective": "pgd", "norm": "l2", "eps": 1.5},
    {"recipe": "trades-1", "objective": "trades", "norm": "linf", "eps": 0.3},
])


def test_claims_of_figs_7_and_1() -> None:
    clean = {("standard", 100): 0.80, ("linf-0.3", 100): 0.85, ("l2-1.5", 100): 0.78,
             ("standard", 1000): 0.97, ("linf-0.1", 1000): 0.965, ("linf-0.3", 1000): 0.95,
             ("l2-1.5", 1000): 0.975, ("trades-1", 1000): 0.96}
    claims = mnist_claims(_summary(clean), RECIPES)
    assert list(claims.columns) == CLAIM_COLUMNS
    fig7 = claims[(claims["claim"] == "robust_lose_standard_accuracy") & (claims["size"] == 1000)]
    by = fig7.set_index("metric")
    linf = by.loc["clean accuracy, linf PGD training at eps 0.3"]
    assert (linf["recipe"], linf["standard"], linf["robust"]) == ("linf-0.3", 0.97, 0.95) and linf["holds"]
    assert linf["difference"] == pytest.approx(-0.02)
    rho = by.loc["Spearman rho(training eps, clean accuracy), linf PGD with standard as eps 0"]
    assert rho["robust"] == pytest.approx(-1.0) and rho["holds"] and np.isnan(rho["standard"])
    l2 = by.loc["clean accuracy, l2 PGD training at eps 1.5"]
    assert not l2["holds"]  # 0.975 > 0.97: the claim fails for it, and says so
    assert "Spearman rho(training eps, clean accuracy), l2 PGD with standard as eps 0" not in by.index  # one eps
    fig1 = claims[claims["claim"].str.startswith("adversarial_training")].set_index(["claim", "recipe"])
    assert fig1.loc[("adversarial_training_helps_with_few_examples", "linf-0.3"), "holds"]
    assert fig1.loc[("adversarial_training_hurts_with_many_examples", "linf-0.3"), "holds"]
    assert not fig1.loc[("adversarial_training_helps_with_few_examples", "l2-1.5"), "holds"]
    assert fig1.loc[("adversarial_training_helps_with_few_examples", "linf-0.3"), "size"] == 100
    assert ("adversarial_training_helps_with_few_examples", "trades-1") not in fig1.index  # one size only
    md = claims_markdown(claims)
    assert md.count("\n") == len(claims) + 2 and "**no**" in md and "| —" in md


def test_no_standard_model_no_claims() -> None:
    claims = mnist_claims(_summary({("linf-0.3", 100): 0.9}), RECIPES)
    assert claims.empty and list(claims.columns) == CLAIM_COLUMNS
