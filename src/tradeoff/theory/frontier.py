r"""The exact achievable frontier of linear classifiers on D(p, eta, d): the best robust accuracy at
each standard accuracy over all ``sign(w.x + b)``, against an l_inf or l_2 adversary of radius eps.

Reduction (proved in ``docs/FRONTIER.md``). Scale ``w = (w1, v)`` so that ``||v||_2 = 1``; then
``y v.z ~ N(eta S, 1)`` with ``S = sum(v)``, and the worst-case margin of the classifier is::

    y (w.(x + delta*) + b) = a s + y b + eta S + Z - eps ||w||_dual        (a = w1, s = x1 y, Z ~ N(0, 1))
    l_inf: ||w||_1 = |a| + ||v||_1          l_2: ||w||_2 = sqrt(a^2 + 1)

so accuracy depends on ``v`` only through ``S`` and ``L = ||v||_1``, and a smaller ``L`` is never
worse. Over unit vectors with sum ``S >= 0`` the least ``L`` is ``L(S) = max(S, sqrt(2 - S^2))``
(``S`` for ``1 <= S <= sqrt(d)`` with non-negative weights, ``sqrt(2 - S^2)`` below 1 with one positive
and one negative weight). So the frontier is a maximisation over three numbers ``(a, b, S)``; under
l_2 ``S`` only adds signal, so ``S = sqrt(d)`` (one equal weight on every weak feature) is optimal,
while under l_inf a *smaller* ``S`` (unequal weights) can be better: equal weights are not always
optimal (by up to about 3e-5 in robust accuracy in our checks). ``a, b, S >= 0`` suffice (p >= 1/2, the
labels are symmetric). Two limits complete the family: ``sign(x1)`` (``a -> inf``) and a constant
classifier (``b -> inf``, accuracy 1/2 under any attack). The upper concave envelope (``robust_upper``)
is what mixtures of linear classifiers (randomised ones) could reach; it is reported, not drawn.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import ndtr

from tradeoff.theory.model import NORMS, eps_unit, theorem_2_1_bound
from tradeoff.theory.model import eta_abs as _eta_abs

__all__ = [
    "FRONTIER_COLUMNS",
    "frontier",
    "frontier_table",
    "min_l1",
    "reduced_accuracy",
    "reduced_classifier",
    "upper_concave_envelope",
]

FRONTIER_COLUMNS: Final[tuple[str, ...]] = (
    "p", "d", "eta", "test_norm", "eps_test", "eps_test_abs", "standard", "robust", "robust_upper",
    "bound", "a", "b", "S",
)  # fmt: skip
"""Columns of ``results/theory/frontier.csv``: one row per standard-accuracy level of one frontier.
``robust``: the best robust accuracy of a linear classifier with at least that standard accuracy,
attained by :func:`reduced_classifier` ``(a, b, S)`` (``a = inf``: sign(x1); ``b = inf``: a constant);
``robust_upper``: its concave envelope (mixtures); ``bound``: Theorem 2.1's."""

_GRID: Final = 600  # grid points per parameter (a and b) under l_2, before the local refinement
_GRID_3: Final = (120, 120, 32)  # grid points for (a, b, S) under l_inf
_LEVELS: Final = 241  # standard-accuracy levels at which the frontier is solved


def _check(p: float, d: int, eta_abs: float, eps_abs: float, norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if not 0.5 <= p < 1:
        raise ValueError(f"p must satisfy 0.5 <= p < 1, got {p!r}")
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    if not (math.isfinite(eta_abs) and eta_abs > 0):
        raise ValueError(f"eta_abs must be finite and > 0, got {eta_abs!r}")
    if not (math.isfinite(eps_abs) and eps_abs >= 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps_abs!r}")


def min_l1(S: NDArray[np.float64] | float, d: int) -> NDArray[np.float64]:
    """The least ``||v||_1`` over ``v`` in R^d with ``||v||_2 = 1`` and ``sum(v) = S`` (``0 <= S <= sqrt(d)``)."""
    S_arr = np.asarray(S, dtype=np.float64)
    if np.any(S_arr < -1e-12) or np.any(S_arr > math.sqrt(d) + 1e-12):
        raise ValueError(f"S must lie in [0, sqrt(d)] = [0, {math.sqrt(d):g}]")
    if d == 1 and np.any(np.abs(S_arr - 1) > 1e-12):
        raise ValueError("with d = 1 the only unit weak weight has S = 1")
    return np.maximum(S_arr, np.sqrt(np.clip(2.0 - S_arr**2, 0.0, None)))


def reduced_accuracy(
    a: NDArray[np.float64] | float, b: NDArray[np.float64] | float, S: NDArray[np.float64] | float, *, p: float,
    d: int, eta_abs: float, eps_abs: float, norm: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Standard and robust (``norm``, absolute radius ``eps_abs``) population accuracy of
    :func:`reduced_classifier` ``(a, b, S)``; the arguments broadcast."""
    _check(p, d, eta_abs, eps_abs, norm)
    a_arr, b_arr, S_arr = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a, b, S)))
    dual = np.abs(a_arr) + min_l1(S_arr, d) if norm == "linf" else np.hypot(a_arr, 1.0)
    shift = eps_abs * dual
    std = np.zeros(a_arr.shape)
    rob = np.zeros(a_arr.shape)
    for y in (-1.0, 1.0):
        for s, ps in ((1.0, p), (-1.0, 1.0 - p)):
            m = a_arr * s + y * b_arr + eta_abs * S_arr
            std = std + 0.5 * ps * ndtr(m)
            rob = rob + 0.5 * ps * ndtr(m - shift)
    return std, rob


def reduced_classifier(a: float, b: float, S: float, d: int) -> tuple[NDArray[np.float64], float]:
    """Weights ``(a, v)`` and intercept ``b`` with ``||v||_2 = 1``, ``sum(v) = S``, ``||v||_1 = min_l1(S)``.

    ``S >= 1``: ``v = alpha (1, ..., 1) + beta e_1`` with ``alpha, beta >= 0`` (``S = sqrt(d)``: equal
    weights); ``S < 1``: ``v = (alpha, -beta, 0, ...)``. ``a`` and ``b`` finite.
    """
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError("a and b must be finite (the limits sign(x1) and the constant have their own forms)")
    min_l1(S, d)  # validates S
    v = np.zeros(d)
    if S >= 1:
        alpha = 0.0 if d == 1 else (S * (d - 1) - math.sqrt(max((d - 1) * (d - S * S), 0.0))) / ((d - 1) * d)
        v[:] = alpha
        v[0] += S - d * alpha
    else:
        root = math.sqrt(2.0 - S * S)
        v[0], v[1] = (S + root) / 2, -(root - S) / 2
    return np.r_[a, v], float(b)


def _limits(p: float, eps_abs: float) -> list[tuple[float, float, float, float]]:
    """(standard, robust, a, b) of sign(x1) and of a constant classifier."""
    return [(p, p if eps_abs < 1 else 0.0, math.inf, 0.0), (0.5, 0.5, 0.0, math.inf)]


def upper_concave_envelope(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """The least concave majorant of the points ``(x, y)``, evaluated at ``x`` (ties in x: the max)."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    hull: list[int] = []
    for i in range(len(xs)):
        while hull and xs[hull[-1]] == xs[i]:
            if ys[hull[-1]] >= ys[i]:
                break
            hull.pop()
        else:
            while len(hull) >= 2:
                i0, i1 = hull[-2], hull[-1]
                # drop i1 if it lies on or below the chord from i0 to i
                if (ys[i1] - ys[i0]) * (xs[i] - xs[i0]) <= (ys[i] - ys[i0]) * (xs[i1] - xs[i0]):
                    hull.pop()
                else:
                    break
            hull.append(i)
    hx, hy = xs[hull], ys[hull]
    out = np.empty_like(y)
    out[order] = np.interp(xs, hx, hy)
    return out


def frontier(p: float, d: int, eta: float, eps: float, norm: str) -> pd.DataFrame:
    """The frontier at one point (``eta`` in units of 1/sqrt(d), ``eps`` in budget units of ``norm``).

    Rows (columns :data:`FRONTIER_COLUMNS`) at standard accuracies from 1/2 to the best achievable,
    each with the best robust accuracy among linear classifiers of at least that standard accuracy:
    a dense grid over ``(a, b, S)`` (``a, b = t / (1 - t)``; ``S = sqrt(d)`` under l_2), then a local
    maximisation of the robust accuracy subject to the standard accuracy (SLSQP) from the best grid
    point; the better of the two.
    """
    eta_a = _eta_abs(eta, d)
    eps_abs = float(eps) * eps_unit(norm, eta_a, d)
    _check(p, d, eta_a, eps_abs, norm)
    kw: dict[str, Any] = dict(p=p, d=d, eta_abs=eta_a, eps_abs=eps_abs, norm=norm)
    rd = math.sqrt(d)
    A: np.ndarray
    B: np.ndarray
    Sg: np.ndarray
    if norm == "l2" or d == 1:  # S = sqrt(d) is optimal (l_2: S only adds signal; d = 1: the only choice)
        t = np.linspace(0.0, 0.999, _GRID)
        A, B = np.meshgrid(t / (1.0 - t), t / (1.0 - t), indexing="ij")
        Sg = np.full_like(A, rd)
    else:
        ta, tb = np.linspace(0.0, 0.995, _GRID_3[0]), np.linspace(0.0, 0.995, _GRID_3[1])
        A, B, Sg = np.meshgrid(ta / (1 - ta), tb / (1 - tb), np.linspace(0.0, rd, _GRID_3[2]), indexing="ij")
    std, rob = reduced_accuracy(A, B, Sg, **kw)
    std, rob, A, B, Sg = std.ravel(), rob.ravel(), A.ravel(), B.ravel(), Sg.ravel()
    extra = _limits(p, eps_abs)
    std = np.r_[std, [e[0] for e in extra]]
    rob = np.r_[rob, [e[1] for e in extra]]
    A = np.r_[A, [e[2] for e in extra]]
    B = np.r_[B, [e[3] for e in extra]]
    Sg = np.r_[Sg, [rd, rd]]
    # best robust accuracy among points of standard accuracy >= level: sort by standard, descending,
    # and keep the index of the running maximum of the robust accuracy
    order = np.argsort(-std, kind="stable")
    rob_sorted = rob[order]
    is_max = rob_sorted >= np.maximum.accumulate(rob_sorted)
    arg = order[np.maximum.accumulate(np.where(is_max, np.arange(len(order)), 0))]
    top = float(std.max())
    levels = np.unique(np.r_[np.linspace(0.5, top, _LEVELS), min(p, top)])
    rows = []
    for level in levels:
        j = max(int(np.searchsorted(-std[order], -level, side="right")) - 1, 0)
        i = arg[j]
        best = (float(rob[i]), float(A[i]), float(B[i]), float(Sg[i]))
        if math.isfinite(A[i]) and math.isfinite(B[i]):
            best = _refine(float(level), best, kw, free_s=norm == "linf" and d > 1)
        rows.append((float(level), *best))
    out = pd.DataFrame(rows, columns=["standard", "robust", "a", "b", "S"])
    # non-increasing in the standard accuracy: a classifier of a higher level serves every lower one
    rob_col = out["robust"].to_numpy()
    better = np.maximum.accumulate(rob_col[::-1])[::-1]
    take = np.array([int(np.flatnonzero(rob_col[i:] == better[i])[0]) + i for i in range(len(out))])
    out[["robust", "a", "b", "S"]] = out[["robust", "a", "b", "S"]].to_numpy()[take]
    out["robust_upper"] = upper_concave_envelope(out["standard"].to_numpy(), out["robust"].to_numpy())
    out["bound"] = theorem_2_1_bound(out["standard"].to_numpy(), p)
    out = out.assign(p=float(p), d=int(d), eta=float(eta), test_norm=norm, eps_test=float(eps), eps_test_abs=eps_abs)
    return out[list(FRONTIER_COLUMNS)]


def _value_and_grad(x: NDArray[np.float64], kw: dict[str, Any], free_s: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(standard, robust) of :func:`reduced_accuracy` at ``x = (a, b[, S])`` (``a, b >= 0``) and their
    gradients (rows) with respect to ``x``."""
    p, d, eta, eps, norm = kw["p"], kw["d"], kw["eta_abs"], kw["eps_abs"], kw["norm"]
    a, b = float(x[0]), float(x[1])
    S = float(np.clip(x[2], 0.0, math.sqrt(d))) if free_s else math.sqrt(d)
    if norm == "linf":
        dual, d_dual_a = a + float(min_l1(S, d)), 1.0
        d_dual_S = 1.0 if S >= 1 else -S / math.sqrt(2.0 - S * S)
    else:
        dual, d_dual_a, d_dual_S = math.hypot(a, 1.0), a / math.hypot(a, 1.0), 0.0
    val = np.zeros(2)
    grad = np.zeros((2, 3))
    for y in (-1.0, 1.0):
        for s, ps in ((1.0, p), (-1.0, 1.0 - p)):
            m = a * s + y * b + eta * S
            for k, (shift, dm) in enumerate(((0.0, (s, y, eta)), (eps * dual, (s - eps * d_dual_a, y, eta - eps * d_dual_S)))):
                val[k] += 0.5 * ps * float(ndtr(m - shift))
                dens = 0.5 * ps * math.exp(-0.5 * (m - shift) ** 2) / math.sqrt(2 * math.pi)
                grad[k] += dens * np.asarray(dm)
    return val, grad if free_s else grad[:, :2]


def _refine(level: float, start: tuple[float, float, float, float], kw: dict[str, Any], *,
            free_s: bool) -> tuple[float, float, float, float]:
    """Maximise robust accuracy over ``a, b >= 0`` (and ``0 <= S <= sqrt(d)`` if ``free_s``) subject to
    standard accuracy >= ``level`` (SLSQP from ``start``, exact gradients); ``start`` if not better."""
    rd = math.sqrt(kw["d"])

    def objective(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        val, grad = _value_and_grad(x, kw, free_s)
        return -val[1], -grad[1]

    def constraint(x: NDArray[np.float64]) -> float:
        return float(_value_and_grad(x, kw, free_s)[0][0]) - level

    def constraint_jac(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return _value_and_grad(x, kw, free_s)[1][0]

    x0 = np.array(start[1:4] if free_s else start[1:3])
    bounds = [(0, None), (0, None), (0, rd)] if free_s else [(0, None), (0, None)]
    res = minimize(objective, x0, jac=True, method="SLSQP", bounds=bounds,
                   constraints=[{"type": "ineq", "fun": constraint, "jac": constraint_jac}],
                   options={"ftol": 1e-13, "maxiter": 300})  # fmt: skip
    a, b = float(res.x[0]), float(res.x[1])
    S = float(np.clip(res.x[2], 0.0, rd)) if free_s else rd
    std, rob = (float(v) for v in reduced_accuracy(a, b, S, **kw))
    if std >= level - 1e-12 and rob > start[0]:  # SLSQP meets the constraint up to rounding
        return rob, a, b, S
    return start


def frontier_table(points: pd.DataFrame, eps: float, norms: tuple[str, ...] = NORMS) -> pd.DataFrame:
    """Frontiers of every distinct ``(p, d, eta)`` in ``points`` (e.g. a metrics table), for each norm."""
    keys = points[["p", "d", "eta"]].drop_duplicates().sort_values(["p", "d", "eta"])
    frames = [frontier(float(p), int(d), float(eta), eps, norm)
              for p, d, eta in keys.itertuples(index=False) for norm in norms]  # fmt: skip
    if not frames:
        raise ValueError("no (p, d, eta) points to draw frontiers for")
    return pd.concat(frames, ignore_index=True)
