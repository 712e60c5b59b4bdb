"""Paper Figs. 7 and 1 as verdicts (tradeoff.stages.mnist_tables.mnist_claims), on hand-made
per-example outcomes with known accuracies."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from tradeoff.claims.outcomes import read_outcomes, write_outcomes
from tradeoff.claims.verdicts import CLAIM_COLUMNS, NO_VERDICT, claims_markdown, tally
from tradeoff.stages.mnist_tables import clean_outcomes, mnist_claims, paired, rise_notes

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


def _row(claims: pd.DataFrame, claim: str, recipe: str, level: str, size: int | None = None) -> pd.Series:
    sel = claims[(claims["claim"] == claim) & (claims["recipe"] == recipe) & (claims["level"] == level)]
    if size is not None:
        sel = sel[sel["size"] == size]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def test_verdicts_of_figs_7_and_1_with_one_seed() -> None:
    claims = mnist_claims(_clean(ACC), RECIPES, n_resamples=1000)
    assert list(claims.columns) == CLAIM_COLUMNS
    lose = "robust_lose_standard_accuracy"
    # Fig. 7 at the full training set only (n = 1000), per norm with >= 2 eps: the slope, both levels
    assert set(claims.loc[claims["claim"] == lose, "size"]) == {1000}
    slope = _row(claims, lose, "linf PGD recipes", "models")
    expected = np.polyfit([0.0, 0.1, 0.3], [0.97, 0.965, 0.90], 1)[0]  # an independent least-squares fit
    assert slope["difference"] == pytest.approx(expected) and slope["verdict"] == "holds"
    assert slope["low"] < expected < slope["high"] < 0 and slope["p_holm"] < 0.05
    assert (slope["n_seeds"], slope["n_images"], slope["n_resamples"]) == (1, N, 1000)
    assert _row(claims, lose, "linf PGD recipes", "recipe")["verdict"] == "not testable (1 seed)"
    assert "l2 PGD recipes" not in set(claims["recipe"])  # one l2 eps: no slope
    shown = claims[claims["verdict"] == NO_VERDICT].set_index("recipe")
    assert sorted(shown.index) == ["l2-1.5", "linf-0.1", "linf-0.3", "trades-1"]  # each eps level and TRADES
    assert not shown["counted"].any() and shown["p"].isna().all()
    assert shown.loc["linf-0.3", "difference"] == pytest.approx(-0.07)
    # Fig. 1: each comparison once, at the smallest and the largest size
    helps, hurts = "adversarial_training_helps_with_few_examples", "adversarial_training_hurts_with_many_examples"
    h = _row(claims, helps, "linf-0.3", "models")
    assert (h["size"], h["standard"], h["robust"], h["verdict"]) == (100, 0.80, 0.88, "holds")
    assert 0 < h["mcnemar_p"] < 1e-6 and h["p"] == h["mcnemar_p"]  # k = 1: the exact McNemar p
    assert _row(claims, hurts, "linf-0.3", "models")["verdict"] == "holds"
    assert _row(claims, hurts, "l2-1.5", "models")["verdict"] == "does not hold"  # 0.99 > 0.97
    eq = _row(claims, helps, "l2-1.5", "models")
    assert eq["verdict"] == "inconclusive" and eq["low"] < 0 < eq["high"]  # equal accuracies
    assert _row(claims, hurts, "l2-1.5", "recipe")["verdict"] == "not testable (1 seed)"
    assert not ((claims["claim"] == helps) & (claims["recipe"] == "trades-1")).any()  # one size only
    assert tally(claims) == {"recipe": {"holds": 0, "does not hold": 0, "inconclusive": 0, "not testable": 5},
                             "models": {"holds": 3, "does not hold": 1, "inconclusive": 1, "not testable": 0}}
    notes = rise_notes(claims)
    assert len(notes) == 1 and "l2-1.5" in notes[0] and "99.00% against 97.00%" in notes[0]
    md = claims_markdown(claims, notes)
    assert "**does not hold**" in md and "*inconclusive*" in md and "*not testable (1 seed)*" in md
    assert "models: 3 holds, 1 does not hold, 1 inconclusive, 0 not testable" in md


def _clean_per_seed(acc: dict[tuple[str, int], tuple[float, ...]], n: int = N):
    return {m: {s: _outcomes(a, zlib.crc32(repr((m, s)).encode()), n) for s, a in enumerate(accs)}
            for m, accs in acc.items()}


def test_recipe_level_is_the_paired_t_test_on_per_seed_differences() -> None:
    acc = {("standard", 100): (0.80, 0.80, 0.80), ("linf-0.3", 100): (0.88, 0.85, 0.87),
           ("standard", 1000): (0.97, 0.97, 0.97), ("linf-0.3", 1000): (0.90, 0.92, 0.91)}
    claims = mnist_claims(_clean_per_seed(acc), RECIPES, n_resamples=500)
    hurts = _row(claims, "adversarial_training_hurts_with_many_examples", "linf-0.3", "recipe")
    assert hurts["per_seed"] == "-0.07; -0.05; -0.06"
    ref = scipy_stats.ttest_1samp([-0.07, -0.05, -0.06], 0.0)
    assert hurts["p"] == pytest.approx(ref.pvalue) and hurts["difference"] == pytest.approx(-0.06)
    # two rows in the recipe level's family: Holm multiplies the smaller p by 2; the interval is the
    # t-interval at the row's Holm step
    helps = _row(claims, "adversarial_training_helps_with_few_examples", "linf-0.3", "recipe")
    ps = sorted([hurts["p"], helps["p"]])
    assert min(hurts["p_holm"], helps["p_holm"]) == pytest.approx(2 * ps[0])
    assert hurts["p"] < helps["p"]  # t = -10.4 against 7.6: hurts is Holm's first step, level 0.025
    half = scipy_stats.t.ppf(1 - 0.025 / 2, 2) * 0.01 / np.sqrt(3)
    assert (hurts["low"], hurts["high"]) == pytest.approx((-0.06 - half, -0.06 + half))
    assert hurts["verdict"] == ("holds" if hurts["p_holm"] < 0.05 else "inconclusive")
    models = _row(claims, "adversarial_training_hurts_with_many_examples", "linf-0.3", "models")
    assert models["verdict"] == "holds" and np.isnan(models["mcnemar_p"])  # k = 3: the bootstrap's p


def test_small_difference_with_few_images_is_inconclusive() -> None:
    # 0.5 points on 2,000 images is within noise; the same gap on 500 images also misses the rule's minimum
    acc = {("standard", 1000): 0.96, ("linf-0.3", 1000): 0.955, ("standard", 100): 0.8, ("linf-0.3", 100): 0.8}
    claims = mnist_claims(_clean(acc), RECIPES, n_resamples=500)
    row = _row(claims, "adversarial_training_hurts_with_many_examples", "linf-0.3", "models")
    assert row["verdict"] == "inconclusive" and row["reason"] == ""
    small = mnist_claims(_clean({("standard", 1000): 0.99, ("linf-0.3", 1000): 0.5, ("standard", 100): 0.8,
                                 ("linf-0.3", 100): 0.8}, n=500), RECIPES, n_resamples=500)
    row = _row(small, "adversarial_training_hurts_with_many_examples", "linf-0.3", "models")
    assert row["verdict"] == "inconclusive" and row["reason"] == "500 images < minimum 1000"


def test_seeds_and_pairing_by_image_index() -> None:
    clean = _clean({("standard", 1000): 0.97, ("linf-0.3", 1000): 0.90, ("standard", 100): 0.8,
                    ("linf-0.3", 100): 0.85}, seeds=(0, 1))
    clean[("linf-0.3", 1000)][3] = _outcomes(0.5, 9)  # a seed the standard model lacks: not used
    rev = {m: {s: o.iloc[::-1] for s, o in by.items()} for m, by in clean.items()}
    a = mnist_claims(clean, RECIPES, n_resamples=300)
    b = mnist_claims(rev, RECIPES, n_resamples=300)
    row = _row(a, "adversarial_training_hurts_with_many_examples", "linf-0.3", "recipe")
    assert row["n_seeds"] == 2 and row["verdict"] == "not testable (2 seeds)"
    assert a["difference"].tolist() == pytest.approx(b["difference"].tolist())
    data = paired(clean, [("standard", 1000), ("linf-0.3", 1000)])
    assert len(data) == 2 and data[0].shape == (N, 2)


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
