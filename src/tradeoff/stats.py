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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import stats as _sp

__all__ = [
    "LEVEL",
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
VERDICTS: Final = ("holds", "does not hold", "inconclusive")


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
