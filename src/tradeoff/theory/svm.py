"""Adversarially robust linear SVM (the convex model of Tsipras et al., 2019, Sec. 2).

For a linear classifier ``f(x) = w.x + b`` and a threat model ``||delta|| <= eps``
(``norm`` = ``"linf"`` or ``"l2"``) the worst-case hinge loss has the closed form

    max_{||delta|| <= eps} max(0, 1 - y (w.(x + delta) + b))
        = max(0, 1 - y (w.x + b) + eps ||w||_*),

with ``||.||_*`` the dual norm (l1 for linf, l2 for l2). :class:`RobustSVC` minimises
exactly

    J(w, b) = 1/2 ||w||_2^2 + sum_i c_i max(0, 1 - y_i (w.x_i + b) + eps ||w||_*),

``c_i = C * sample_weight_i``, ``y_i in {-1, +1}``, intercept not penalised.

Solver (Lagrange dual; derivation in :func:`_solve`): with ``alpha in [0, c]``,
``y.alpha = 0``, ``z = X^T (alpha * y)`` and ``lambda = eps * sum(alpha)``

    D(alpha) = sum(alpha) - 1/2 ||w(alpha)||^2,
    w(alpha) = argmin_w 1/2 ||w||^2 - w.z + lambda ||w||_*  (soft-thresholding for
               linf, radial shrinkage for l2),

a concave, continuously differentiable function with gradient
``dD/dalpha_i = 1 - y_i x_i.w(alpha) + eps ||w(alpha)||_*``. It is maximised by
accelerated projected gradient (FISTA with backtracking and adaptive restart; the
projection onto the box-and-hyperplane set is a 1-D monotone root find). From time to time
the iterate is *polished* by a primal-dual active-set (semismooth Newton) step: with the
free / bounded samples and the support and signs of ``w`` identified, the KKT conditions
are a linear system (a plain SVM on the worst-case points ``y_i x_i - eps sign(w)``; for
l2 two extra scalar equations), which gives the exact optimum once the sets are right.
Every few iterations the primal point ``(w(alpha), b*(w))`` -- with the exactly optimal
intercept for that ``w``, a weighted quantile -- gives the upper bound ``J`` and
``D(alpha)`` the lower bound; the fit stops once the relative duality gap
``(J - D) / max(1, |J|) <= tol``, which certifies
``J(coef_, intercept_) - min J <= tol * max(1, |J|)`` (up to floating-point rounding, so
the reported gap can be ~1e-16 below zero).

Convergence of the first-order phase slows down for nearly hard-margin, non-separable
problems (large ``C``); ``max_iter`` bounds the work and a ``ConvergenceWarning`` reports
the certified gap reached.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal, cast

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, validate_data

from tradeoff.theory.norms import dual_norm  # the one definition (re-exported here)

__all__ = ["RobustSVC", "dual_norm", "robust_hinge_objective"]

Norm = Literal["linf", "l2"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_NORMS: tuple[str, ...] = ("linf", "l2")


def _check_norm(norm: str) -> None:
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS} (threat model), got {norm!r}.")


def robust_hinge_objective(
    w: ArrayLike,
    b: float,
    X: ArrayLike,
    y: ArrayLike,
    C: float,
    eps: float,
    norm: Norm,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Primal objective ``1/2||w||^2 + C sum_i s_i max(0, 1 - y_i(w.x_i + b) + eps||w||_*)``.

    ``y`` must be in ``{-1, +1}``; ``s_i`` is ``sample_weight`` (ones by default).
    """
    w = np.asarray(w, dtype=np.float64).ravel()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("robust_hinge_objective expects labels y in {-1, +1}.")
    s = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, np.float64)
    hinge = np.maximum(0.0, 1.0 - y * (X @ w + float(b)) + eps * dual_norm(w, norm))
    return float(0.5 * (w @ w) + C * (s @ hinge))


# ----------------------------------------------------------------------------- kernels


def _shrink(z: FloatArray, lam: float, norm: Norm) -> FloatArray:
    """``w(z, lam) = argmin_w 1/2||w||^2 - w.z + lam ||w||_*`` (prox of the dual norm).

    linf threat (l1 dual): soft-thresholding ``sign(z) max(|z| - lam, 0)``;
    l2 threat: ``max(0, 1 - lam/||z||) z``. The minimum value is ``-1/2 ||w||^2``.
    """
    if lam <= 0.0:
        return z.copy()
    if norm == "linf":
        return np.sign(z) * np.maximum(np.abs(z) - lam, 0.0)
    nz = float(np.sqrt(z @ z))
    return z * (1.0 - lam / nz) if nz > lam else np.zeros_like(z)


def _project(
    v: FloatArray, y: FloatArray, c: FloatArray, beta: float = 0.0
) -> tuple[FloatArray, float]:
    """Euclidean projection onto ``{0 <= alpha <= c, y.alpha = 0}``.

    ``alpha = clip(v - beta y, 0, c)`` where the multiplier ``beta`` solves
    ``h(beta) = sum_i clip(beta - a_i, 0, c_i) = sum_{y_i=+1} c_i`` with
    ``a_i = v_i - c_i`` (y=+1) or ``-v_i`` (y=-1); ``h`` is monotone piecewise linear and
    is solved by safeguarded Newton (exact once the linear piece is found). The tiny
    floating-point residual of ``y.alpha`` is then absorbed by one free coordinate.
    """
    pos = y > 0
    a = np.where(pos, v - c, -v)
    target = float(c[pos].sum())
    lo, hi = float(a.min()), float((a + c).max())
    beta = min(max(beta, lo), hi)
    scale = max(float(c.sum()), 1e-300)
    for _ in range(200):
        t = beta - a
        hval = float(np.clip(t, 0.0, c).sum())
        diff = target - hval
        if diff > 0:
            lo = beta
        else:
            hi = beta
        if abs(diff) <= 1e-15 * scale or hi - lo <= 1e-15 * max(1.0, abs(beta)):
            break
        k = int(np.count_nonzero((t > 0) & (t < c)))
        nb = beta + diff / k if k else 0.5 * (lo + hi)
        beta = nb if lo < nb < hi else 0.5 * (lo + hi)
    alpha = np.clip(v - beta * y, 0.0, c)
    res = float(y @ alpha)
    if res != 0.0:  # absorb rounding residual in the freest coordinate
        room = np.minimum(alpha, c - alpha)
        i = int(np.argmax(room))
        alpha[i] = min(max(alpha[i] - y[i] * res, 0.0), c[i])
    return alpha, beta


def _optimal_intercept(m: FloatArray, y: FloatArray, c: FloatArray) -> float:
    """Exact minimiser of ``phi(b) = sum_i c_i max(0, m_i - y_i b)`` (``m_i = 1 - y_i w.x_i
    + eps||w||_*``).

    ``phi`` is convex piecewise linear with breakpoints ``t_i = y_i m_i`` and slope
    ``-W_+ + sum_{t_i < b} c_i`` (``W_+`` = total weight of class +1): a weighted
    quantile. If the slope is exactly 0 on an interval, its midpoint is returned.
    """
    keep = c > 0
    t, cw = y[keep] * m[keep], c[keep]
    order = np.argsort(t, kind="stable")
    t, cw = t[order], cw[order]
    w_pos = float(c[y > 0].sum())
    cum = np.cumsum(cw)
    k = int(np.searchsorted(cum, w_pos * (1.0 - 1e-13)))  # first k with cum_k >= W_+
    k = min(k, t.size - 1)
    if abs(cum[k] - w_pos) <= 1e-13 * max(float(cum[-1]), 1e-300) and k + 1 < t.size:
        return 0.5 * (float(t[k]) + float(t[k + 1]))
    return float(t[k])


# ----------------------------------------------------------------------------- solver


@dataclass
class _Result:
    """Best primal point ``(w, b)`` (upper bound ``primal``) and best dual point ``alpha``."""

    w: FloatArray
    b: float
    primal: float
    alpha: FloatArray
    dual: float
    n_iter: int = 0
    n_polish: int = 0
    converged: bool = False

    @property
    def gap(self) -> float:
        """Certified relative duality gap ``(J - D) / max(1, |J|)``."""
        return (self.primal - self.dual) / max(1.0, abs(self.primal))


class _Problem:
    """Oracles for the dual ``D`` and the primal ``J`` of one problem instance."""

    def __init__(self, X: FloatArray, y: FloatArray, c: FloatArray, eps: float, norm: Norm):
        self.X, self.y, self.c, self.eps, self.norm = X, y, c, eps, norm
        self.row_sq = np.einsum("ij,ij->i", X, X)  # ||x_i||^2

    def z(self, alpha: FloatArray) -> FloatArray:
        """``z = X^T (alpha * y)``."""
        return self.X.T @ (alpha * self.y)

    def w(self, z: FloatArray, sum_alpha: float) -> FloatArray:
        """Primal point ``w(alpha)`` associated with the dual point (``lambda = eps sum alpha``)."""
        return _shrink(z, self.eps * sum_alpha, self.norm)

    def margins(self, w: FloatArray) -> FloatArray:
        """``m_i = 1 - y_i x_i.w + eps ||w||_*`` (= ``dD/dalpha_i`` when ``w = w(alpha)``)."""
        return (1.0 + self.eps * dual_norm(w, self.norm)) - self.y * (self.X @ w)

    def primal(self, w: FloatArray, m: FloatArray) -> tuple[float, float]:
        """``(min_b J(w, b), argmin_b)`` given the margins ``m`` of ``w``."""
        b = _optimal_intercept(m, self.y, self.c)
        return 0.5 * float(w @ w) + float(self.c @ np.maximum(0.0, m - self.y * b)), b

    def offer_primal(self, best: _Result, w: FloatArray) -> tuple[FloatArray, float]:
        """Evaluate the upper bound at ``(w, b*(w))``, keep it if best; return ``(m, b*)``."""
        m = self.margins(w)
        J, b = self.primal(w, m)
        if J < best.primal:
            best.w, best.b, best.primal = w, b, J
        return m, b

    def offer_dual(
        self, best: _Result, alpha: FloatArray
    ) -> tuple[FloatArray, FloatArray, float]:
        """Evaluate ``D(alpha)`` (alpha feasible), keep it if best; return ``(z, w(alpha), D)``."""
        z = self.z(alpha)
        sa = float(alpha.sum())
        w = self.w(z, sa)
        D = sa - 0.5 * float(w @ w)
        if D > best.dual:
            best.alpha, best.dual = alpha, D
        return z, w, D


def _support(prob: _Problem, z: FloatArray, sum_alpha: float) -> tuple[IntArray, FloatArray]:
    """Coordinates ``F`` where ``w(alpha)`` may be non-zero and the frozen dual-norm gradient ``g``.

    linf: ``F = {|z_j| > lambda}``, ``g = sign(z_F)`` (so ``||w||_1 = g.w_F``); l2: all
    coordinates, ``g = z/||z||``; ``eps = 0``: all coordinates, ``g = 0``.
    """
    d = z.size
    lam = prob.eps * sum_alpha
    if prob.eps == 0.0:
        return np.arange(d), np.zeros(d)
    if prob.norm == "linf":
        F = np.flatnonzero(np.abs(z) > lam)
        return F, np.sign(z[F])
    nz = float(np.sqrt(z @ z))
    return np.arange(d), (z / nz if nz > 0 else np.zeros(d))


def _project_box_affine(
    a0: FloatArray, B: FloatArray, h: FloatArray, hi: FloatArray, max_iter: int = 30
) -> tuple[FloatArray, bool]:
    """Projection of ``a0`` onto ``{0 <= a <= hi, B a = h}`` (``B`` has few rows).

    Maximises the concave piecewise-quadratic dual ``g(mu) = min_{0<=a<=hi} 1/2||a - a0||^2
    - mu.(B a - h)``, whose minimiser is ``a(mu) = clip(a0 + B^T mu, 0, hi)``, by
    semismooth Newton (generalised Hessian ``-B_free B_free^T``) with backtracking.
    Returns ``(a, feasible)``; if the set is empty the iterate is only approximate.
    """
    mu = np.zeros(B.shape[0])
    scale = 1e-11 * (1.0 + float(np.abs(h).max(initial=0.0)))

    def dual(mu_: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        u = a0 + B.T @ mu_
        a_ = np.clip(u, 0.0, hi)
        res_ = h - B @ a_
        return 0.5 * float((a_ - a0) @ (a_ - a0)) + float(mu_ @ res_), a_, res_

    g, a, res = dual(mu)
    for _ in range(max_iter):
        if float(np.abs(res).max(initial=0.0)) <= scale:
            return a, True
        u = a0 + B.T @ mu
        free = (u > 0.0) & (u < hi)
        Bf = B[:, free]
        H = Bf @ Bf.T + 1e-12 * np.eye(B.shape[0])
        step = scipy.linalg.lstsq(H, res, check_finite=False)[0]
        tau = 1.0
        for _ in range(30):  # Armijo backtracking on the concave dual
            g_new, a_new, res_new = dual(mu + tau * step)
            if g_new >= g + 1e-4 * tau * float(res @ step):
                break
            tau *= 0.5
        else:
            break
        mu, g, a, res = mu + tau * step, g_new, a_new, res_new
    return a, float(np.abs(res).max(initial=0.0)) <= scale


def _saddle_solve(G: FloatArray, yE: FloatArray, R: FloatArray) -> tuple[FloatArray, bool]:
    """Solve ``[G yE; yE^T 0] V = R`` (``G`` a Gram matrix, ``R`` of shape ``(|E|+1, k)``).

    Fast path: Cholesky of ``G`` and the scalar Schur complement ``yE^T G^-1 yE``. Fallbacks:
    symmetric indefinite solve, then minimum-norm least squares (singular systems, e.g.
    duplicated samples). Returns ``(V, singular)``.
    """
    m = yE.size
    K = np.empty((m + 1, m + 1))
    K[:-1, :-1] = G
    K[:-1, -1] = K[-1, :-1] = yE
    K[-1, -1] = 0.0
    tol = 1e-9 * (1.0 + float(np.linalg.norm(R)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cf = scipy.linalg.cho_factor(G, check_finite=False)
            Gi_r = scipy.linalg.cho_solve(cf, R[:-1], check_finite=False)
            Gi_y = scipy.linalg.cho_solve(cf, yE, check_finite=False)
            b = (yE @ Gi_r - R[-1]) / float(yE @ Gi_y)
            V = np.vstack([Gi_r - np.outer(Gi_y, b), b])
            if np.all(np.isfinite(V)) and np.linalg.norm(K @ V - R) <= tol:
                return V, False
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            pass
        try:
            V = scipy.linalg.solve(K, R, assume_a="sym", check_finite=False)
            if np.all(np.isfinite(V)) and np.linalg.norm(K @ V - R) <= tol:
                return V, False
        except (np.linalg.LinAlgError, ValueError):
            pass
        return scipy.linalg.lstsq(K, R, check_finite=False)[0], True


def _kkt_step(
    prob: _Problem,
    alpha: FloatArray,
    E: IntArray,
    U: IntArray,
    F: IntArray,
    g: FloatArray,
    budget: float,
) -> tuple[FloatArray, FloatArray, float | None] | None:
    """Solve the KKT conditions with the active sets frozen (one active-set Newton step).

    With ``F``, ``g`` frozen, ``||w||_* = g.w_F`` is linear and the problem is a plain SVM
    on the worst-case points ``xt_i = y_i x_{i,F} - eps g``: ``w_F = Xt^T alpha``. Samples in
    ``U`` sit at ``alpha_i = c_i``, those outside ``E u U`` at 0, and the free ones satisfy
    ``xt_i.w_F + y_i b = 1`` (``i in E``) and ``y.alpha = 0``. These are the optimality
    conditions of ``min 1/2||w_F||^2 - q.w_F s.t. Xt_E w_F + y_E b = 1`` (``q = Xt_U^T c_U``),
    whose ``w_F`` is unique. Small ``E``: the ``(|E|+1)``-dim system
    ``[Kt_EE y_E; y_E^T 0][alpha_E; b] = [1 - Xt_E q; -y_U.c_U]`` (min-norm least squares if
    singular, e.g. duplicated samples); large ``E`` (more margin points than dimensions):
    ``(w_F, b)`` from an SVD of ``[Xt_E y_E]`` (min of the QP over its solution set). When
    ``alpha_E`` is not unique and not in the box, it is the point of
    ``{0 <= alpha_E <= c_E, Xt_E^T alpha_E = w_F - q, y_E.alpha_E = -y_U.c_U}`` closest to the
    current ``alpha_E`` (:func:`_project_box_affine`). Returns ``(alpha, w, b)``
    (``b`` None if ``E`` is empty), or None if the dense work would exceed ``budget``.
    """
    X, y, c, eps = prob.X, prob.y, prob.c, prob.eps
    p = F.size
    small = E.size <= 2 * (p + 1) + 64
    if float(E.size) * p * (E.size if small else p) > budget:
        return None
    cU = c[U]
    q = X[np.ix_(U, F)].T @ (cU * y[U]) - eps * g * float(cU.sum())
    new = np.zeros_like(alpha)
    new[U] = cU
    w = np.zeros(X.shape[1])
    if E.size == 0 or p == 0:
        w[F] = q
        return new, w, None
    XE = y[E, None] * X[np.ix_(E, F)] - eps * g
    e = -float(y[U] @ cU)  # required y_E . alpha_E
    aE: FloatArray | None = None
    singular = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if small:
            R = np.append(1.0 - XE @ q, e)[:, None]
            sol2, singular = _saddle_solve(XE @ XE.T, y[E], R)
            sol = sol2[:, 0]
            aE, b = sol[:-1], float(sol[-1])
            wF = XE.T @ aE + q
        else:
            A = np.column_stack([XE, y[E]])
            Uu, S, Vt = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
            rank = int(np.sum(S > S[0] * 1e-12 * max(A.shape)))
            x = Vt[:rank].T @ ((Uu[:, :rank].T @ np.ones(E.size)) / S[:rank])
            N = Vt[rank:].T  # null space of A: pick the QP's minimiser within x + N theta
            if N.shape[1]:
                Nw = N[:-1]
                x = x + N @ scipy.linalg.lstsq(Nw.T @ Nw, Nw.T @ (q - x[:-1]))[0]
            wF, b = x[:-1], float(x[-1])
        tol_box = 1e-12 * float(c[E].max())
        in_box = aE is not None and bool(np.all(aE >= -tol_box) and np.all(aE <= c[E] + tol_box))
        if not in_box and (aE is None or singular):
            # several alpha_E give this w (more margin points than dimensions, duplicates):
            # take the one in the box closest to the current alpha_E
            B = np.vstack([XE.T, y[E]])
            aE, _ = _project_box_affine(alpha[E], B, np.append(wF - q, e), c[E])
    assert aE is not None
    new[E] = aE
    w[F] = wF
    return new, w, b


def _kkt_step_l2(
    prob: _Problem, alpha: FloatArray, E: IntArray, U: IntArray, budget: float
) -> tuple[FloatArray, FloatArray, float] | None:
    """Exact active-set step for the l2 threat model (no frozen direction).

    With ``z = X_y^T alpha`` (rows ``y_i x_i``), ``lambda = eps sum(alpha)``,
    ``rho = ||w|| = ||z|| - lambda`` and ``theta = rho / (rho + lambda)`` we have
    ``w = theta z``. Writing ``beta_E = theta alpha_E`` the margin and balance equations
    ``y_i x_i.w + y_i b = 1 + eps rho`` (``i in E``), ``y_E.beta_E = theta e`` are linear
    with right-hand side affine in ``(rho, theta)``: one factorisation, three solves. The
    two scalar consistency equations ``||w||^2 = rho^2`` and
    ``theta rho + eps (sum beta_E + theta c_U.1) = rho`` are then solved by 2-D Newton.
    Returns ``(alpha, w, b)`` or None (too large, singular, or no consistent root).
    """
    X, y, c, eps = prob.X, prob.y, prob.c, prob.eps
    d = X.shape[1]
    if E.size == 0 or E.size > 2 * (d + 1) + 64 or float(E.size) ** 2 * d > budget:
        return None
    cU = c[U]
    q = X[U].T @ (cU * y[U])
    e, cu_sum = -float(y[U] @ cU), float(cU.sum())
    XE = y[E, None] * X[E]
    R = np.zeros((E.size + 1, 3))
    R[:-1, 0] = 1.0
    R[:-1, 1] = eps
    R[:-1, 2] = -(XE @ q)
    R[-1, 2] = e
    V, _ = _saddle_solve(XE @ XE.T, y[E], R)
    Wm = XE.T @ V[:-1]  # w = Wm @ (1, rho, theta) + theta q
    Wm[:, 2] += q
    G = Wm.T @ Wm
    sb = V[:-1].sum(axis=0)  # sum beta_E = sb @ (1, rho, theta)
    sa = float(alpha.sum())
    w_cur = prob.w(prob.z(alpha), sa)
    rho = float(np.sqrt(w_cur @ w_cur))
    if rho <= 0.0:
        return None
    theta = rho / (rho + eps * sa)
    for _ in range(50):
        v = np.array([1.0, rho, theta])
        f1 = float(v @ G @ v) - rho * rho
        f2 = theta * rho + eps * (float(sb @ v) + theta * cu_sum) - rho
        if abs(f1) <= 1e-14 * rho * rho and abs(f2) <= 1e-14 * rho:
            break
        Gv = G @ v
        J = np.array(
            [
                [2 * Gv[1] - 2 * rho, 2 * Gv[2]],
                [theta + eps * sb[1] - 1.0, rho + eps * (sb[2] + cu_sum)],
            ]
        )
        try:
            step = np.linalg.solve(J, [-f1, -f2])
        except np.linalg.LinAlgError:
            return None
        tau = 1.0
        while rho + tau * step[0] <= 0 or not 0 < theta + tau * step[1] <= 1:
            tau *= 0.5
            if tau < 1e-8:
                return None
        rho, theta = rho + tau * step[0], theta + tau * step[1]
    else:
        return None
    v = np.array([1.0, rho, theta])
    sol = V @ v
    new = np.zeros_like(alpha)
    new[U] = cU
    new[E] = sol[:-1] / theta
    return new, Wm @ v, float(sol[-1])


def _polish(
    prob: _Problem,
    best: _Result,
    alpha: FloatArray,
    z: FloatArray,
    tol: float,
    max_steps: int,
    budget: float,
) -> int:
    """Primal-dual active-set (semismooth Newton) refinement of a dual point.

    Iterates: residuals ``r = m(w) - y b`` of the current primal estimate; with
    ``t = alpha + r / ||x_i||^2`` (a coordinate-Newton trial step) the active sets are
    ``U = {t >= c}`` (``alpha_i = c_i``), ``O = {t <= 0}`` (``alpha_i = 0``), the rest
    free, and the support/signs (linf) or direction (l2) of ``w`` come from ``z``; then
    :func:`_kkt_step`. Each step offers the projected dual point and two primal points to
    the certificate in ``best``; stops at ``tol``, when the sets repeat, when the gap
    stalls, or after ``max_steps``. Returns the number of KKT solves.
    """
    y, c = prob.y, prob.c
    pos = c > 0
    kappa = 1.0 / np.maximum(prob.row_sq, 1e-12)  # ~ 1 / (diagonal of the dual Hessian)
    sa = float(alpha.sum())
    w = prob.w(z, sa)
    m, b = prob.offer_primal(best, w)
    a_cur, key = alpha, None
    frozen_direction = prob.norm == "l2" and prob.eps > 0  # u = z/||z|| moves between steps
    best_gap, stall = best.gap, 0
    for step in range(max_steps):
        r = m - y * b
        t = a_cur + kappa * r
        U = np.flatnonzero((t >= c) & pos)
        E = np.flatnonzero((t > 0) & (t < c) & pos)
        F, g = _support(prob, z, sa)
        new_key = (E.tobytes(), U.tobytes(), F.tobytes(), np.sign(g).tobytes())
        if new_key == key and not frozen_direction:
            return step
        key = new_key
        out: tuple[FloatArray, FloatArray, float | None] | None = (
            _kkt_step_l2(prob, a_cur, E, U, budget) if frozen_direction else None)
        if out is None:
            out = _kkt_step(prob, a_cur, E, U, F, g, budget)
        if out is None:
            return step
        a_cur, w_kkt, b_kkt = out
        m, b = prob.offer_primal(best, w_kkt)
        if b_kkt is not None:
            b = b_kkt
        feas = _project(np.clip(a_cur, 0.0, c), y, c)[0]
        _, w_feas, _ = prob.offer_dual(best, feas)
        prob.offer_primal(best, w_feas)
        if best.gap <= tol:
            return step + 1
        stall = stall + 1 if best.gap > 0.5 * best_gap else 0
        best_gap = min(best_gap, best.gap)
        if stall >= 3:
            return step + 1
        z = prob.z(a_cur)
        sa = float(a_cur.sum())
    return max_steps


def _start(
    prob: _Problem, alpha0: FloatArray | None
) -> tuple[FloatArray, float, FloatArray, float, _Result]:
    """The first dual point (``alpha0`` clipped to the box, else zeros, projected), its ``z``, sum
    and projection multiplier, and the first best point (its primal point offered)."""
    start = np.zeros(prob.X.shape[0]) if alpha0 is None else np.clip(alpha0, 0.0, prob.c)
    alpha, beta = _project(start, prob.y, prob.c)
    z = prob.z(alpha)
    sa = float(alpha.sum())
    w0 = prob.w(z, sa)
    best = _Result(w0, 0.0, np.inf, alpha, sa - 0.5 * float(w0 @ w0))
    prob.offer_primal(best, w0)
    return alpha, beta, z, sa, best


def _ascent_step(
    prob: _Problem, v: FloatArray, zv: FloatArray, sv: float, L: float, beta: float
) -> tuple[FloatArray, FloatArray, float, FloatArray, float, FloatArray, float, float]:
    """One projected gradient ascent step of the dual from ``v`` (its ``z`` and sum ``zv``, ``sv``),
    backtracking on the ascent condition of the concave ``D`` (``L`` doubles until it holds).
    Returns the new point, its ``z``, sum, ``w`` and dual value, the step, ``L`` and ``beta``."""
    wv = prob.w(zv, sv)
    mv = prob.margins(wv)
    dv = sv - 0.5 * float(wv @ wv)
    while True:
        a_new, beta = _project(v + mv / L, prob.y, prob.c, beta)
        z_new = prob.z(a_new)
        s_new = float(a_new.sum())
        w_new = prob.w(z_new, s_new)
        d_new = s_new - 0.5 * float(w_new @ w_new)
        step = a_new - v
        model = dv + float(mv @ step) - 0.5 * L * float(step @ step)
        if d_new >= model - 1e-12 * max(1.0, abs(dv)):
            return a_new, z_new, s_new, w_new, d_new, step, L, beta
        L *= 2.0


def _report(it: int, best: _Result, gap: float, L: float, t_start: float) -> None:
    print(
        f"[RobustSVC] it={it:6d} primal={best.primal:.10g} dual={best.dual:.10g} "
        f"gap={gap:.3e} L={L:.3e} kkt_solves={best.n_polish} "
        f"t={time.perf_counter() - t_start:.2f}s"
    )


def _solve(
    X: FloatArray,
    y: FloatArray,
    c: FloatArray,
    eps: float,
    norm: Norm,
    tol: float,
    max_iter: int,
    alpha0: FloatArray | None = None,
    check_every: int = 10,
    verbose: int = 0,
    polish: bool = True,
    polish_steps: int = 10,
) -> _Result:
    """Maximise the dual ``D`` by FISTA (backtracking, adaptive restart) + active-set polishing.

    Derivation. Writing the primal with slacks ``xi_i >= 1 - y_i(w.x_i + b) + eps t``,
    ``xi >= 0``, ``t >= ||w||_*`` and multipliers ``alpha, mu >= 0``, ``nu >= 0``: the
    Lagrangian is minimised over ``xi`` iff ``alpha_i + mu_i = c_i`` (so
    ``0 <= alpha <= c``), over ``b`` iff ``y.alpha = 0``, over ``t`` iff
    ``nu = eps sum(alpha) = lambda``, and over ``w`` the remaining term
    ``1/2||w||^2 - w.z + lambda ||w||_*`` has minimiser ``w(alpha)`` and value
    ``-1/2 ||w(alpha)||^2``. Hence ``D(alpha) = sum(alpha) - 1/2||w(alpha)||^2``, concave
    with gradient (Danskin) the robust margin ``m = 1 - y * (X w) + eps ||w||_*``, and by
    weak duality ``D(alpha) <= min J <= J(w, b)`` for every feasible ``alpha``.

    Every ``check_every`` iterations ``(w(alpha), b*(w))`` and ``alpha`` are offered to the
    certificate; active-set polishing (:func:`_polish`) is tried when the gap has shrunk
    4x since the last try, or on a doubling schedule of iterations.
    """
    n, d = X.shape
    prob = _Problem(X, y, c, eps, norm)
    alpha, beta, z, sa, best = _start(prob, alpha0)
    # initial step 1/L with L ~ squared largest row norm; backtracking corrects it
    L = float(prob.row_sq.max()) * (1.0 + eps) ** 2 + 1e-12
    v, zv, sv = alpha.copy(), z.copy(), sa
    t_mom = 1.0
    last_polish_gap, next_polish_it, polish_wait = np.inf, 20, 20
    budget = 50.0 * n * d + 1e7
    t_start = time.perf_counter()
    it = 0
    for it in range(1, max_iter + 1):
        a_new, z_new, s_new, w_new, d_new, step, L, beta = _ascent_step(prob, v, zv, sv, L, beta)
        # adaptive restart (O'Donoghue & Candes 2015), gradient-mapping criterion
        if float(step @ (a_new - alpha)) < 0.0:
            t_mom = 1.0
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_mom * t_mom))
        mom = (t_mom - 1.0) / t_next
        v = a_new + mom * (a_new - alpha)
        zv = z_new + mom * (z_new - z)
        sv = s_new + mom * (s_new - sa)
        alpha, z, sa, t_mom = a_new, z_new, s_new, t_next
        L *= 0.9
        if it % check_every and it != max_iter:
            continue
        if d_new > best.dual:
            best.alpha, best.dual = alpha, d_new
        prob.offer_primal(best, w_new)
        gap = best.gap
        if polish and gap > tol and (gap <= 0.25 * last_polish_gap or it >= next_polish_it):
            last_polish_gap = gap
            best.n_polish += _polish(prob, best, alpha, z, tol, polish_steps, budget)
            if best.gap > tol:
                next_polish_it = it + polish_wait
                polish_wait *= 2
            if best.dual - d_new > 0.9 * (best.primal - d_new):  # restart from the polished point
                alpha, z, sa = best.alpha, prob.z(best.alpha), float(best.alpha.sum())
                v, zv, sv, t_mom = alpha.copy(), z.copy(), sa, 1.0
            gap = best.gap
        if verbose:
            _report(it, best, gap, L, t_start)
        if gap <= tol:
            best.converged = True
            break
    best.n_iter = it
    return best


# ----------------------------------------------------------------------------- estimator


class RobustSVC(LinearClassifierMixin, BaseEstimator):
    """Binary linear SVM trained against worst-case ``eps``-bounded perturbations.

    Minimises ``1/2||w||^2 + C sum_i s_i max(0, 1 - y_i(w.x_i + b) + eps ||w||_*)``
    exactly (``y_i = +1`` for ``classes_[1]``), i.e. the hinge loss of the worst-case
    ``||delta|| <= eps`` perturbation (``norm`` = threat model, ``||.||_*`` its dual norm).
    With ``eps = 0`` it is the standard soft-margin linear SVM (``SVC(kernel="linear")``).

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength (> 0).
    eps : float, default=0.0
        Perturbation budget (>= 0).
    norm : {"linf", "l2"}, default="linf"
        Threat model; the penalty uses its dual norm (l1 resp. l2).
    tol : float, default=1e-6
        Stop when the certified relative duality gap ``(J - D)/max(1, |J|) <= tol``.
    max_iter : int, default=5000
        Maximum number of accelerated dual gradient iterations.
    warm_start : bool, default=False
        Start from the previous ``alpha_`` when refitting on data of the same size.
    verbose : int, default=0
        Print progress every certificate evaluation.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    n_iter_ : int
        Dual iterations performed.
    objective_ : float
        Primal objective ``J(coef_, intercept_)``.
    dual_objective_ : float
        Best dual value ``D(alpha_)`` (a lower bound on ``min J``).
    duality_gap_ : float
        Certified relative gap ``(objective_ - dual_objective_) / max(1, |objective_|)``.
    alpha_ : ndarray of shape (n_samples,)
        Dual variables (``0 <= alpha_i <= C s_i``); ``alpha_i > 0`` marks support vectors.
    converged_ : bool
        Whether the certified gap reached ``tol`` within ``max_iter``.
    n_kkt_solves_ : int
        Active-set (KKT system) solves used by the polishing steps.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "eps": [Interval(Real, 0.0, None, closed="left")],
        "norm": [StrOptions(set(_NORMS))],
        "tol": [Interval(Real, 0.0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        C: float = 1.0,
        eps: float = 0.0,
        norm: Norm = "linf",
        *,
        tol: float = 1e-6,
        max_iter: int = 5000,
        warm_start: bool = False,
        verbose: int = 0,
    ) -> None:
        self.C = C
        self.eps = eps
        self.norm = norm
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> RobustSVC:
        """Fit the robust SVM and return ``self``.

        ``y`` must have exactly two classes (``classes_[1]`` is the +1 class);
        ``sample_weight`` scales ``C`` per sample (``c_i = C s_i``, ``s_i >= 0``).
        Emits a ``ConvergenceWarning`` if ``max_iter`` is reached before ``tol``.
        """
        X, y = cast(tuple[FloatArray, np.ndarray], validate_data(self, X, y, dtype=np.float64, order="C"))
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        classes = np.unique(y)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}."
            )
        if classes.size < 2:
            raise ValueError(
                "RobustSVC needs samples of 2 classes, but the data contains only one class: "
                f"{classes[0]!r}."
            )
        ys = np.where(y == classes[1], 1.0, -1.0)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        c = float(self.C) * sw
        for label, cls in ((-1.0, classes[0]), (1.0, classes[1])):
            if not np.any(c[ys == label] > 0):
                raise ValueError(
                    "RobustSVC needs 2 classes with positive sample_weight, but class "
                    f"{cls!r} has none: only one class is left."
                )
        alpha0 = None
        previous = getattr(self, "alpha_", None)
        if self.warm_start and previous is not None:
            if previous.shape == (X.shape[0],):
                alpha0 = previous
        res = _solve(
            X,
            ys,
            c,
            float(self.eps),
            self.norm,
            float(self.tol),
            int(self.max_iter),
            alpha0=alpha0,
            verbose=int(self.verbose),
        )
        if not res.converged:
            warnings.warn(
                f"RobustSVC did not reach the relative duality gap tol={self.tol:g} in "
                f"max_iter={self.max_iter} iterations (gap {res.gap:.2e}); increase max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.classes_ = classes
        self.coef_ = res.w.reshape(1, -1)
        self.intercept_ = np.array([res.b])
        self.alpha_ = res.alpha
        self.n_iter_ = res.n_iter
        self.objective_ = res.primal
        self.dual_objective_ = res.dual
        self.duality_gap_ = res.gap
        self.converged_ = res.converged
        self.n_kkt_solves_ = res.n_polish
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = False
        return tags
