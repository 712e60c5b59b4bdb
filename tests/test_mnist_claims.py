"""Paper Figs. 7 and 1 as verdicts (tradeoff.stages.mnist_tables.mnist_claims), on hand-made
per-example outcomes with known accuracies."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from tradeoff.claims import CLAIM_COLUMNS, claims_markdown
from tradeoff.outcomes import read_outcomes, write_outcomes
from tradeoff.stages.mnist_tables import clean_outcomes, mnist_claims, paired

N = 2000


def _outcomes(acc: float, seed: int, n: int = N) -> pd.Series:
    """Exactly round(acc * n) of n images correct, at random positions; indexed by image id."""
    rng = np.random.default_rng(seed)
    ok = np.zeros(n, bool)
    ok[rng.permutation(n)[: round(acc * n)]] = True
    return pd.Series(ok, index=np.arange(n))


def _clean(acc: dict[tuple[str, int], float], seeds: tuple[int, ...] = (0,), n: int = N):
    return {m: {s: _outcomes(a, zlib.crc32(repr((m, s)).encode()), n) for s in seeds} for m, a in acc.items()}


RECIPES = pd.DataFrame([
    {"recipe": "standard", "objective": "standard", "norm": np.nan, "eps": np.nan},
    {"recipe": "linf-0.1", "objective": "pgd", "norm": "linf", "eps": 0.1},
    {"recipe": "linf-0.3", "objective": "pgd", "norm": "linf", "eps": 0.3},
    {"recipe": "l2-1.5", "objective": "pgd", "norm": "l2", "eps": 1.5},
    {"recipe": "trades-1", "objective": "trades", "norm": "linf", "eps": 0.3},
])

ACC = {("standard", 100): 0.80, ("linf-0.3", 100): 0.88, ("l2-1.5", 100): 0.80,
       ("standard", 1000): 0.97, ("linf-0.1", 1000): 0.965, ("linf-0.3", 1000): 0.90,
       ("l2-1.5", 1000): 0.99, ("trades-1", 1000): 0.96}


def test_verdicts_of_figs_7_and_1() -> None:
    claims = mnist_claims(_clean(ACC), RECIPES, n_resamples=1000)
    assert list(claims.columns) == CLAIM_COLUMNS
    by = claims[(claims["claim"] == "robust_lose_standard_accuracy") & (claims["size"] == 1000)].set_index("metric")
    linf = by.loc["clean accuracy, linf PGD training at eps 0.3"]
    assert (linf["recipe"], linf["standard"], linf["robust"]) == ("linf-0.3", 0.97, 0.90)
    assert linf["difference"] == pytest.approx(-0.07) and linf["verdict"] == "holds"
    assert linf["low"] < -0.07 < linf["high"] < 0 and linf["interval_level"] > 0.95
    assert (linf["n_seeds"], linf["n_images"], linf["n_resamples"]) == (1, N, 1000)
    assert 0 < linf["mcnemar_p"] < 1e-6 and linf["p_holm"] < 0.05
    rho = by.loc["Spearman rho(training eps, clean accuracy), linf PGD with standard as eps 0"]
    assert rho["difference"] == pytest.approx(-1.0) and rho["verdict"] == "holds" and np.isnan(rho["mcnemar_p"])
    l2 = by.loc["clean accuracy, l2 PGD training at eps 1.5"]
    assert l2["verdict"] == "does not hold" and l2["low"] > 0  # 0.99 > 0.97, decided the other way
    fig1 = claims[claims["claim"].str.startswith("adversarial_training")].set_index(["claim", "recipe"])
    assert fig1.loc[("adversarial_training_helps_with_few_examples", "linf-0.3"), "verdict"] == "holds"
    assert fig1.loc[("adversarial_training_hurts_with_many_examples", "linf-0.3"), "verdict"] == "holds"
    eq = fig1.loc[("adversarial_training_helps_with_few_examples", "l2-1.5")]
    assert eq["verdict"] == "inconclusive" and eq["low"] < 0 < eq["high"]  # equal accuracies
    assert fig1.loc[("adversarial_training_helps_with_few_examples", "linf-0.3"), "size"] == 100
    assert ("adversarial_training_helps_with_few_examples", "trades-1") not in fig1.index  # one size only
    md = claims_markdown(claims)
    assert md.count("\n") == len(claims) + 2
    assert "**does not hold**" in md and "*inconclusive*" in md and "| 1 | 2000 | 1000 |" in md


def test_small_difference_with_few_images_is_inconclusive() -> None:
    # 0.5 points on 2,000 images is within noise; the same gap on 500 images also misses the rule's minimum
    acc = {("standard", 1000): 0.96, ("linf-0.3", 1000): 0.955}
    claims = mnist_claims(_clean(acc), RECIPES, n_resamples=500)
    assert claims["verdict"].tolist() == ["inconclusive"] and claims["reason"].tolist() == [""]
    small = mnist_claims(_clean({("standard", 1000): 0.99, ("linf-0.3", 1000): 0.5}, n=500), RECIPES,
                         n_resamples=500)
    assert small["verdict"].tolist() == ["inconclusive"]
    assert small["reason"].tolist() == ["500 images < minimum 1000"]


def test_seeds_and_pairing_by_image_index() -> None:
    clean = _clean({("standard", 1000): 0.97, ("linf-0.3", 1000): 0.90}, seeds=(0, 1, 2))
    clean[("linf-0.3", 1000)][3] = _outcomes(0.5, 9)  # a seed the standard model lacks: not used
    rev = {m: {s: o.iloc[::-1] for s, o in by.items()} for m, by in clean.items()}
    a = mnist_claims(clean, RECIPES, n_resamples=300)
    b = mnist_claims(rev, RECIPES, n_resamples=300)
    assert a["n_seeds"].tolist() == [3] and a["verdict"].tolist() == ["holds"]
    assert a["difference"].tolist() == pytest.approx(b["difference"].tolist())
    data = paired(clean, [("standard", 1000), ("linf-0.3", 1000)])
    assert len(data) == 3 and data[0].shape == (N, 2)


def test_no_standard_model_no_claims() -> None:
    claims = mnist_claims(_clean({("linf-0.3", 100): 0.9}), RECIPES)
    assert claims.empty and list(claims.columns) == CLAIM_COLUMNS


def test_outcomes_file_round_trip(tmp_path) -> None:
    rows = pd.DataFrame({"recipe": "linf-0.3", "size": 100, "seed": 2, "attack": ["clean", "pgd"],
                         "norm": ["none", "linf"], "eps": [0.0, 0.3], "steps": [0, 10], "restarts": [0, 1],
                         "alpha": [0.0, 0.075]})
    correct = np.array([[True, True, False], [True, False, False]])
    path = str(tmp_path / "o.npz")
    write_outcomes(path, rows, correct, np.array([7, 3, 5]))
    model, specs, got, index = read_outcomes(path)
    assert model == ("linf-0.3", 100, 2) and index.tolist() == [7, 3, 5] and (got == correct).all()
    assert specs["attack"].tolist() == ["clean", "pgd"] and specs["alpha"].tolist() == [0.0, 0.075]
    clean = clean_outcomes([path])
    assert clean[("linf-0.3", 100)][2].to_dict() == {7: True, 3: True, 5: False}
    with pytest.raises(ValueError, match="do not match"):
        write_outcomes(path, rows, correct[:, :2], np.array([7, 3, 5]))
