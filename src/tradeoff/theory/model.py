r"""Closed forms for the data model D(p, eta, d) of Tsipras et al. (2019), section 2.

Model (``X`` has ``d + 1`` columns, column 0 is the robust feature ``x1``)::

    y  ~ uniform{-1, +1}
    x1 = +y with probability p, else -y                 (robust feature)
    x2, ..., x_{d+1} ~ iid N(eta * y, 1)                (d weak, non-robust features)

Units used by the configuration (see :func:`eta_abs` and :func:`eps_unit`): ``eta`` is given in
units of ``1/sqrt(d)``; an attack budget of one unit is ``eta_abs`` in l_inf and
``eta_abs * sqrt(d)`` in l_2 (the l_2 norm of shifting every weak feature by ``eta_abs``). So
``eps = 2`` units is the ``eps = 2 * eta`` of Theorems 2.1 and 2.2 in l_inf, and in l_2 the adversary
that moves the averaging classifier's margin exactly as far (both contain the shift of every weak
feature by ``2 eta``, so Theorem 2.1's bound holds for both at ``eps >= 2``).

Everything here is pure numpy/scipy and exact (no sampling except in :func:`sample`).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from tradeoff.theory.norms import NORMS, dual_norm
from tradeoff.theory.norms import check_norm as _check_norm

__all__ = [
    "NORMS",
    "averaging_accuracy_closed_form",
    "averaging_classifier",
    "dual_norm",
    "eps_unit",
    "eta_abs",
    "population_accuracy",
    "sample",
    "sign_x1_accuracy_closed_form",
    "sign_x1_classifier",
    "theorem_2_1_bound",
]

FloatOrArray = float | NDArray[np.float64]


def _check_p(p: float) -> None:
    if not (0.5 <= p <= 1.0):
        raise ValueError(f"p must satisfy 0.5 <= p <= 1, got {p!r}")


def _check_d(d: int) -> None:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")


def _as_eps(eps: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(eps, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    return arr


def _out(arr: NDArray[np.float64]) -> FloatOrArray:
    return float(arr) if arr.ndim == 0 else arr


def eta_abs(eta_units: float, d: int) -> float:
    """Absolute weak-feature mean: ``eta_abs = eta_units / sqrt(d)``."""
    _check_d(d)
    return float(eta_units) / math.sqrt(d)


def eps_unit(norm: str, eta_abs: float, d: int) -> float:
    """Size of one attack-budget unit: ``eta_abs`` in l_inf, ``eta_abs * sqrt(d)`` in l_2.

    One unit is the norm of the shift of every weak feature by ``eta_abs``, so "2 units" is the
    paper's eps = 2*eta in l_inf and, in l_2, the adversary that lowers the averaging classifier's
    margin by as much (``eps ||w_avg||_dual = 2 eta`` in both). At d = 100 and eta = 4/sqrt(d) the l_2
    radius of 2 units is 8 >= 1: it can also flip x1 (the l_inf one, 0.8, cannot).
    """
    _check_norm(norm)
    _check_d(d)
    return float(eta_abs) if norm == "linf" else float(eta_abs) * math.sqrt(d)


def sample(
    p: float, eta_abs: float, d: int, n: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Draw ``n`` iid points of D(p, eta_abs, d).

    Returns ``X`` (float64, shape ``(n, d + 1)``, column 0 is ``x1``) and ``y`` (int64 in {-1, +1}).
    """
    _check_p(p)
    _check_d(d)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not math.isfinite(eta_abs):
        raise ValueError(f"eta_abs must be finite, got {eta_abs!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    y = rng.integers(0, 2, size=n, dtype=np.int64) * 2 - 1
    agree = rng.random(n) < p
    X = np.empty((n, d + 1), dtype=np.float64)
    X[:, 0] = np.where(agree, y, -y)
    X[:, 1:] = eta_abs * y[:, None] + rng.standard_normal((n, d))
    return X, y


@overload
def population_accuracy(
    w: ArrayLike, b: float, p: float, eta_abs: float, eps: float = ..., norm: str = ...
) -> float: ...
@overload
def population_accuracy(
    w: ArrayLike, b: float, p: float, eta_abs: float, eps: NDArray[np.float64], norm: str = ...
) -> NDArray[np.float64]: ...
def population_accuracy(
    w: ArrayLike, b: float, p: float, eta_abs: float, eps: ArrayLike = 0.0, norm: str = "linf"
) -> FloatOrArray:
    r"""Exact accuracy over D of ``sign(w.x + b)`` under the worst-case ``norm`` attack of size ``eps``.

    With ``s = x1 y`` (+1 w.p. p), ``S = sum_{j>=1} w_j``, ``sigma = ||w_{1:}||_2``, ``Z ~ N(0, 1)``::

        y (w.(x + delta*) + b) = w0 s + eta S + y b + sigma Z - eps ||w||_dual

    so, averaging over ``y = +-1`` (prob 1/2) and ``s = +-1`` (prob p, 1-p),
    ``acc = sum_{y,s} P(y) P(s) Phi(m_{y,s} / sigma)`` with ``m_{y,s} = w0 s + eta S + y b - eps ||w||_dual``.
    If ``sigma == 0`` the margin is deterministic and ``Phi(m/sigma)`` becomes ``1[m > 0]``
    (a margin of exactly 0 is an error). ``eps`` (absolute) may be an array: the result then has its shape.
    """
    _check_norm(norm)
    _check_p(p)
    w_arr = np.asarray(w, dtype=np.float64).ravel()
    if w_arr.size < 2 or not np.all(np.isfinite(w_arr)):
        raise ValueError("w must be a finite vector of length d + 1 >= 2")
    if not (math.isfinite(b) and math.isfinite(eta_abs)):
        raise ValueError("b and eta_abs must be finite")
    eps_arr = _as_eps(eps)
    w0 = w_arr[0]
    S = float(w_arr[1:].sum())
    sigma = float(np.linalg.norm(w_arr[1:]))
    shift = eps_arr * dual_norm(w_arr, norm)
    acc = np.zeros_like(eps_arr)
    for y in (-1.0, 1.0):
        for s, ps in ((1.0, p), (-1.0, 1.0 - p)):
            m = w0 * s + eta_abs * S + y * b - shift
            prob = ndtr(m / sigma) if sigma > 0 else (m > 0).astype(np.float64)
            acc = acc + 0.5 * ps * prob
    return _out(np.clip(acc, 0.0, 1.0))


def averaging_classifier(d: int) -> tuple[NDArray[np.float64], float]:
    """``w_avg = (0, 1/d, ..., 1/d)``, ``b = 0``: the mean of the weak features."""
    _check_d(d)
    w = np.full(d + 1, 1.0 / d)
    w[0] = 0.0
    return w, 0.0


def sign_x1_classifier(d: int) -> tuple[NDArray[np.float64], float]:
    """``w = (1, 0, ..., 0)``, ``b = 0``: predicts ``sign(x1)``."""
    _check_d(d)
    w = np.zeros(d + 1)
    w[0] = 1.0
    return w, 0.0


def averaging_accuracy_closed_form(
    eta_abs: float, d: int, eps: ArrayLike = 0.0, norm: str = "linf"
) -> FloatOrArray:
    r"""Robust accuracy of the averaging classifier (``eps`` absolute).

    ``w_avg . x y ~ N(eta, 1/d)``; ``||w_avg||_1 = 1``, ``||w_avg||_2 = 1/sqrt(d)``, hence
      l_inf: ``Pr[N(eta - eps, 1/d) > 0] = Phi(sqrt(d) (eta - eps))``;
      l_2:   ``Pr[N(eta - eps/sqrt(d), 1/d) > 0] = Phi(sqrt(d) eta - eps)``.
    At ``eps = 2 eta`` (l_inf) or ``2 eta sqrt(d)`` (l_2; both "2 units") both equal ``Phi(-sqrt(d) eta)``.
    """
    _check_norm(norm)
    _check_d(d)
    eps_arr = _as_eps(eps)
    rd = math.sqrt(d)
    z = rd * (eta_abs - eps_arr) if norm == "linf" else rd * eta_abs - eps_arr
    return _out(np.asarray(ndtr(z), dtype=np.float64))


def sign_x1_accuracy_closed_form(p: float, eps: ArrayLike = 0.0, norm: str = "linf") -> FloatOrArray:
    """Robust accuracy of ``sign(x1)``: ``p`` if ``eps < 1`` else ``0`` (same in l_inf and l_2).

    ``||e_1||_1 = ||e_1||_2 = 1``; the margin is ``s - eps``, and once ``eps >= 1`` the adversary
    flips (or zeroes) ``x1`` on every point.
    """
    _check_norm(norm)
    _check_p(p)
    eps_arr = _as_eps(eps)
    return _out(np.where(eps_arr < 1.0, p, 0.0).astype(np.float64))


def theorem_2_1_bound(standard_accuracy: ArrayLike, p: float) -> FloatOrArray:
    r"""Theorem 2.1: at l_inf ``eps >= 2 eta`` robust accuracy ``<= min(1, p/(1-p) * (1 - std_acc))``.

    Tight at ``std_acc = p`` (``delta = 1 - p``), attained by ``sign(x1)``. For ``p = 1`` the bound is
    vacuous (1) unless ``std_acc == 1`` exactly, where we return 1 as well.
    """
    _check_p(p)
    acc = np.asarray(standard_accuracy, dtype=np.float64)
    if np.any((acc < 0) | (acc > 1)) or not np.all(np.isfinite(acc)):
        raise ValueError("standard_accuracy must lie in [0, 1]")
    if p == 1.0:
        return _out(np.ones_like(acc))
    return _out(np.minimum(1.0, p / (1.0 - p) * (1.0 - acc)))


def load_split(samples: np.lib.npyio.NpzFile, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One seed's split ('train' or 'test') as float64 features and {-1,+1} labels."""
    try:
        X = samples[f"X_{split}_{seed}"].astype(np.float64)
        y = samples[f"y_{split}_{seed}"].astype(np.int64)
    except KeyError as err:
        raise ValueError(f"{getattr(samples, 'fid', samples)}: no {split} split for seed {seed}") from err
    return X, y
