"""The saliency stage's own logic: the judge's held-out half, and the claims table from hand-made tables."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tradeoff import io
from tradeoff.datasets.mnist import balanced_subset_indices
from tradeoff.stages.saliency import judge_indices
from tradeoff.stages.saliency_tables import (
    CLAIM_COLUMNS,
    linear_claims,
    wilson_interval,
    write_tables,
)


def test_judge_trains_on_the_half_no_studied_model_saw() -> None:
    y = np.repeat(np.arange(10), 41)  # 410 labels: the judge gets the last 205 of the seeded ordering
    for seed in (0, 3):
        for size in (10, 100, 205):
            models, judge = judge_indices(y, size, seed)
            np.testing.assert_array_equal(models, balanced_subset_indices(y, size, seed))  # what training used
            assert len(judge) == 205 and not np.intersect1d(models, judge).size
            assert np.all(np.bincount(y[judge], minlength=10) >= 15)  # every class, roughly balanced
    with pytest.raises(ValueError, match=r"config key saliency.models.size: 206 exceeds half of the 410"):
        judge_indices(y, 206, 0)


def _write(df: pd.DataFrame, path: Path) -> str:
    io.write_csv(df, path)
    return str(path)


def test_claims_from_handmade_tables(tmp_path: Path) -> None:
    """Known per-image values: robust above standard by a wide margin (holds), a weak recipe below it
    (does not hold), thresholding counts from one seed of the standard model (inconclusive: the rule
    needs two seeds)."""
    objectives = {"standard": "standard", "linf": "pgd", "weak": "pgd"}
    rng = np.random.default_rng(0)
    n_img, n_le = 120, 280
    align, large, filt = [], [], []
    # alignment: standard 0.2/0.5, linf 0.6/0.9, weak 0.1/0.4 (+ noise per image; two seeds for linf)
    for recipe, corr, energy, seeds in (("standard", 0.2, 0.5, [0]), ("linf", 0.6, 0.9, [0, 1]),
                                        ("weak", 0.1, 0.4, [0])):
        for seed in seeds:
            rows = [{"recipe": recipe, "size": 100, "seed": seed, "index": i, "label": i % 10, "score": s,
                     "value": v + 0.05 * rng.standard_normal()}
                    for i in range(n_img) for s, v in (("abs_grad_mask_corr", corr + 0.01 * seed),
                                                       ("energy_on_mask", energy), ("mask_area_fraction", 0.3))]
            align.append(_write(pd.DataFrame(rows), tmp_path / f"a_{recipe}_{seed}.csv"))
            share = {"standard": 0.25, "linf": 0.75, "weak": 0.0}[recipe]
            judged = np.arange(n_le) % 4 < round(4 * share)
            large.append(_write(pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "source": np.arange(n_le) // 4,
                                              "label": 0, "target": 1 + np.arange(n_le) % 4,
                                              "success": [recipe != "linf" or i % 4 != 2 for i in range(n_le)],
                                              "distance": 4.0, "judge_label": 0, "judged_target": judged}),
                                tmp_path / f"l_{recipe}_{seed}.csv"))
            n_thr = {"standard": 0, "linf": 3, "weak": 0}[recipe]
            filt.append(_write(pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "filter": range(8),
                                             "thresholding": [k < n_thr for k in range(8)]}),
                               tmp_path / f"f_{recipe}_{seed}.csv"))
    judges = []
    for seed in (0, 1):
        io.write_json({"seed": seed, "architecture": "mlp", "clean_accuracy": 0.9, "n_train": 50},
                      tmp_path / f"j{seed}.json")
        judges.append(str(tmp_path / f"j{seed}.json"))
    linear = _write(pd.DataFrame({"digits": "3-vs-7", "C": 0.1, "classifier": ["standard"] * 3 + ["robust"] * 3,
                                  "eps_train": [0.0] * 3 + [0.1] * 3, "eps_test": [0.0, 0.1, 0.2] * 2,
                                  "accuracy": [0.99, 0.4, 0.1, 0.97, 0.9, 0.5], "n_nonzero": [500] * 3 + [40] * 3}),
                    tmp_path / "linear.csv")
    n_t = 1000
    correct = np.zeros((2, 3, n_t), bool)
    for k, accs in enumerate(([0.99, 0.4, 0.1], [0.97, 0.9, 0.5])):
        for j, acc in enumerate(accs):
            correct[k, j, : round(acc * n_t)] = True
    io.write_npz(tmp_path / "linear.npz", correct=correct, eps_test=np.array([0.0, 0.1, 0.2]),
                 eps_train=np.array([0.0, 0.1]))
    out = SimpleNamespace(**{k: str(tmp_path / f"out_{k}") for k in
                             ("alignment", "alignment_summary", "judge", "filters", "claims", "claims_md")})
    claims = write_tables(align, large, filt, judges, linear, out, objectives=objectives,
                          linear_arrays=str(tmp_path / "linear.npz"), n_resamples=500)
    assert list(claims.columns) == CLAIM_COLUMNS
    by = claims.set_index(["claim", "metric", "recipe"]).sort_index()
    corr = by.loc[("gradients_align", "abs_grad_mask_corr per image")]
    assert corr.loc["linf", "standard"] == pytest.approx(0.2, abs=0.02)
    assert corr.loc["linf", "robust"] == pytest.approx(0.605, abs=0.02)  # mean over its two seeds
    assert corr.loc["linf", "n_seeds"] == 1  # only seed 0 is shared with the standard model
    assert corr.loc["linf", "verdict"] == "holds" and corr.loc["weak", "verdict"] == "does not hold"
    assert corr.loc["linf", "n_images"] == n_img
    judge = by.loc[("large_eps_look_like_target", "share of large-eps examples the judge labels as the target")]
    assert judge.loc["linf", "standard"] == 0.25 and judge.loc["linf", "robust"] == 0.75
    assert judge.loc["linf", "verdict"] == "holds" and judge.loc["linf", "mcnemar_p"] < 1e-6
    assert judge.loc["weak", "difference"] == -0.25 and judge.loc["weak", "verdict"] == "does not hold"
    thr = by.loc[("thresholding_filters", "thresholding first-layer filters (one number per model)")]
    assert thr.loc["linf", "robust"] == 3 and thr.loc["linf", "verdict"] == "inconclusive"
    assert thr.loc["linf", "reason"] == "1 seed(s) < minimum 2"
    lin = claims[claims["claim"].str.startswith("linear")].set_index("metric")
    assert lin.loc["non-zero weights (3-vs-7)", "verdict"] == "holds"
    assert lin.loc["non-zero weights (3-vs-7)", "low"] == lin.loc["non-zero weights (3-vs-7)", "high"] == -460
    assert list(lin.index[1:]) == ["exact l_inf accuracy at eps 0.1 (3-vs-7)", "exact l_inf accuracy at eps 0.2 (3-vs-7)"]
    assert (lin["verdict"] == "holds").all()
    assert lin.loc["exact l_inf accuracy at eps 0.1 (3-vs-7)", "difference"] == pytest.approx(0.5)
    jt = pd.read_csv(out.judge)
    assert jt.loc[jt["recipe"] == "linf", "judged_target"].tolist() == [0.75, 0.75]
    # linf's attack fails on every fourth example (target 3), which the judge labels as the target
    assert jt.loc[jt["recipe"] == "linf", "judged_target_given_success"].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert jt.loc[jt["recipe"] == "standard", "judged_target_given_success"].item() == 0.25
    assert set(jt["judge_architecture"]) == {"mlp"}
    assert (jt["judged_target_ci95_low"] <= jt["judged_target"]).all()
    assert (jt["judged_target"] <= jt["judged_target_ci95_high"]).all()
    summ = pd.read_csv(out.alignment_summary)
    assert summ.loc[(summ["recipe"] == "linf") & (summ["score"] == "energy_on_mask"), "n"].item() == 2 * n_img
    md = Path(out.claims_md).read_text()
    assert "| large_eps_look_like_target (Figs. 3-4) |" in md and "**does not hold**" in md


def test_linear_claims_need_a_robust_fit() -> None:
    acc = pd.DataFrame({"digits": "3-vs-7", "eps_train": [0.0, 0.0], "eps_test": [0.0, 0.1],
                        "accuracy": [0.9, 0.2], "n_nonzero": [10, 10]})
    assert linear_claims(acc) == []


def test_wilson_interval_matches_scipy() -> None:
    from scipy.stats import binomtest

    k, n = np.array([0, 5, 10, 81, 203]), np.array([10, 10, 10, 100, 270])
    lo, hi = wilson_interval(k, n)
    for i in range(len(k)):
        ci = binomtest(int(k[i]), int(n[i])).proportion_ci(confidence_level=0.95, method="wilson")
        assert (lo[i], hi[i]) == pytest.approx((ci.low, ci.high), abs=1e-9)
    np.testing.assert_allclose([lo[1], hi[1]], [0.2365931, 0.7634069], atol=1e-6)  # by hand: p = 1/2
