"""Theorems 2.1 and 2.2 of Tsipras et al. (2019) on fitted (robust) linear SVMs, with exact
population accuracies (:func:`tradeoff.theory.model.population_accuracy`)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import SVC

from tradeoff.theory import model as T
from tradeoff.theory.evaluation import (
    FIT_COLUMNS,
    evaluate_linear,
    validate_metrics,
    weight_share_x1,
)
from tradeoff.theory.svm import RobustSVC, robust_hinge_objective

EPS_TEST = [0.0, 2.0, 3.0]  # units; l_inf 2 units = 2 eta, the budget of Theorem 2.1


def _fit(X: np.ndarray, y: np.ndarray, C: float, eps_abs: float, norm: str) -> tuple[np.ndarray, float, float]:
    """Standard SVM (sklearn SVC, eps_abs = 0) or RobustSVC; returns (w, b, primal objective)."""
    if eps_abs == 0:
        svc = SVC(kernel="linear", C=C).fit(X, y)
        assert list(svc.classes_) == [-1, 1]
        w, b = svc.coef_.ravel().astype(np.float64), float(svc.intercept_[0])
        return w, b, robust_hinge_objective(w, b, X, y, C, 0.0, "linf")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = RobustSVC(C=C, eps=eps_abs, norm=norm).fit(X, y)  # type: ignore[arg-type]
    assert model.coef_.shape == (1, X.shape[1]) and model.intercept_.shape == (1,)
    return model.coef_.ravel(), float(model.intercept_[0]), float(model.objective_)


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    """Tidy table of a small sweep: 2 p x 2 d x 2 eta x 2 seeds, SVM + 4 l_inf + 1 l_2 robust SVMs,
    plus both baselines (96 fits, 32 baselines)."""
    C, n_train, n_test = 1.0, 300, 2000
    linf_eps, l2_eps = (0.5, 1.0, 2.0, 3.0), (0.25,)
    frames = []
    for p, d, eta_units, seed in itertools.product((0.9, 0.95), (20, 100), (1.0, 4.0), (0, 1)):
        eta = T.eta_abs(eta_units, d)
        rng = np.random.default_rng([seed, d, int(100 * p), int(eta_units)])
        X, y = T.sample(p, eta, d, n_train, rng)
        X_test, y_test = T.sample(p, eta, d, n_test, rng)
        common = dict(sweep="theorems", p=p, eta=eta_units, seed=seed, eps_test=EPS_TEST, test_norms=("linf",))
        for name, (w, b) in (("averaging", T.averaging_classifier(d)), ("sign_x1", T.sign_x1_classifier(d))):
            frames.append(evaluate_linear(w, b, X_test, y_test, classifier=name, **common))
        configs = [("none", 0.0)] + [("linf", e) for e in linf_eps] + [("l2", e) for e in l2_eps]
        for train_norm, eps_train in configs:
            eps_abs = 0.0 if train_norm == "none" else eps_train * T.eps_unit(train_norm, eta, d)
            w, b, obj = _fit(X, y, C, eps_abs, train_norm)
            frames.append(evaluate_linear(
                w, b, X_test, y_test, classifier="svm" if train_norm == "none" else "robust_svm",
                n_train=n_train, C=C, train_norm=train_norm, eps_train=eps_train, objective=obj, **common,
            ))  # fmt: skip
    return validate_metrics(pd.concat(frames, ignore_index=True))


def _standard_vs_robust(df: pd.DataFrame, eps_test: float) -> pd.DataFrame:
    lin = df[df["test_norm"] == "linf"]
    std = lin[lin["eps_test"] == 0.0][[*FIT_COLUMNS, "accuracy_population"]]
    rob = lin[lin["eps_test"] == eps_test][[*FIT_COLUMNS, "accuracy_population"]]
    return std.merge(rob, on=list(FIT_COLUMNS), suffixes=("_standard", "_robust"), validate="one_to_one")


def test_sweep_size(sweep: pd.DataFrame) -> None:
    fits = sweep.drop_duplicates(subset=list(FIT_COLUMNS))
    trained = fits[fits["classifier"].isin(["svm", "robust_svm"])]
    assert len(trained) >= 30
    assert trained["eps_train"].nunique() >= 3 and fits["p"].nunique() >= 2 and fits["d"].nunique() >= 2
    assert fits["seed"].nunique() >= 2 and set(fits["classifier"]) == {"svm", "robust_svm", "averaging", "sign_x1"}


@pytest.mark.parametrize("eps_test", [2.0, 3.0])
def test_theorem_2_1_on_every_classifier(sweep: pd.DataFrame, eps_test: float) -> None:
    """Standard accuracy 1 - delta forces l_inf robust accuracy <= p/(1-p) delta once eps >= 2 eta."""
    pairs = _standard_vs_robust(sweep, eps_test)
    assert len(pairs) == len(sweep) // len(EPS_TEST)
    bound = np.array([T.theorem_2_1_bound(s, p) for s, p in
                      zip(pairs["accuracy_population_standard"], pairs["p"], strict=True)])  # fmt: skip
    slack = bound - pairs["accuracy_population_robust"].to_numpy()
    assert np.all(slack >= -1e-12), pairs.loc[slack < -1e-12]
    # the check is not vacuous: accurate classifiers meet a binding bound, and sign(x1) attains it
    binding = bound < 1.0
    assert binding.sum() >= 20
    eps_abs = eps_test * pairs["eta"].to_numpy() / np.sqrt(pairs["d"].to_numpy())
    x1 = (pairs["classifier"] == "sign_x1").to_numpy() & (eps_abs < 1.0)  # sign(x1) survives eps < 1
    assert x1.sum() >= 4
    np.testing.assert_allclose(slack[x1], 0.0, atol=1e-12)


@pytest.mark.parametrize(("d", "seed", "C"), [(100, 0, 1.0), (100, 1, 1.0), (400, 2, 1.0), (100, 3, 0.1)])
def test_theorem_2_2(d: int, seed: int, C: float) -> None:
    """p = 0.95, eta = 4/sqrt(d), eps = 2 eta (l_inf): the standard SVM is accurate but not robust;
    the robust SVM (eps_train = 2 eta < 2p - 1) uses x1 only and has accuracy p, standard and robust."""
    p, n = 0.95, 1000
    eta = T.eta_abs(4.0, d)
    eps = 2 * eta
    assert eps < 2 * p - 1
    X, y = T.sample(p, eta, d, n, np.random.default_rng(seed))

    w, b, _ = _fit(X, y, C, 0.0, "linf")
    assert T.population_accuracy(w, b, p, eta, 0.0) > 0.99
    assert T.population_accuracy(w, b, p, eta, eps, "linf") < 0.01

    w, b, _ = _fit(X, y, C, eps, "linf")
    assert abs(T.population_accuracy(w, b, p, eta, 0.0) - p) <= 0.01
    assert abs(T.population_accuracy(w, b, p, eta, eps, "linf") - p) <= 0.01
    assert weight_share_x1(w) >= 0.99
    assert w[0] > 0
