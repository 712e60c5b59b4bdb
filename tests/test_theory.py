"""Data model D(p, eta, d), exact worst-case accuracies and their closed forms, and the metrics table."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy.special import ndtr

from tradeoff.theory import model as T
from tradeoff.theory.evaluation import (
    METRIC_COLUMNS,
    dual_norm,
    empirical_accuracy,
    evaluate_linear,
    validate_metrics,
    weight_share_x1,
)

NORMS = ("linf", "l2")


def _se(acc: float, n: int) -> float:
    return math.sqrt(acc * (1 - acc) / n)


# ---------------------------------------------------------------------------------------------- units


def test_units() -> None:
    assert T.eta_abs(4.0, 100) == pytest.approx(0.4)
    assert T.eps_unit("linf", 0.4, 100) == pytest.approx(0.4)
    # one unit is the norm of shifting every weak feature by eta: eta in l_inf, eta sqrt(d) in l_2
    assert T.eps_unit("l2", 0.4, 100) == pytest.approx(4.0)
    d = 25
    shift = np.r_[0.0, np.full(d, T.eta_abs(3.0, d))]
    assert T.eps_unit("linf", T.eta_abs(3.0, d), d) == pytest.approx(np.linalg.norm(shift, ord=np.inf))
    assert T.eps_unit("l2", T.eta_abs(3.0, d), d) == pytest.approx(np.linalg.norm(shift))


@pytest.mark.parametrize(("d", "eta_units"), [(1, 4.0), (20, 2.0), (100, 4.0), (400, 1.5)])
def test_averaging_classifier_is_equally_robust_under_both_norms_at_every_budget(d: int, eta_units: float) -> None:
    """The l_2 budget unit is eta*sqrt(d): "k units" lowers the averaging classifier's margin by k*eta
    under either threat model, so its robust accuracy is the same under both (closed form and exact)."""
    eta = T.eta_abs(eta_units, d)
    budgets = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])
    w, b = T.averaging_classifier(d)
    by_norm = {n: T.population_accuracy(w, b, 0.9, eta, budgets * T.eps_unit(n, eta, d), n) for n in NORMS}
    np.testing.assert_allclose(by_norm["linf"], by_norm["l2"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(by_norm["l2"], T.averaging_accuracy_closed_form(eta, d, budgets * T.eps_unit("l2", eta, d), "l2"))
    X, y = T.sample(0.9, eta, d, 4000, np.random.default_rng(d))
    for k in budgets:
        accs = {n: empirical_accuracy(w, b, X, y, float(k * T.eps_unit(n, eta, d)), n) for n in NORMS}
        assert accs["linf"] == accs["l2"], (k, accs)
    # at 2 units both are the paper's Pr[N(-eta, 1/d) > 0]
    assert by_norm["l2"][budgets == 2.0][0] == pytest.approx(float(ndtr(-math.sqrt(d) * eta)), rel=1e-12)
    with pytest.raises(ValueError, match="norm"):
        T.eps_unit("l1", 0.4, 100)
    with pytest.raises(ValueError, match="d must"):
        T.eta_abs(1.0, 0)


# ---------------------------------------------------------------------------------------------- sampler


def test_sample_statistics() -> None:
    p, eta, d, n = 0.9, 0.3, 6, 200_000
    X, y = T.sample(p, eta, d, n, np.random.default_rng(12345))
    assert X.shape == (n, d + 1) and X.dtype == np.float64
    assert y.shape == (n,) and np.issubdtype(y.dtype, np.integer) and set(np.unique(y)) == {-1, 1}
    assert abs(y.mean()) < 4 / math.sqrt(n)  # labels balanced
    assert set(np.unique(X[:, 0])) == {-1.0, 1.0}
    agree = np.mean(X[:, 0] == y)
    assert abs(agree - p) < 4 * math.sqrt(p * (1 - p) / n)
    for label in (-1, 1):  # x1 agreement does not depend on the class
        sel = y == label
        assert abs(np.mean(X[sel, 0] == label) - p) < 4 * math.sqrt(p * (1 - p) / sel.sum())
    weak = X[:, 1:]
    yx = weak * y[:, None]  # ~ N(eta, 1) per column
    np.testing.assert_array_less(np.abs(yx.mean(axis=0) - eta), 4 / math.sqrt(n))
    for label in (-1, 1):
        sel = y == label
        np.testing.assert_array_less(np.abs(weak[sel].mean(axis=0) - eta * label), 4 / math.sqrt(sel.sum()))
    noise = weak - eta * y[:, None]
    np.testing.assert_array_less(np.abs(noise.var(axis=0) - 1.0), 4 * math.sqrt(2 / n))
    corr = np.corrcoef(noise, rowvar=False)[np.triu_indices(d, 1)]
    np.testing.assert_array_less(np.abs(corr), 4 / math.sqrt(n))


def test_sample_is_reproducible_and_validates() -> None:
    a = T.sample(0.95, 0.4, 10, 50, np.random.default_rng(1))
    b = T.sample(0.95, 0.4, 10, 50, np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    X, y = T.sample(1.0, 0.0, 1, 10, np.random.default_rng(0))  # p = 1 and d = 1 are allowed
    np.testing.assert_array_equal(X[:, 0], y)
    rng = np.random.default_rng(0)
    for kwargs, match in (
        (dict(p=0.4), "p must"),
        (dict(p=1.01), "p must"),
        (dict(d=0), "d must"),
        (dict(d=2.5), "d must"),
        (dict(n=0), "n must"),
        (dict(eta_abs=math.nan), "eta_abs"),
    ):
        args = dict(p=0.9, eta_abs=0.3, d=3, n=5, rng=rng) | kwargs
        with pytest.raises(ValueError, match=match):
            T.sample(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Generator"):
        T.sample(0.9, 0.3, 3, 5, 0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- closed forms


P, D, ETA = 0.85, 9, 0.35


def _classifiers() -> dict[str, tuple[NDArray[np.float64], float]]:
    rng = np.random.default_rng(2024)
    w_rand = rng.normal(0.2, 1.0, D + 1)
    w_no_x1 = np.r_[0.0, rng.normal(0.5, 0.5, D)]
    w_x1_only = np.r_[1.5, np.zeros(D)]
    return {
        "random, b > 0": (w_rand, 0.3),
        "random, b < 0": (rng.normal(0.0, 1.0, D + 1), -0.8),
        "w0 = 0, b != 0": (w_no_x1, 0.25),
        "sigma = 0, b != 0": (w_x1_only, 0.4),
        "sigma = 0, large b": (np.r_[-0.5, np.zeros(D)], 2.0),
        "w = 0, b > 0": (np.zeros(D + 1), 0.1),
        "w = 0, b = 0": (np.zeros(D + 1), 0.0),
        "averaging": T.averaging_classifier(D),
        "sign_x1": T.sign_x1_classifier(D),
    }


@pytest.fixture(scope="module")
def big_sample() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    return T.sample(P, ETA, D, 100_000, np.random.default_rng(99))


@pytest.mark.parametrize("name", list(_classifiers()))
@pytest.mark.parametrize("norm", NORMS)
def test_population_accuracy_matches_monte_carlo(
    big_sample: tuple[NDArray[np.float64], NDArray[np.int64]], name: str, norm: str
) -> None:
    X, y = big_sample
    n = len(y)
    w, b = _classifiers()[name]
    eps_grid = np.array([0.0, 0.1, 0.35, 0.7, 1.3])
    pop = T.population_accuracy(w, b, P, ETA, eps_grid, norm)
    assert isinstance(pop, np.ndarray) and pop.shape == eps_grid.shape
    for eps, acc_pop in zip(eps_grid, pop, strict=True):
        assert T.population_accuracy(w, b, P, ETA, float(eps), norm) == pytest.approx(acc_pop, abs=1e-15)
        acc_mc = empirical_accuracy(w, b, X, y, float(eps), norm)
        assert abs(acc_mc - acc_pop) <= 4 * _se(acc_pop, n) + 1e-12, (name, norm, eps, acc_mc, acc_pop)
    assert np.all(np.diff(pop) <= 1e-15)  # more budget never helps the classifier


def test_sigma_zero_margin_exactly_zero_is_an_error() -> None:
    w, b = T.sign_x1_classifier(4)
    for norm in NORMS:
        assert T.population_accuracy(w, b, 0.9, 0.5, 1.0, norm) == 0.0
        assert T.population_accuracy(w, b, 0.9, 0.5, 0.999, norm) == pytest.approx(0.9)
        X, y = T.sample(0.9, 0.5, 4, 1000, np.random.default_rng(0))
        assert empirical_accuracy(w, b, X, y, 1.0, norm) == 0.0
    assert T.population_accuracy(np.zeros(5), 0.0, 0.9, 0.5, 0.0) == 0.0  # always margin 0
    assert T.population_accuracy(np.zeros(5), 0.3, 0.9, 0.5, 0.0) == 0.5  # predicts +1 always
    # deterministic margins w0 s + y b - eps |w0|: s = +-1, y = +-1
    assert T.population_accuracy(np.r_[1.0, 0, 0], 0.4, 0.9, 0.5, 0.5) == pytest.approx(0.9)
    assert T.population_accuracy(np.r_[1.0, 0, 0], 0.4, 0.9, 0.5, 0.7) == pytest.approx(0.5 * 0.9)


@pytest.mark.parametrize("d", [1, 10, 100, 784])
@pytest.mark.parametrize("eta_units", [1.0, 3.0, 4.0])
@pytest.mark.parametrize("norm", NORMS)
def test_baseline_closed_forms_equal_population_accuracy(d: int, eta_units: float, norm: str) -> None:
    eta = T.eta_abs(eta_units, d)
    eps = np.array([0.0, 0.5, 1.0, 2.0, 3.0]) * T.eps_unit(norm, eta, d)
    w, b = T.averaging_classifier(d)
    np.testing.assert_allclose(
        T.averaging_accuracy_closed_form(eta, d, eps, norm), T.population_accuracy(w, b, 0.9, eta, eps, norm), atol=1e-15
    )
    w, b = T.sign_x1_classifier(d)
    for p in (0.5, 0.9, 0.975):
        np.testing.assert_allclose(
            T.sign_x1_accuracy_closed_form(p, eps, norm), T.population_accuracy(w, b, p, eta, eps, norm), atol=1e-15
        )


def test_paper_numbers_for_the_baselines() -> None:
    d = 1000
    eta = T.eta_abs(3.0, d)
    # l_inf at 2 eta moves every weak feature to N(-eta y, 1); l_2 needs radius 2 eta sqrt(d) for that
    for norm, radius in (("linf", 2 * T.eps_unit("linf", eta, d)), ("l2", 2 * eta * np.sqrt(d))):
        assert T.averaging_accuracy_closed_form(eta, d, 0.0, norm) > 0.99
        assert T.averaging_accuracy_closed_form(eta, d, radius, norm) < 0.01
        assert T.averaging_accuracy_closed_form(eta, d, radius, norm) == pytest.approx(
            1 - T.averaging_accuracy_closed_form(eta, d, 0.0, norm)
        )  # N(eta, 1/d) -> N(-eta, 1/d)
        assert T.sign_x1_accuracy_closed_form(0.95, 1.0, norm) == 0.0
    # 2 units: l_2 radius 2 eta sqrt(d); the l_2 radius 2 eta < 1 barely moves the averaging classifier
    assert 2 * T.eps_unit("l2", eta, d) == pytest.approx(2 * eta * np.sqrt(d))
    assert T.averaging_accuracy_closed_form(eta, d, 2 * eta, "l2") > 0.99
    assert T.sign_x1_accuracy_closed_form(0.95, 2 * T.eps_unit("linf", eta, d), "linf") == 0.95
    # ... and 2 units of l_2 (radius 6 here) flip x1 as well
    assert T.sign_x1_accuracy_closed_form(0.95, 2 * T.eps_unit("l2", eta, d), "l2") == 0.0
    w, b = T.averaging_classifier(5)
    np.testing.assert_array_equal(w, [0, 0.2, 0.2, 0.2, 0.2, 0.2])
    assert b == 0.0


def test_argument_validation() -> None:
    w, b = T.averaging_classifier(3)
    with pytest.raises(ValueError, match="norm"):
        T.population_accuracy(w, b, 0.9, 0.3, 0.1, "l1")
    with pytest.raises(ValueError, match="eps"):
        T.population_accuracy(w, b, 0.9, 0.3, -0.1)
    with pytest.raises(ValueError, match="p must"):
        T.population_accuracy(w, b, 0.3, 0.3, 0.1)
    with pytest.raises(ValueError, match="w must"):
        T.population_accuracy([1.0], b, 0.9, 0.3, 0.1)
    with pytest.raises(ValueError, match="shapes"):
        empirical_accuracy(w, b, np.zeros((5, 3)), np.ones(5), 0.0)


# ---------------------------------------------------------------------------------------------- explicit attack


def _worst_case_perturbation(w: NDArray[np.float64], y: NDArray[np.int64], eps: float, norm: str) -> NDArray[np.float64]:
    if norm == "linf":
        return -eps * y[:, None] * np.sign(w)[None, :]
    return -eps * y[:, None] * (w / np.linalg.norm(w))[None, :]


@pytest.mark.parametrize("norm", NORMS)
def test_empirical_accuracy_equals_explicit_attack(norm: str) -> None:
    rng = np.random.default_rng(5)
    X, y = T.sample(P, ETA, D, 20_000, rng)
    n = len(y)
    for name, (w, b) in _classifiers().items():
        if not np.any(w):
            continue
        for eps in (0.0, 0.2, 0.7, 1.5):
            delta = _worst_case_perturbation(w, y, eps, norm)
            size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
            assert np.all(size <= eps * (1 + 1e-12))
            margin_adv = y * ((X + delta) @ w + b)
            acc_attack = float(np.mean(margin_adv > 0))
            acc = empirical_accuracy(w, b, X, y, eps, norm)
            assert abs(acc - acc_attack) <= 2 / n, (name, eps)
            worst = y * (X @ w + b) - eps * dual_norm(w, norm)
            np.testing.assert_allclose(margin_adv, worst, atol=1e-9)
            # no random perturbation inside the ball does better than the worst case
            r = rng.uniform(-1, 1, X.shape)
            r = eps * (r if norm == "linf" else r / np.linalg.norm(r, axis=1, keepdims=True))
            assert np.all(y * ((X + r) @ w + b) >= worst - 1e-9)


def test_attack_moves_weak_features_to_the_other_class() -> None:
    """l_inf eps = 2 eta against the averaging classifier turns N(eta y, 1) into N(-eta y, 1) (paper, §2.1)."""
    d, eta = 50, T.eta_abs(3.0, 50)
    X, y = T.sample(0.95, eta, d, 40_000, np.random.default_rng(3))
    w, b = T.averaging_classifier(d)
    X_adv = X + _worst_case_perturbation(w, y, 2 * eta, "linf")
    yx = X_adv[:, 1:] * y[:, None]
    assert abs(yx.mean() + eta) < 4 / math.sqrt(yx.size)
    assert np.array_equal(X_adv[:, 0], X[:, 0])  # w0 = 0: x1 untouched
    acc = float(np.mean(y * (X_adv @ w + b) > 0))
    expected = T.averaging_accuracy_closed_form(eta, d, 2 * eta)
    assert abs(acc - expected) <= 4 * _se(expected, len(y)) + 1e-12


# ---------------------------------------------------------------------------------------------- Theorem 2.1


def test_theorem_2_1_bound_values_and_tightness() -> None:
    assert T.theorem_2_1_bound(0.99, 0.95) == pytest.approx(0.19)
    assert T.theorem_2_1_bound(0.5, 0.95) == 1.0
    np.testing.assert_allclose(T.theorem_2_1_bound(np.array([1.0, 0.97]), 0.9), [0.0, 0.27])
    for p in (0.6, 0.9, 0.95, 0.975):
        assert T.theorem_2_1_bound(p, p) == pytest.approx(p)  # tight at delta = 1 - p ...
        d = 100
        eta = T.eta_abs(4.0, d)
        w, b = T.sign_x1_classifier(d)
        std = T.population_accuracy(w, b, p, eta, 0.0)
        rob = T.population_accuracy(w, b, p, eta, 2 * eta)
        assert std == pytest.approx(p) and rob == pytest.approx(T.theorem_2_1_bound(std, p))  # ... by sign(x1)
    with pytest.raises(ValueError):
        T.theorem_2_1_bound(1.2, 0.9)


def test_theorem_2_1_holds_for_random_linear_classifiers() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        p = float(rng.uniform(0.5, 0.99))
        d = int(rng.integers(1, 200))
        eta = T.eta_abs(float(rng.uniform(0.5, 6)), d)
        w = rng.normal(rng.normal(0, 1, d + 1), rng.uniform(0.01, 2), d + 1) * (rng.random(d + 1) < 0.8)
        b = float(rng.normal(0, 0.5))
        std = T.population_accuracy(w, b, p, eta, 0.0)
        for factor in (2.0, 3.0):
            rob = T.population_accuracy(w, b, p, eta, factor * eta, "linf")
            assert rob <= T.theorem_2_1_bound(std, p) + 1e-12


# ---------------------------------------------------------------------------------------------- metrics table


def test_weight_share() -> None:
    assert weight_share_x1(np.zeros(4)) == 0.0
    assert weight_share_x1([-3.0, 4.0]) == pytest.approx(0.6)
    assert weight_share_x1(T.sign_x1_classifier(7)[0]) == 1.0
    assert dual_norm([1.0, -2.0, 2.0], "linf") == 5.0 and dual_norm([1.0, -2.0, 2.0], "l2") == 3.0


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    d, p, eta_units = 20, 0.9, 3.0
    X, y = T.sample(p, T.eta_abs(eta_units, d), d, 3000, np.random.default_rng(0))
    common = dict(sweep="unit", p=p, eta=eta_units, seed=0, eps_test=[0.0, 1.0, 2.0])
    rng = np.random.default_rng(1)
    frames = [
        evaluate_linear(*T.averaging_classifier(d), X, y, classifier="averaging", **common),
        evaluate_linear(*T.sign_x1_classifier(d), X, y, classifier="sign_x1", **common),
        evaluate_linear(rng.normal(size=d + 1), 0.1, X, y, classifier="svm", n_train=200, C=1.0, objective=3.0, **common),
        evaluate_linear(rng.normal(size=d + 1), 0.0, X, y, classifier="robust_svm", n_train=200, C=1.0,
                        train_norm="l2", eps_train=2.0, objective=5.0, **common),  # fmt: skip
    ]
    return pd.concat(frames, ignore_index=True)


def test_evaluate_linear_rows(table: pd.DataFrame) -> None:
    assert list(table.columns) == list(METRIC_COLUMNS)
    assert len(table) == 4 * 2 * 3
    validate_metrics(table)
    avg = table[table["classifier"] == "averaging"]
    eta = T.eta_abs(3.0, 20)
    for _, row in avg.iterrows():
        eps_abs = row["eps_test"] * T.eps_unit(row["test_norm"], eta, 20)
        assert row["eps_test_abs"] == pytest.approx(eps_abs)
        assert row["accuracy_population"] == pytest.approx(T.averaging_accuracy_closed_form(eta, 20, eps_abs, row["test_norm"]))
        assert abs(row["accuracy_test"] - row["accuracy_population"]) <= 4 * _se(row["accuracy_population"], 3000) + 1e-12
    rob = table[table["classifier"] == "robust_svm"].iloc[0]
    assert rob["eps_train_abs"] == pytest.approx(2.0 * eta * math.sqrt(20))  # l_2 units: eta sqrt(d)
    assert table.loc[table["classifier"] == "sign_x1", "w1_share"].eq(1.0).all()
    assert table.loc[table["classifier"].isin(["averaging", "sign_x1"]), ["C", "objective"]].isna().all().all()
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    buf.seek(0)
    validate_metrics(pd.read_csv(buf))  # survives a CSV round trip


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda t: t.drop(columns="objective"), "missing"),
        (lambda t: t.assign(extra=1), "extra"),
        (lambda t: t[list(reversed(METRIC_COLUMNS))], "order"),
        (lambda t: t.iloc[:0], "no rows"),
        (lambda t: t.assign(d=t["d"].astype(float)), "'d' must be integer"),
        (lambda t: t.assign(accuracy_test=t["accuracy_test"] + 1.0), "accuracy_test outside"),
        (lambda t: t.assign(p=0.3), "p outside"),
        (lambda t: t.assign(classifier="mlp"), "classifier"),
        (lambda t: t.assign(test_norm="l1"), "test_norm"),
        (lambda t: t.assign(eps_test_abs=t["eps_test_abs"] * 2 + 0.1), "eps_test_abs"),
        (lambda t: t.assign(eta_abs=t["eta"]), "eta_abs"),
        (lambda t: t.assign(C=1.0), "baselines"),
        (lambda t: t.assign(accuracy_population=np.nan), "missing values"),
        (lambda t: pd.concat([t, t.iloc[:1]], ignore_index=True), "duplicate"),
        (lambda t: t.assign(eps_train=0.0, eps_train_abs=0.0), "robust_svm needs"),
        (lambda t: t.assign(train_norm=t["train_norm"].where(t["classifier"] == "robust_svm", "linf")), "train_norm 'none'"),
    ],
)
def test_validate_metrics_names_the_problem(table: pd.DataFrame, mutate: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_metrics(mutate(table))  # type: ignore[operator]


def test_evaluate_linear_rejects_inconsistent_labels() -> None:
    X, y = T.sample(0.9, 0.5, 3, 50, np.random.default_rng(0))
    w, b = T.averaging_classifier(3)
    common = dict(sweep="s", p=0.9, eta=1.0, seed=0, eps_test=[0.0])
    with pytest.raises(ValueError, match="robust_svm"):
        evaluate_linear(w, b, X, y, classifier="robust_svm", C=1.0, **common)
    with pytest.raises(ValueError, match="baseline"):
        evaluate_linear(w, b, X, y, classifier="averaging", C=1.0, **common)
    with pytest.raises(ValueError, match="C > 0"):
        evaluate_linear(w, b, X, y, classifier="svm", **common)
    with pytest.raises(ValueError, match="len\\(w\\)"):
        evaluate_linear(np.ones(3), b, X, y, classifier="averaging", **common)
