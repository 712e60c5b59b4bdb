"""Paired statistics for the claims tables: tests, intervals, multiple-comparison correction, verdicts.

The estimators (the rules in ``docs/CLAIMS.md`` cite them by name):

* :func:`mcnemar_exact`: exact (conditional, two-sided binomial) McNemar test of "A differs from B"
  on paired binary outcomes (the same images under two models);
* :func:`hierarchical_bootstrap`: two-level bootstrap of any statistic of per-model means. Resample
  seeds with replacement, then images with replacement within each drawn seed (independently for each
  draw), average each model's per-image values per drawn seed, then over drawn seeds. With one seed it
  is the paired bootstrap over images. Images are resampled jointly across models (paired).
  ``N_RESAMPLES`` resamples by default, percentile intervals;
* :func:`holm`: Holm's step-down adjusted p-values;
* :func:`judge`: the three-way verdict of a table of claims. Each claim's two-sided bootstrap
  p-value (twice the smaller tail share of resampled statistics at or beyond 0, floored at
  1 / (B + 1)) is Holm-adjusted over the table; a claim **holds** when its adjusted p-value is below
  ``level`` and the point estimate has the claimed sign, **does not hold** when it is below ``level``
  with the other sign, and is **inconclusive** otherwise or when it rests on fewer seeds or images than
  its rule's minimum. The printed interval is the percentile interval at Holm's level for that claim's
  step (``level / (m - rank + 1)``), so a decided claim's interval excludes zero on its side.

The two levels of ``docs/CLAIMS.md`` (issue 26), which the claims tables now use:

* :func:`t_test`: the ``recipe`` level, a paired t-test on the per-seed differences (seeds the unit;
  ``not testable (k seeds)`` below :data:`RECIPE_MIN_SEEDS`); :func:`permutation_test`: the exact
  permutation test over models where one number describes a model;
* :func:`image_bootstrap`: the ``models`` level, the paired bootstrap over images with the seeds held
  fixed (:func:`bootstrap_test` makes it a :class:`Test`; exact McNemar's p where k = 1);
* :func:`decide`: the verdicts of one level of one table (Holm over its testable rows);
* :func:`ols_slope`: Fig. 7's per-seed slope of clean accuracy on the training eps.

:func:`hierarchical_bootstrap` and :func:`judge` are the old single-level rule, kept for the record
(``docs/CLAIMS.md`` section 5.4) and for the simulation that shows why they were replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import stats as _sp

__all__ = [
    "LEVEL",
    "LEVELS",
    "RECIPE_MIN_SEEDS",
    "Test",
    "bootstrap_test",
    "decide",
    "image_bootstrap",
    "not_testable",
    "ols_slope",
    "permutation_test",
    "t_test",
    "N_RESAMPLES",
    "VERDICTS",
    "Bootstrap",
    "bootstrap_p",
    "hierarchical_bootstrap",
    "holm",
    "judge",
    "mcnemar_exact",
    "percentile_interval",
]

N_RESAMPLES: Final = 2000
"""Bootstrap resamples per claim (seeds, then images)."""
LEVEL: Final = 0.05
"""Family-wise error rate of one claims table (Holm)."""
VERDICTS: Final = ("holds", "does not hold", "inconclusive", "not testable")
"""The verdicts (a ``not testable`` verdict names its seeds: ``not testable (2 seeds)``)."""


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Exact McNemar test on paired boolean outcomes ``a`` and ``b`` (same examples, same order).

    Returns (n01, n10, p): the discordant counts (a wrong and b right; a right and b wrong) and the
    two-sided exact p-value 2 * P(X <= min(n01, n10)), X ~ Binomial(n01 + n10, 1/2), capped at 1
    (1 when there are no discordant pairs).
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need the same shape, got {a.shape} and {b.shape}")
    n01, n10 = int((~a & b).sum()), int((a & ~b).sum())
    n = n01 + n10
    p = 1.0 if n == 0 else min(1.0, 2.0 * float(_sp.binom.cdf(min(n01, n10), n, 0.5)))
    return n01, n10, p


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as ``p``): the k-th smallest is multiplied by
    m - k + 1, made non-decreasing along the order, and capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"holm needs a 1-d list of p-values in [0, 1], got {p!r}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adj
    return out


@dataclass(frozen=True)
class Bootstrap:
    """A statistic's point estimate and its bootstrap distribution."""

    estimate: float
    resamples: np.ndarray
    n_seeds: int
    n_images: int
    """images per seed (the smallest over seeds)"""


def hierarchical_bootstrap(
    data: Sequence[np.ndarray],
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Bootstrap:
    """Two-level bootstrap over seeds, then images within each seed.

    ``data``: one array per seed, shape (n_images, k): a value per image for each of k models (0/1
    for correctness), rows paired across models. ``statistic`` maps per-model means, shape (..., k),
    to a value, shape (...) (vectorised over leading axes): e.g. ``lambda m: m[..., 1] - m[..., 0]``.
    The point estimate is the statistic of the means over seeds of each seed's per-image means.
    """
    if not data:
        raise ValueError("hierarchical_bootstrap needs at least one seed")
    xs = [np.asarray(d, dtype=np.float64) for d in data]
    if any(x.ndim != 2 or len(x) == 0 or x.shape[1] != xs[0].shape[1] for x in xs):
        raise ValueError("every seed needs a non-empty (n_images, k) array with the same k")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    n_seeds, k = len(xs), xs[0].shape[1]
    estimate = float(statistic(np.mean([x.mean(0) for x in xs], axis=0)))
    means = np.zeros((n_resamples, k))
    for _ in range(n_seeds):  # one drawn seed per slot, its images resampled afresh
        pick = rng.integers(0, n_seeds, n_resamples) if n_seeds > 1 else np.zeros(n_resamples, int)
        for s, x in enumerate(xs):
            rows = np.flatnonzero(pick == s)
            if len(rows):
                w = rng.multinomial(len(x), np.full(len(x), 1.0 / len(x)), size=len(rows))
                means[rows] += w @ x / len(x)
    means /= n_seeds
    return Bootstrap(estimate, np.asarray(statistic(means), dtype=np.float64), n_seeds, min(len(x) for x in xs))


def bootstrap_p(resamples: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the statistic is 0": twice the smaller share of resamples at
    or beyond 0 on either side, floored at 1 / (B + 1) and capped at 1."""
    r = np.asarray(resamples, dtype=np.float64)
    b = len(r)
    tail = min(float(np.mean(r <= 0)), float(np.mean(r >= 0)))
    return float(min(1.0, max(2.0 * tail, 1.0 / (b + 1))))


def percentile_interval(resamples: np.ndarray, level: float) -> tuple[float, float]:
    """The central (1 - level) percentile interval of the resamples."""
    lo, hi = np.quantile(np.asarray(resamples, dtype=np.float64), [level / 2, 1 - level / 2])
    return float(lo), float(hi)


def judge(
    boots: Sequence[Bootstrap],
    directions: Sequence[int],
    *,
    min_seeds: Sequence[int] | int = 1,
    min_images: Sequence[int] | int = 1,
    level: float = LEVEL,
) -> list[dict[str, float | int | str]]:
    """Three-way verdicts of one table's claims (Holm over the table; see the module docstring).

    ``directions``: +1 where the claim says the statistic is > 0, -1 where it says < 0. Returns per
    claim: estimate, low, high (Holm-level percentile interval), interval_level (its coverage), p
    (bootstrap), p_holm, verdict, n_seeds, n_images, n_resamples, and ``reason`` (why inconclusive
    when a minimum is not met, else "").
    """
    m = len(boots)
    if len(directions) != m or any(d not in (1, -1) for d in directions):
        raise ValueError("directions needs one +1 or -1 per claim")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    ms = [min_seeds] * m if isinstance(min_seeds, int) else list(min_seeds)
    mi = [min_images] * m if isinstance(min_images, int) else list(min_images)
    p = np.array([bootstrap_p(b.resamples) for b in boots])
    p_holm = holm(p) if m else p
    rank = np.empty(m, int)
    rank[np.argsort(p, kind="stable")] = np.arange(m)
    out: list[dict[str, float | int | str]] = []
    for i, (b, d) in enumerate(zip(boots, directions, strict=True)):
        step = level / (m - rank[i])
        lo, hi = percentile_interval(b.resamples, step)
        reason = ""
        if b.n_seeds < ms[i]:
            reason = f"{b.n_seeds} seed(s) < minimum {ms[i]}"
        elif b.n_images < mi[i]:
            reason = f"{b.n_images} images < minimum {mi[i]}"
        if reason or p_holm[i] >= level or b.estimate == 0:
            verdict = "inconclusive"
        else:
            verdict = "holds" if np.sign(b.estimate) == d else "does not hold"
        out.append({"estimate": b.estimate, "low": lo, "high": hi, "interval_level": 1 - step, "p": float(p[i]),
                    "p_holm": float(p_holm[i]), "verdict": verdict, "n_seeds": b.n_seeds,
                    "n_images": b.n_images, "n_resamples": len(b.resamples), "reason": reason})
    return out


# --------------------------------------------------------------------------- two levels (issue 26)

RECIPE_MIN_SEEDS: Final = 3
"""The recipe level's minimum seeds (fewer: ``not testable (k seeds)``)."""
LEVELS: Final = ("recipe", "models", "exact")
"""``recipe``: seeds are the unit; ``models``: these k models, test images the unit; ``exact``: no test."""


def not_testable(k: int) -> str:
    """The recipe-level verdict with fewer than :data:`RECIPE_MIN_SEEDS` seeds."""
    return f"not testable ({k} seed{'' if k == 1 else 's'})"


@dataclass(frozen=True)
class Test:
    """One row's test at one level, before the table's Holm correction.

    ``p``: two-sided p-value (NaN when the row is not tested); ``interval``: maps a two-sided level to
    the (low, high) interval at that level (None: no interval); ``testable``: False gives the verdict
    ``untestable`` (e.g. ``not testable (2 seeds)``) and keeps the row out of the Holm family."""

    estimate: float
    p: float
    interval: Callable[[float], tuple[float, float]] | None
    n_seeds: int
    n_images: int
    n_resamples: int = 0
    testable: bool = True
    untestable: str = ""


def t_test(per_seed: Sequence[float] | np.ndarray, *, n_images: int = 0) -> Test:
    """Paired t-test of "the mean per-seed difference is 0" (``per_seed``: one difference per seed,
    robust minus standard; k - 1 degrees of freedom) and its t-interval. With fewer than
    :data:`RECIPE_MIN_SEEDS` seeds: not testable. A zero spread gives p 0 (all differences equal and
    non-zero) or 1 (all 0). ``n_images``: the paired images per seed (the smallest), recorded."""
    d = np.asarray(per_seed, dtype=np.float64)
    k = len(d)
    est = float(d.mean()) if k else float("nan")
    if k < RECIPE_MIN_SEEDS:
        return Test(est, float("nan"), None, k, n_images, testable=False, untestable=not_testable(k))
    se = float(d.std(ddof=1) / np.sqrt(k))
    if se == 0:
        p = 1.0 if est == 0 else 0.0
    else:
        p = float(2 * _sp.t.sf(abs(est) / se, k - 1))

    def interval(level: float) -> tuple[float, float]:
        h = float(_sp.t.ppf(1 - level / 2, k - 1)) * se
        return est - h, est + h

    return Test(est, p, interval, k, n_images)


def permutation_test(robust: Sequence[float] | np.ndarray, standard: Sequence[float] | np.ndarray) -> Test:
    """Exact two-sided permutation test over models of "robust and standard have the same mean": the
    difference of means over all C(n, k) relabellings of the pooled values; p = the share of
    relabellings whose |difference| is at least the observed one. Needs :data:`RECIPE_MIN_SEEDS` models
    per side; no interval."""
    from itertools import combinations

    r, s = np.asarray(robust, dtype=np.float64), np.asarray(standard, dtype=np.float64)
    k = min(len(r), len(s))
    est = float(r.mean() - s.mean()) if len(r) and len(s) else float("nan")
    if k < RECIPE_MIN_SEEDS:
        return Test(est, float("nan"), None, k, 0, testable=False, untestable=not_testable(k))
    pooled = np.concatenate([r, s])
    n, total = len(pooled), pooled.sum()
    diffs = np.array([pooled[list(c)].sum() / len(r) - (total - pooled[list(c)].sum()) / len(s)
                      for c in combinations(range(n), len(r))])
    p = float(np.mean(np.abs(diffs) >= abs(est) - 1e-12))
    return Test(est, p, None, k, 0)


def image_bootstrap(data: Sequence[np.ndarray], statistic: Callable[[np.ndarray], np.ndarray], *,
                    n_resamples: int = N_RESAMPLES, seed: int = 0) -> Bootstrap:
    """Bootstrap over images with the seeds held fixed (the ``models`` level): within each seed its
    images are drawn with replacement (rows paired across models); the statistic of the mean over
    seeds of each seed's per-model means. ``data`` and ``statistic`` as in
    :func:`hierarchical_bootstrap` (which equals this with one seed)."""
    if not data:
        raise ValueError("image_bootstrap needs at least one seed")
    xs = [np.asarray(d, dtype=np.float64) for d in data]
    if any(x.ndim != 2 or len(x) == 0 or x.shape[1] != xs[0].shape[1] for x in xs):
        raise ValueError("every seed needs a non-empty (n_images, k) array with the same k")
    rng = np.random.default_rng(seed)
    estimate = float(statistic(np.mean([x.mean(0) for x in xs], axis=0)))
    means = np.zeros((n_resamples, xs[0].shape[1]))
    for x in xs:
        chunk = max(1, 2_000_000 // len(x))  # resamples per draw of indices: bounded memory
        for start in range(0, n_resamples, chunk):
            stop = min(n_resamples, start + chunk)
            m = stop - start
            idx = rng.integers(0, len(x), (m, len(x))) + len(x) * np.arange(m)[:, None]
            counts = np.bincount(idx.ravel(), minlength=m * len(x)).reshape(m, len(x))
            means[start:stop] += counts @ x / len(x)
    means /= len(xs)
    return Bootstrap(estimate, np.asarray(statistic(means), dtype=np.float64), len(xs), min(len(x) for x in xs))


def bootstrap_test(boot: Bootstrap, p: float | None = None) -> Test:
    """A bootstrap as a :class:`Test`: its p-value (or ``p``, e.g. exact McNemar) and percentile
    interval."""
    r = boot.resamples
    return Test(boot.estimate, bootstrap_p(r) if p is None else float(p),
                lambda level: percentile_interval(r, level), boot.n_seeds, boot.n_images, len(r))


def decide(tests: Sequence[Test], directions: Sequence[int], *, min_images: Sequence[int] | int = 0,
           level: float = LEVEL) -> list[dict[str, float | int | str]]:
    """Verdicts of one level of one table: Holm over its testable rows; **holds** when the Holm-adjusted
    p < ``level`` and the estimate has the claimed sign, **does not hold** on the other sign,
    **inconclusive** otherwise or below the images minimum, the test's ``untestable`` text when it is
    not testable. Interval at Holm's level for the row's step, level / (m - rank + 1). Returns per row:
    estimate, low, high, interval_level, p, p_holm, verdict, reason, n_seeds, n_images, n_resamples."""
    m_all = len(tests)
    if len(directions) != m_all or any(d not in (1, -1) for d in directions):
        raise ValueError("directions needs one +1 or -1 per row")
    mi = [min_images] * m_all if isinstance(min_images, int) else list(min_images)
    family = [i for i, t in enumerate(tests) if t.testable and not np.isnan(t.p)]
    p = np.array([tests[i].p for i in family])
    p_holm = holm(p) if len(family) else p
    rank = np.empty(len(family), int)
    rank[np.argsort(p, kind="stable")] = np.arange(len(family))
    where = {i: j for j, i in enumerate(family)}
    out: list[dict[str, float | int | str]] = []
    for i, (t, d) in enumerate(zip(tests, directions, strict=True)):
        row: dict[str, float | int | str] = {"estimate": t.estimate, "low": float("nan"), "high": float("nan"),
                                             "interval_level": float("nan"), "p": float("nan"),
                                             "p_holm": float("nan"), "reason": "", "n_seeds": t.n_seeds,
                                             "n_images": t.n_images, "n_resamples": t.n_resamples}
        if i not in where:
            row["verdict"] = t.untestable or "inconclusive"
            out.append(row)
            continue
        j = where[i]
        step = level / (len(family) - rank[j])
        if t.interval is not None:
            row["low"], row["high"] = t.interval(step)
            row["interval_level"] = 1 - step
        row["p"], row["p_holm"] = t.p, float(p_holm[j])
        if t.n_images < mi[i]:
            row["reason"] = f"{t.n_images} images < minimum {mi[i]}"
        if row["reason"] or p_holm[j] >= level or t.estimate == 0:
            row["verdict"] = "inconclusive"
        else:
            row["verdict"] = "holds" if np.sign(t.estimate) == d else "does not hold"
        out.append(row)
    return out


def ols_slope(x: Sequence[float] | np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``y`` (last axis, one value per x) on the fixed ``x``, vectorised over
    leading axes: sum((x - mean x)(y - mean y)) / sum((x - mean x)^2)."""
    xc = np.asarray(x, dtype=np.float64)
    xc = xc - xc.mean()
    yy = np.asarray(y, dtype=np.float64)
    return np.asarray((yy - yy.mean(-1, keepdims=True)) @ xc / float(xc @ xc))
