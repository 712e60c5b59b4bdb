"""The saliency stage's own logic: the judge's held-out half, and the claims table from hand-made tables."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tradeoff import io
from tradeoff.claims.verdicts import judge_table, tally
from tradeoff.datasets.mnist import balanced_subset_indices
from tradeoff.stages.saliency import judge_indices
from tradeoff.stages.saliency_tables import (
    CLAIM_COLUMNS,
    filter_claims,
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
    (does not hold), thresholding counts from one seed of the standard model (recipe level: not testable,
    one seed; models level: these models' exact counts)."""
    objectives = {"standard": "standard", "linf": "pgd", "weak": "pgd", "l2": "pgd"}
    norms = {"standard": "linf", "linf": "linf", "weak": "linf", "l2": "l2"}
    rng = np.random.default_rng(0)
    n_img, n_le = 120, 280
    align, large, filt, panel, paths = [], [], [], [], []
    # alignment: standard 0.2/0.5, linf 0.6/0.9, weak 0.1/0.4 (+ noise per image; two seeds for linf)
    for recipe, corr, energy, seeds in (("standard", 0.2, 0.5, [0]), ("linf", 0.6, 0.9, [0, 1]),
                                        ("weak", 0.1, 0.4, [0]), ("l2", 0.6, 0.9, [0])):
        for seed in seeds:
            rows = [{"recipe": recipe, "size": 100, "seed": seed, "index": i, "label": i % 10, "score": s,
                     "value": v + 0.05 * rng.standard_normal()}
                    for i in range(n_img) for s, v in (("abs_grad_mask_corr", corr + 0.01 * seed),
                                                       ("energy_on_mask", energy), ("mask_area_fraction", 0.3),
                                                       ("cosine_to_centered_image", corr),
                                                       ("cosine_to_centered_image_null", 0.1))]
            align.append(_write(pd.DataFrame(rows), tmp_path / f"a_{recipe}_{seed}.csv"))
            share = {"standard": 0.25, "linf": 0.75, "weak": 0.0, "l2": 0.5}[recipe]
            judged = np.arange(n_le) % 4 < round(4 * share)
            large.append(_write(pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "source": np.arange(n_le) // 4,
                                              "label": 0, "target": 1 + np.arange(n_le) % 4,
                                              "success": [recipe != "linf" or i % 4 != 2 for i in range(n_le)],
                                              "distance": 4.0, "judge_label": 0, "judged_target": judged}),
                                tmp_path / f"l_{recipe}_{seed}.csv"))
            n_thr = {"standard": 0, "linf": 3, "weak": 0, "l2": 5}[recipe]
            filt.append(_write(pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "filter": range(8),
                                             "thresholding": [k < n_thr for k in range(8)],
                                             "inverted": [k == 0 for k in range(8)]}),
                               tmp_path / f"f_{recipe}_{seed}.csv"))
            # panel: target shares as above; controls 0.25 (small eps) and 0 (random) for every model, so the
            # excesses are standard 0, linf 0.5, weak -0.25, l2 0.25; the pixel judge sees no target anywhere
            ctl = {"target": judged, "small_eps": np.arange(n_le) % 4 < 1, "random": np.zeros(n_le, bool)}
            rows = [pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "source": np.arange(n_le) // 4,
                                  "label": 0, "target": 1 + np.arange(n_le) % 4, "success": True, "judge": j,
                                  "condition": c, "judge_label": 0,
                                  "judged_target": v if j != "pixel" else np.zeros(n_le, bool)})
                    for j in ("standard", "robust", "pixel") for c, v in ctl.items()]
            # the untargeted variant, one row per image: the pixel judge's share labelled as the class the
            # model assigns is standard 0.2, linf 0.8, weak 0.2, l2 0.2; controls 0 (excess = the share)
            n_u = n_le // 4
            u_share = {"standard": 0.2, "linf": 0.8, "weak": 0.2, "l2": 0.2}[recipe]
            rows += [pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "source": np.arange(n_u), "label": 0,
                                   "target": 1, "success": True, "judge": "pixel", "condition": c, "judge_label": 1,
                                   "judged_target": (np.arange(n_u) % 5 < round(5 * u_share)) if c == "target"
                                   else np.zeros(n_u, bool), "variant": "untargeted"})
                     for c in ctl]
            panel.append(_write(pd.concat(rows).fillna({"variant": "targeted"}), tmp_path / f"p_{recipe}_{seed}.csv"))
            # interpolation paths (the pixel judge decides): path share standard 0.2, linf 0.6, weak 0.1, l2 0.2
            p_share = {"standard": 0.2, "linf": 0.6, "weak": 0.1, "l2": 0.2}[recipe]
            paths.append(_write(pd.concat(
                [pd.DataFrame({"recipe": recipe, "size": 100, "seed": seed, "variant": "targeted",
                               "source": np.arange(n_le) // 4, "label": 0, "target": 1 + np.arange(n_le) % 4,
                               "success": True, "judge": j,
                               "path_share": (np.clip(p_share + 0.05 * rng.standard_normal(n_le), 0, 1)
                                              if j == "pixel" else np.full(n_le, 0.5)),
                               "two_class": np.arange(n_le) % 2 == 0, "end_is_target": True})
                 for j in ("standard", "pixel")]), tmp_path / f"i_{recipe}_{seed}.csv"))
    judges = []
    for seed in (0, 1):
        io.write_json({"seed": seed, "architecture": "mlp", "clean_accuracy": 0.9, "n_train": 50},
                      tmp_path / f"j{seed}.json")
        judges.append(str(tmp_path / f"j{seed}.json"))
    linear = _write(pd.DataFrame({"digits": "3-vs-7", "C": 0.1, "classifier": ["standard"] * 3 + ["robust"] * 3,
                                  "eps_train": [0.0] * 3 + [0.1] * 3, "eps_test": [0.0, 0.1, 0.2] * 2,
                                  "accuracy": [0.99, 0.4, 0.1, 0.97, 0.9, 0.5], "n_nonzero": [500] * 3 + [40] * 3,
                                  "weak_corr": 0.1, "weak_weight_share": [0.3] * 3 + [0.05] * 3}),
                    tmp_path / "linear.csv")
    n_t = 1000
    correct = np.zeros((2, 3, n_t), bool)
    for k, accs in enumerate(([0.99, 0.4, 0.1], [0.97, 0.9, 0.5])):
        for j, acc in enumerate(accs):
            correct[k, j, : round(acc * n_t)] = True
    io.write_npz(tmp_path / "linear.npz", correct=correct, eps_test=np.array([0.0, 0.1, 0.2]),
                 eps_train=np.array([0.0, 0.1]))
    out = SimpleNamespace(**{k: str(tmp_path / f"out_{k}") for k in
                             ("alignment", "alignment_summary", "judge", "judge_panel", "filters", "claims",
                              "claims_md", "interpolation")})
    every = write_tables(align, large, filt, judges, linear, out, objectives=objectives, norms=norms, panel=panel,
                         robust_judges=judges[:1], linear_arrays=str(tmp_path / "linear.npz"),
                         interpolation=paths, n_resamples=1000)  # p floor 1/1001: Holm over ~30 rows
    assert list(every.columns) == CLAIM_COLUMNS
    # one shared seed everywhere: every recipe-level row is not testable; the models level decides
    recipe = every[every["level"] == "recipe"]
    assert set(recipe["verdict"]) == {"not testable (1 seed)"} and not recipe["claim"].str.startswith("linear").any()
    claims = every[every["level"] != "recipe"]
    by = claims.set_index(["claim", "metric", "recipe"]).sort_index()
    corr = by.loc[("gradients_align", "abs_grad_mask_corr per image")]
    assert corr.loc["linf", "standard"] == pytest.approx(0.2, abs=0.02)
    assert corr.loc["linf", "robust"] == pytest.approx(0.605, abs=0.02)  # mean over its two seeds
    assert corr.loc["linf", "n_seeds"] == 1  # only seed 0 is shared with the standard model
    assert corr.loc["linf", "verdict"] == "holds" and corr.loc["weak", "verdict"] == "does not hold"
    assert corr.loc["linf", "n_images"] == n_img
    net = by.loc[("gradients_align", "cosine_to_centered_image minus its within-stroke permutation null, per image")]
    assert net.loc["linf", "difference"] == pytest.approx(0.4, abs=0.02) and net.loc["linf", "verdict"] == "holds"
    panel_rows = claims[claims["metric"].str.startswith("panel")].set_index(["claim", "recipe"])
    assert panel_rows.loc[("gradients_align", "linf"), "verdict"] == "holds"  # all three rows hold
    assert panel_rows.loc[("gradients_align", "weak"), "verdict"] == "does not hold"
    le = claims[claims["claim"] == "large_eps_look_like_target"].set_index(["metric", "recipe"])
    std_row = le.loc[("standard judge: excess of the target share over the larger control share", "linf")]
    assert std_row["standard"] == pytest.approx(0.0) and std_row["robust"] == pytest.approx(0.5)
    assert std_row["difference"] == pytest.approx(0.5) and std_row["verdict"] == "holds"
    pix = le.loc[("pixel judge: excess of the target share over the larger control share", "linf")]
    assert pix["difference"] == 0 and pix["verdict"] == "inconclusive"
    assert le.loc[("standard judge: excess of the target share over the larger control share", "weak"),
                  "difference"] == pytest.approx(-0.25)
    # the pixel judge is primary: its row decides, though 2 of 3 judges hold for linf (2 of 3 fail for weak)
    assert panel_rows.loc[("large_eps_look_like_target", "linf"), "verdict"] == "inconclusive"
    assert panel_rows.loc[("large_eps_look_like_target", "linf"), "difference"] == 2
    assert panel_rows.loc[("large_eps_look_like_target", "weak"), "verdict"] == "inconclusive"
    # the untargeted variant: the primary judge's row only, paired on the source image
    un = claims[claims["claim"] == "large_eps_untargeted"].set_index("recipe")
    assert set(un["metric"].str.split(" ").str[0]) == {"pixel"}
    assert un.loc["linf", "difference"] == pytest.approx(0.6) and un.loc["linf", "verdict"] == "holds"
    assert un.loc["linf", "n_images"] == n_le // 4 and un.loc["weak", "difference"] == pytest.approx(0.0)
    # the interpolation rule: the pixel judge's path share, robust minus standard, paired on (image, target)
    it = claims[claims["claim"] == "interpolation_toward_target"].set_index("recipe")
    assert it.loc["linf", "difference"] == pytest.approx(0.4, abs=0.02) and it.loc["linf", "verdict"] == "holds"
    assert it.loc["weak", "verdict"] == "does not hold" and it.loc["linf", "n_images"] == n_le
    isum = pd.read_csv(out.interpolation).set_index(["recipe", "seed", "judge"])
    assert isum.loc[("linf", 0, "standard"), "path_share"] == 0.5 and isum.loc[("linf", 0, "pixel"), "two_class"] == 0.5
    jp = pd.read_csv(out.judge_panel)
    jp = jp[jp["variant"] == "targeted"].set_index(["recipe", "judge"])
    assert jp.loc[("linf", "standard"), "excess"].tolist() == pytest.approx([0.5, 0.5])
    assert jp.loc[("standard", "robust"), "judge_clean_accuracy"] == 0.9
    assert np.isnan(jp.loc[("standard", "pixel"), "judge_clean_accuracy"])
    thr = by.loc[("thresholding_filters", "thresholding first-layer filters, either orientation (one number per model)")]
    assert thr.loc["linf", "robust"] == 3 and thr.loc["linf", "verdict"] == "holds"  # these models: exact counts
    assert np.isnan(thr.loc["linf", "p"]) and thr.loc["linf", "level"] == "models"
    assert "l2" not in thr.index  # Madry et al.'s observation is about l_inf models
    assert pd.read_csv(out.filters).set_index("recipe").loc["l2", "n_inverted"] == 1
    lin = claims[claims["claim"].str.startswith("linear")].set_index("metric")
    sparse = lin.loc["non-zero weights (3-vs-7)"]
    assert sparse["verdict"] == "holds" and sparse["difference"] == -460 and sparse["level"] == "exact"
    assert not sparse["counted"] and "true by construction" in sparse["reason"] and np.isnan(sparse["p"])
    weak = "share of l1 weight on pixels with |corr(x_j, y)| < 0.1 (3-vs-7)"
    assert lin.loc[weak, "difference"] == pytest.approx(-0.25) and lin.loc[weak, "verdict"] == "holds"
    assert np.isnan(lin.loc[weak, "p"]) and lin.loc[weak, "recipe"] == "robust SVM eps 0.1 (largest training eps, clean 97.0%)"
    assert list(lin.index[2:]) == ["exact l_inf accuracy at eps 0.1 (3-vs-7)", "exact l_inf accuracy at eps 0.2 (3-vs-7)"]
    assert (lin["verdict"] == "holds").all()
    more = lin.loc["exact l_inf accuracy at eps 0.1 (3-vs-7)"]
    assert more["difference"] == pytest.approx(0.5) and more["level"] == "models" and more["p"] == more["mcnemar_p"]
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
    assert "panel: rows that hold, of 3" in md


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


def test_thresholding_filters_recipe_level_is_the_exact_permutation_test() -> None:
    """3 l_inf models with 10, 8, 8 thresholding filters against 3 standard models with 0: complete
    separation, 2 of the C(6, 3) = 20 relabellings as extreme (two-sided p = 0.1): inconclusive at the
    recipe level; these models' counts are exact at the models level (holds, no p)."""
    counts = pd.DataFrame({"recipe": ["linf"] * 3 + ["standard"] * 3, "size": 100, "seed": [0, 1, 2] * 2,
                           "value": [10.0, 8.0, 8.0, 0.0, 0.0, 0.0]})
    table = judge_table(filter_claims(counts, {"linf": "pgd", "standard": "standard"}, "filters"))
    rec, mod = table.set_index("level").loc["recipe"], table.set_index("level").loc["models"]
    assert rec["p"] == pytest.approx(0.1) and rec["verdict"] == "inconclusive" and rec["per_seed"] == "10; 8; 8"
    assert mod["verdict"] == "holds" and np.isnan(mod["p"]) and mod["difference"] == pytest.approx(26 / 3)
    two = judge_table(filter_claims(counts[counts["seed"] < 2], {"linf": "pgd", "standard": "standard"}, "filters"))
    assert two.set_index("level").loc["recipe", "verdict"] == "not testable (2 seeds)"


def test_weak_weight_against_the_largest_and_the_smallest_eps_svm() -> None:
    acc = pd.DataFrame({"digits": "3-vs-7", "eps_train": [0.0, 0.05, 0.2], "eps_test": 0.0,
                        "accuracy": [0.98, 0.977, 0.903], "n_nonzero": [563, 83, 4], "weak_corr": 0.1,
                        "weak_weight_share": [0.238, 0.039, 0.0]})
    table = judge_table(linear_claims(acc))
    weak = table[table["claim"] == "linear_weak_weight"].set_index("recipe")
    assert list(weak.index) == ["robust SVM eps 0.2 (largest training eps, clean 90.3%)",
                                "robust SVM eps 0.05 (smallest training eps, clean 97.7%)"]
    assert weak["difference"].tolist() == pytest.approx([-0.238, -0.199])
    assert (weak["level"] == "exact").all() and weak["p"].isna().all() and (weak["verdict"] == "holds").all()
    assert tally(table) == {"exact": {"holds": 2, "does not hold": 0, "inconclusive": 0, "not testable": 0}}
