"""Tests of tradeoff.theory.svm: RobustSVC against sklearn's SVC (eps = 0) and an independent cvxpy solve."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from tradeoff.theory.svm import RobustSVC, _optimal_intercept, dual_norm, robust_hinge_objective

Array = NDArray[np.float64]

# ---------------------------------------------------------------------------- sklearn API

# Checks that RobustSVC is allowed to fail: none. Its tags declare binary-only
# (classifier_tags.multi_class = False) and dense-only input (input_tags.sparse = False), so
# sklearn itself runs the multiclass checks as "raises 'Only binary classification is
# supported.'" and the sparse checks as "raises a clear TypeError" -- both pass.
# Not run, by sklearn's own decision (not ours): check_array_api_input is skipped by sklearn
# with SkipTest unless the environment variable SCIPY_ARRAY_API=1 is set before scipy is
# imported (array-API dispatch); RobustSVC is a NumPy-only estimator.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

ESTIMATORS = [
    RobustSVC(),  # eps = 0: the standard linear SVM
    RobustSVC(eps=0.1, norm="linf"),
    RobustSVC(eps=0.1, norm="l2"),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator: RobustSVC, check: Any) -> None:
    check(estimator)


def test_tags_declare_binary_only() -> None:
    tags = RobustSVC().__sklearn_tags__()
    assert tags.classifier_tags is not None and tags.classifier_tags.multi_class is False
    assert tags.estimator_type == "classifier"


# ---------------------------------------------------------------------------- data


def paper_data(n: int, d: int, p: float = 0.95, eta_units: float = 4.0,
               seed: int = 0) -> tuple[Array, Array, float]:
    """Tsipras et al. (2019) model: x1 = y w.p. p else -y; x2..x_{d+1} ~ N(eta y, 1), eta = 4/sqrt(d)."""
    rng = np.random.default_rng(seed)
    eta = eta_units / np.sqrt(d)
    y = rng.choice([-1.0, 1.0], size=n)
    x1 = np.where(rng.random(n) < p, y, -y)
    X = np.column_stack([x1, eta * y[:, None] + rng.standard_normal((n, d))])
    return X, y, eta


def random_data(n: int, d: int, seed: int, shift: float = 1.0) -> tuple[Array, Array]:
    """Gaussian features with a class-dependent shift of feature 0 (not separable in general)."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], size=n)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, size=d)
    X[:, 0] += shift * y
    return X, y


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


# ---------------------------------------------------------------------------- objective


def test_dual_norm_and_worst_case_perturbation() -> None:
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(7), rng.standard_normal(7)
    assert dual_norm(w, "linf") == pytest.approx(np.abs(w).sum())
    assert dual_norm(w, "l2") == pytest.approx(np.linalg.norm(w))
    b, eps, y = 0.3, 0.2, -1.0
    # the closed form equals the hinge at the explicit worst-case perturbation
    for norm, delta in (("linf", -eps * y * np.sign(w)), ("l2", -eps * y * w / np.linalg.norm(w))):
        worst = max(0.0, 1.0 - y * (w @ (x + delta) + b))
        closed = robust_hinge_objective(w, b, x[None], np.array([y]), 1.0, eps, norm) - 0.5 * w @ w
        assert closed == pytest.approx(worst, rel=1e-12)
    with pytest.raises(ValueError, match="norm"):
        dual_norm(w, "l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        robust_hinge_objective(w, b, x[None], np.array([0.0]), 1.0, eps, "linf")


def test_optimal_intercept_is_exact() -> None:
    """The weighted-quantile intercept beats a fine grid of b for sum_i c_i (m_i - y_i b)_+."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(2, 30))
        y = rng.choice([-1.0, 1.0], size=n)
        y[:2] = [-1.0, 1.0]
        m, c = rng.normal(size=n), rng.integers(0, 4, size=n).astype(float)
        c[:2] = 1.0
        def phi(b: float, c: np.ndarray = c, m: np.ndarray = m, y: np.ndarray = y) -> float:
            return float(c @ np.maximum(0.0, m - y * b))

        b_star = _optimal_intercept(m, y, c)
        grid = np.concatenate([np.linspace(-5, 5, 2001), y * m])
        assert phi(b_star) <= min(phi(b) for b in grid) + 1e-12


# ---------------------------------------------------------------------------- eps = 0 vs SVC

SVC_PROBLEMS = [("random", 200, 5, 1.0, 0), ("random", 300, 20, 0.1, 1), ("random", 150, 40, 10.0, 2),
                ("paper", 500, 50, 1.0, 3), ("paper", 400, 100, 0.1, 4)]


@pytest.mark.parametrize(("kind", "n", "d", "C", "seed"), SVC_PROBLEMS)
def test_eps0_matches_sklearn_svc(kind: str, n: int, d: int, C: float, seed: int) -> None:
    X, y = random_data(n, d, seed) if kind == "random" else paper_data(n, d, seed=seed)[:2]
    svc = SVC(kernel="linear", C=C, tol=1e-8).fit(X, y)
    J_svc = robust_hinge_objective(svc.coef_.ravel(), float(svc.intercept_[0]), X, y, C, 0.0, "linf")
    est = RobustSVC(C=C).fit(X, y)
    assert est.converged_
    assert rel(est.objective_, J_svc) <= 1e-4
    # the certificate: no feasible point (SVC's included) is better than objective_ - gap
    assert J_svc >= est.dual_objective_ - 1e-9 * max(1.0, J_svc)
    tol_w = 1e-2 * max(1.0, float(np.linalg.norm(svc.coef_)))
    np.testing.assert_allclose(est.coef_.ravel(), svc.coef_.ravel(), atol=tol_w)


# ---------------------------------------------------------------------------- eps > 0 vs cvxpy


def cvxpy_reference(X: Array, y: Array, C: float, eps: float, norm: str) -> tuple[Array, float, float]:
    """Independent solve: epigraph t >= ||w||_dual, slacks xi, interior point (Clarabel)."""
    cp = pytest.importorskip("cvxpy")
    n, d = X.shape
    w, b, t, xi = cp.Variable(d), cp.Variable(), cp.Variable(), cp.Variable(n)
    dual = cp.norm1(w) if norm == "linf" else cp.norm2(w)
    constraints = [xi >= 0, xi >= 1 - cp.multiply(y, X @ w + b) + eps * t, t >= dual]
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w) + C * cp.sum(xi)), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "solution may be inaccurate" at these tight tolerances
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status in ("optimal", "optimal_inaccurate")
    return np.asarray(w.value), float(b.value), float(problem.value)


CVX_PROBLEMS = [
    # kind, n, d, C, eps, norm, seed
    ("random", 120, 5, 1.0, 0.1, "linf", 0),
    ("random", 200, 15, 0.3, 0.5, "linf", 1),
    ("random", 80, 30, 5.0, 0.05, "linf", 2),
    ("random", 150, 10, 1.0, 0.3, "l2", 3),
    ("random", 250, 25, 2.0, 0.1, "l2", 4),
    ("random", 60, 40, 0.5, 1.0, "l2", 5),
    ("paper", 400, 50, 1.0, 2.0, "linf", 6),  # eps in units of eta
    ("paper", 300, 50, 1.0, 2.0, "l2", 7),
    ("paper", 300, 100, 10.0, 1.0, "linf", 8),
]


@pytest.mark.parametrize(("kind", "n", "d", "C", "eps", "norm", "seed"), CVX_PROBLEMS)
def test_robust_matches_cvxpy(kind: str, n: int, d: int, C: float, eps: float, norm: str,
                              seed: int) -> None:
    if kind == "random":
        X, y = random_data(n, d, seed)
    else:
        X, y, eta = paper_data(n, d, seed=seed)
        eps *= eta
    w_ref, _, J_ref = cvxpy_reference(X, y, C, eps, norm)
    est = RobustSVC(C=C, eps=eps, norm=norm, tol=1e-9, max_iter=20000).fit(X, y)
    assert est.converged_ and est.duality_gap_ <= 1e-9
    J = robust_hinge_objective(est.coef_, est.intercept_[0], X, y, C, eps, norm)
    assert rel(J, J_ref) <= 1e-4
    # J is 1-strongly convex in w: ||w - w*||^2 <= 2 (J(w) - J*); both solutions are near-exact
    scale = max(1.0, float(np.linalg.norm(w_ref)))
    assert np.linalg.norm(est.coef_.ravel() - w_ref) <= 1e-3 * scale


# ---------------------------------------------------------------------------- certificate


def dual_value(alpha: Array, X: Array, y: Array, eps: float, norm: str) -> float:
    """D(alpha) = sum(alpha) - 1/2 ||w(alpha)||^2, re-derived here from the formulas."""
    z = X.T @ (alpha * y)
    lam = eps * alpha.sum()
    if norm == "linf":
        w = np.sign(z) * np.maximum(np.abs(z) - lam, 0.0)
    else:
        w = max(0.0, 1.0 - lam / max(np.linalg.norm(z), 1e-300)) * z
    return float(alpha.sum() - 0.5 * w @ w)


@pytest.mark.parametrize(("eps", "norm", "tol"), [(0.0, "linf", 1e-6), (0.2, "linf", 1e-6),
                                                  (0.2, "l2", 1e-6), (0.5, "linf", 1e-3)])
def test_certified_duality_gap(eps: float, norm: str, tol: float) -> None:
    X, y = random_data(300, 12, seed=11, shift=0.7)
    C = 0.7
    est = RobustSVC(C=C, eps=eps, norm=norm, tol=tol).fit(X, y)
    ys = np.where(y == est.classes_[1], 1.0, -1.0)
    J = robust_hinge_objective(est.coef_, est.intercept_[0], X, ys, C, eps, norm)
    assert est.objective_ == pytest.approx(J, rel=1e-12, abs=1e-12)
    # the dual certificate holds independently of the solver's bookkeeping
    a = est.alpha_
    assert np.all(a >= 0) and np.all(a <= C) and abs(a @ ys) <= 1e-9 * C * a.size
    D = dual_value(a, X, ys, eps, norm)
    assert D == pytest.approx(est.dual_objective_, rel=1e-10, abs=1e-10)
    assert -1e-12 <= est.duality_gap_ <= tol  # may undershoot 0 by rounding only
    assert (J - D) / max(1.0, abs(J)) <= tol + 1e-12
    # weak duality against an independent solve
    _, _, J_ref = cvxpy_reference(X, ys, C, eps, norm)
    assert D <= J_ref + 1e-7 * max(1.0, J_ref) and J_ref <= J + 1e-7 * max(1.0, J_ref)


# ---------------------------------------------------------------------------- paper model


def test_paper_model_robust_svm_uses_only_robust_feature() -> None:
    X, y, eta = paper_data(2000, 100, p=0.95, seed=0)
    robust = RobustSVC(C=1.0, eps=2 * eta, norm="linf").fit(X, y)
    w = robust.coef_.ravel()
    assert abs(w[0]) >= 0.99 * np.linalg.norm(w)
    assert w[0] > 0  # x1 agrees with y with probability p > 1/2
    standard = RobustSVC(C=1.0).fit(X, y)  # eps = 0 leans on the weak features
    ws = standard.coef_.ravel()
    assert abs(ws[0]) < 0.9 * np.linalg.norm(ws)


# ---------------------------------------------------------------------------- API behaviour


@pytest.mark.parametrize(
    ("params", "match"),
    [({"C": 0.0}, "'C'"), ({"C": -1.0}, "'C'"), ({"eps": -0.1}, "'eps'"), ({"norm": "l1"}, "'norm'"),
     ({"tol": 0.0}, "'tol'"), ({"max_iter": 0}, "'max_iter'")],
)
def test_parameter_validation(params: dict[str, Any], match: str) -> None:
    X, y = random_data(20, 3, seed=0)
    with pytest.raises(ValueError, match=match):
        RobustSVC(**params).fit(X, y)


def test_label_errors_and_encoding() -> None:
    X, y = random_data(40, 3, seed=0)
    with pytest.raises(ValueError, match="only one class"):
        RobustSVC().fit(X, np.ones(40))
    with pytest.raises(ValueError, match="Only binary classification"):
        RobustSVC().fit(X, np.arange(40) % 3)
    with pytest.raises(ValueError, match="class"):
        RobustSVC().fit(X, y, sample_weight=(y > 0).astype(float))  # one class left
    labels = np.where(y > 0, "pos", "neg")
    est = RobustSVC(eps=0.1).fit(X, labels)
    assert list(est.classes_) == ["neg", "pos"]
    scores = est.decision_function(X)
    np.testing.assert_array_equal(est.predict(X), np.where(scores > 0, "pos", "neg"))
    # the +1 class is classes_[1]: flipping the label names flips the model
    flipped = RobustSVC(eps=0.1).fit(X, np.where(y > 0, "a", "b"))
    np.testing.assert_allclose(flipped.coef_, -est.coef_, atol=1e-6)


def test_convergence_warning_when_max_iter_hit() -> None:
    X, y, eta = paper_data(300, 30, seed=2)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        est = RobustSVC(C=1.0, eps=eta, norm="l2", tol=1e-15, max_iter=1).fit(X, y)
    assert not est.converged_ and est.n_iter_ == 1 and est.duality_gap_ > 1e-15


def test_warm_start_reuses_dual_point() -> None:
    X, y, eta = paper_data(500, 40, seed=3)
    cold = RobustSVC(C=1.0, eps=eta).fit(X, y)
    warm = RobustSVC(C=1.0, eps=eta, warm_start=True)
    warm.fit(X, y)
    warm.set_params(eps=1.05 * eta).fit(X, y)
    ref = RobustSVC(C=1.0, eps=1.05 * eta).fit(X, y)
    assert rel(warm.objective_, ref.objective_) <= 1e-5
    assert cold.converged_ and warm.converged_


def test_sample_weight_equals_repetition() -> None:
    X, y = random_data(60, 4, seed=5)
    sw = np.random.default_rng(5).integers(0, 3, size=60)
    sw[:2] = 1
    y[:2] = [-1.0, 1.0]
    a = RobustSVC(C=0.5, eps=0.2, tol=1e-10).fit(X, y, sample_weight=sw)
    b = RobustSVC(C=0.5, eps=0.2, tol=1e-10).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    assert rel(a.objective_, b.objective_) <= 1e-8
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-4)


@pytest.mark.slow
def test_larger_paper_problem_matches_cvxpy() -> None:
    X, y, eta = paper_data(3000, 200, seed=9)
    w_ref, _, J_ref = cvxpy_reference(X, y, 1.0, 2 * eta, "linf")
    est = RobustSVC(C=1.0, eps=2 * eta).fit(X, y)
    assert rel(est.objective_, J_ref) <= 1e-5
    assert np.linalg.norm(est.coef_.ravel() - w_ref) <= 1e-3 * max(1.0, np.linalg.norm(w_ref))
