"""tradeoff.claims.stats against textbook cases: exact McNemar, Holm, the hierarchical bootstrap's coverage; the two
levels' tests against scipy, brute-force enumeration and closed forms."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.stats import binomtest

from tradeoff.claims.stats import (
    Bootstrap,
    bootstrap_p,
    bootstrap_test,
    decide,
    hierarchical_bootstrap,
    holm,
    image_bootstrap,
    judge,
    mcnemar_exact,
    ols_slope,
    percentile_interval,
    permutation_test,
    t_test,
)


def _pairs(n00: int, n01: int, n10: int, n11: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([0] * n00 + [0] * n01 + [1] * n10 + [1] * n11, dtype=bool)
    b = np.array([0] * n00 + [1] * n01 + [0] * n10 + [1] * n11, dtype=bool)
    return a, b


def test_mcnemar_exact_textbook_table() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med. Res. Methodol. 13:91, Table 1 (airway
    # hyper-responsiveness before/after stem cell transplantation): discordant pairs 1 and 7;
    # the exact conditional McNemar p-value is 0.070 (= 2 * 9 / 256).
    a, b = _pairs(59, 7, 1, 4)  # 71 children
    n01, n10, p = mcnemar_exact(a, b)
    assert (n01, n10) == (7, 1)
    assert p == pytest.approx(18 / 256) and round(p, 3) == 0.070
    assert p == pytest.approx(binomtest(1, 8, 0.5).pvalue)
    # a larger, asymmetric table against scipy's exact binomial test
    a, b = _pairs(800, 41, 19, 140)
    assert mcnemar_exact(a, b)[2] == pytest.approx(binomtest(19, 60, 0.5).pvalue, rel=1e-12)
    assert mcnemar_exact(a, a)[2] == 1.0  # no discordant pairs
    with pytest.raises(ValueError, match="same shape"):
        mcnemar_exact(a, b[:-1])


def test_holm_known_list() -> None:
    # m = 4: sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Holm (1979)-style example: only the smallest survives at 0.05
    adj = holm([0.01, 0.02, 0.03, 0.04, 0.05])
    assert adj == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert holm([0.9, 0.3]) == pytest.approx([0.9, 0.6])
    with pytest.raises(ValueError, match="p-values"):
        holm([0.5, 1.5])


def test_bootstrap_p_and_interval() -> None:
    r = np.linspace(-1, 9, 1001)  # 100 of 1001 at or below 0 (and 0 itself)
    assert bootstrap_p(r) == pytest.approx(2 * 101 / 1001)
    assert bootstrap_p(np.ones(99)) == pytest.approx(1 / 100)  # floored at 1 / (B + 1)
    lo, hi = percentile_interval(np.arange(1001.0), 0.1)
    assert (lo, hi) == pytest.approx((50.0, 950.0))


def test_one_seed_is_the_paired_bootstrap_over_images() -> None:
    rng = np.random.default_rng(1)
    x = (rng.random((400, 2)) < [0.7, 0.8]).astype(float)
    boot = hierarchical_bootstrap([x], lambda m: m[..., 1] - m[..., 0], n_resamples=4000, seed=3)
    d = x[:, 1] - x[:, 0]
    assert boot.estimate == pytest.approx(d.mean())
    assert (boot.n_seeds, boot.n_images, len(boot.resamples)) == (1, 400, 4000)
    # the bootstrap standard error of a paired mean difference is sd(d) / sqrt(n) (plug-in)
    assert boot.resamples.std() == pytest.approx(d.std() / np.sqrt(len(d)), rel=0.06)


@pytest.mark.slow
def test_hierarchical_bootstrap_coverage() -> None:
    """Simulated two-level data with a known difference: seeds draw their own accuracies around the
    population's (model A 0.80, B 0.83: difference 0.03), images are Bernoulli given the seed; the
    nominal 90% percentile interval covers 0.03 in about 90% of 200 replications."""
    rng = np.random.default_rng(0)
    n_seeds, n_images, reps, truth = 8, 300, 200, 0.03
    covered = 0
    for rep in range(reps):
        data = []
        for _ in range(n_seeds):
            pa = 0.80 + rng.normal(0, 0.02)
            pb = pa + truth + rng.normal(0, 0.01)
            u = rng.random(n_images)  # paired: the same latent difficulty for both models
            data.append(np.column_stack([u < pa, u < pb]).astype(float))
        boot = hierarchical_bootstrap(data, lambda m: m[..., 1] - m[..., 0], n_resamples=400, seed=rep)
        lo, hi = percentile_interval(boot.resamples, 0.10)
        covered += lo <= truth <= hi
    assert 0.83 <= covered / reps <= 0.97, covered / reps


def test_judge_three_way() -> None:
    rng = np.random.default_rng(0)

    def boot(mu: float, n_seeds: int = 3) -> Bootstrap:
        return Bootstrap(mu, rng.normal(mu, 0.01, 2000), n_seeds, 1000)

    out = judge([boot(0.05), boot(-0.05), boot(0.001), boot(0.05, n_seeds=1)], [1, 1, -1, 1], min_seeds=2)
    assert [o["verdict"] for o in out] == ["holds", "does not hold", "inconclusive", "inconclusive"]
    assert out[0]["low"] > 0 and out[1]["high"] < 0 and out[2]["low"] < 0 < out[2]["high"]
    assert out[3]["reason"] == "1 seed(s) < minimum 2"
    assert all(o["n_resamples"] == 2000 and o["n_images"] == 1000 for o in out)
    # Holm's steps: the claim of the k-th smallest p-value gets level 0.05 / (4 - k + 1)
    assert sorted(o["interval_level"] for o in out) == pytest.approx([1 - 0.05 / j for j in (1, 2, 3, 4)])
    with pytest.raises(ValueError, match="directions"):
        judge([boot(0.1)], [0])


# ------------------------------------------------------------- the two levels (docs/CLAIMS.md section 1)


def test_t_test_against_scipy_and_not_testable_below_three_seeds() -> None:
    d = [0.012, 0.007, 0.010, 0.015]
    t = t_test(d, n_images=500)
    ref = scipy_stats.ttest_1samp(d, 0.0)
    assert t.estimate == pytest.approx(np.mean(d)) and t.p == pytest.approx(ref.pvalue)
    assert (t.n_seeds, t.n_images, t.testable) == (4, 500, True)
    assert t.interval is not None
    lo, hi = t.interval(0.05)
    ci = ref.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high))
    two = t_test([0.01, 0.02])
    assert not two.testable and two.untestable == "not testable (2 seeds)" and np.isnan(two.p)
    assert t_test([0.01]).untestable == "not testable (1 seed)"
    assert t_test([0.01, 0.01, 0.01]).p == 0.0 and t_test([0.0, 0.0, 0.0]).p == 1.0  # no spread


def test_permutation_test_over_models_is_exact() -> None:
    # complete separation of 3 against 3: 2 of the C(6, 3) = 20 relabellings are as extreme (two-sided)
    t = permutation_test([10, 8, 8], [0, 0, 0])
    assert t.estimate == pytest.approx(26 / 3) and t.p == pytest.approx(2 / 20) and t.interval is None
    # 4 against 4, one overlap: count the relabellings by brute force here (an independent enumeration)
    r, s = [5.0, 6.0, 7.0, 2.0], [1.0, 3.0, 0.0, 1.0]
    pooled = r + s
    obs = abs(np.mean(r) - np.mean(s))
    hits = sum(abs(np.mean([pooled[i] for i in c]) - np.mean([pooled[i] for i in range(8) if i not in c])) >= obs - 1e-12
               for c in combinations(range(8), 4))
    assert permutation_test(r, s).p == pytest.approx(hits / 70)
    assert permutation_test([1, 2], [0, 0]).untestable == "not testable (2 seeds)"


def test_image_bootstrap_holds_seeds_fixed_and_matches_the_closed_form_spread() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    seeds = [np.column_stack([rng.random(n) < 0.9, rng.random(n) < 0.8]).astype(float) for _ in range(3)]
    b = image_bootstrap(seeds, lambda m: m[..., 1] - m[..., 0], n_resamples=2000, seed=2)
    est = np.mean([s[:, 1].mean() - s[:, 0].mean() for s in seeds])
    # seeds fixed: the variance is that of the mean over 3 seeds of independent per-seed differences
    se = np.sqrt(np.mean([np.var(s[:, 1] - s[:, 0]) for s in seeds]) / n / 3)
    assert b.estimate == pytest.approx(est) and b.n_seeds == 3 and b.n_images == n
    assert b.resamples.std() == pytest.approx(se, rel=0.08)
    assert b.resamples.mean() == pytest.approx(est, abs=3 * se / np.sqrt(2000) * 3)


def test_decide_holm_within_the_level_and_untestable_rows_outside_it() -> None:
    tests = [t_test([0.05, 0.06, 0.055, 0.052]), t_test([-0.05, -0.06, -0.055, -0.052]), t_test([0.01, -0.02, 0.015]),
             t_test([0.05, 0.06])]
    out = decide(tests, [1, 1, 1, 1])
    assert [o["verdict"] for o in out] == ["holds", "does not hold", "inconclusive", "not testable (2 seeds)"]
    p = [t.p for t in tests[:3]]
    assert [o["p_holm"] for o in out[:3]] == pytest.approx(list(holm(p)))  # a family of 3, not 4
    assert np.isnan(out[3]["p_holm"]) and np.isnan(out[3]["low"])
    assert sorted(o["interval_level"] for o in out[:3]) == pytest.approx([1 - 0.05 / j for j in (1, 2, 3)])
    assert out[0]["low"] > 0 and out[1]["high"] < 0 and out[2]["low"] < 0 < out[2]["high"]
    few = decide([bootstrap_test(Bootstrap(0.1, np.full(100, 0.1), 1, 50))], [1], min_images=100)
    assert few[0]["verdict"] == "inconclusive" and few[0]["reason"] == "50 images < minimum 100"


def test_ols_slope_against_polyfit() -> None:
    x = np.array([0.0, 0.1, 0.2, 0.3])
    y = np.array([[0.98, 0.984, 0.978, 0.97], [0.5, 0.4, 0.3, 0.2]])
    assert ols_slope(x, y) == pytest.approx([np.polyfit(x, row, 1)[0] for row in y])
