"""Theorems 2.1 and 2.2 of Tsipras et al. (2019) on fitted (robust) linear SVMs, with exact
population accuracies (:func:`tradeoff.theory.model.population_accuracy`); the linear frontier and the
theory claims table."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import SVC

from tradeoff.theory import model as T
from tradeoff.theory.claims import (
    COLUMNS,
    EXACT,
    TOL,
    frontier_excess,
    theorem_2_1_points,
    theory_claims,
    theory_claims_markdown,
)
from tradeoff.theory.evaluation import (
    FIT_COLUMNS,
    empirical_accuracy,
    evaluate_linear,
    validate_metrics,
    weight_share_x1,
)
from tradeoff.theory.frontier import (
    frontier,
    frontier_table,
    min_l1,
    reduced_accuracy,
    reduced_classifier,
    upper_concave_envelope,
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


@pytest.mark.slow
def test_sweep_size(sweep: pd.DataFrame) -> None:
    fits = sweep.drop_duplicates(subset=list(FIT_COLUMNS))
    trained = fits[fits["classifier"].isin(["svm", "robust_svm"])]
    assert len(trained) >= 30
    assert trained["eps_train"].nunique() >= 3 and fits["p"].nunique() >= 2 and fits["d"].nunique() >= 2
    assert fits["seed"].nunique() >= 2 and set(fits["classifier"]) == {"svm", "robust_svm", "averaging", "sign_x1"}


@pytest.mark.parametrize("eps_test", [2.0, 3.0])
@pytest.mark.slow
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


# ---------------------------------------------------------------------------------------------- frontier


@pytest.fixture(scope="module")
def frontiers(sweep: pd.DataFrame) -> pd.DataFrame:
    return frontier_table(sweep, 2.0, norms=("linf",))


@pytest.mark.slow
def test_frontier_dominates_every_fitted_classifier_and_lies_below_the_bound(
    sweep: pd.DataFrame, frontiers: pd.DataFrame
) -> None:
    """No fitted SVM, robust SVM or baseline of the sweep is above the frontier of its point; the
    frontier is on or below Theorem 2.1's bound, and meets it at (p, p) when sign(x1) survives."""
    dom = frontier_excess(sweep, frontiers, 2.0)
    assert len(dom) == len(sweep) // len(EPS_TEST) and np.isfinite(dom["frontier"]).all()
    assert (dom["above"] <= TOL).all(), dom.loc[dom["above"] > TOL]
    # not vacuous: accurate classifiers close to the frontier exist (the robust SVMs at eps_train = 1)
    assert (dom["above"] > -0.05).sum() >= 8
    assert (frontiers["robust"] <= frontiers["bound"] + TOL).all()
    for (p, d, eta), f in frontiers.groupby(["p", "d", "eta"]):
        x1_survives = 2 * eta / np.sqrt(d) < 1
        at_p = f.loc[np.isclose(f["standard"], p), "robust"]
        assert len(at_p) == 1 and at_p.iloc[0] == pytest.approx(p if x1_survives else at_p.iloc[0])
        if x1_survives:  # Theorem 2.1 is tight at delta = 1 - p, and nothing linear is more robust there
            assert float(T.theorem_2_1_bound(p, p)) == pytest.approx(at_p.iloc[0])
        assert (np.diff(f.sort_values("standard")["robust"].to_numpy()) <= 1e-12).all()  # non-increasing
        assert (f["robust_upper"] >= f["robust"] - 1e-12).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_frontier_closed_form_agrees_with_sampled_test_sets(norm: str) -> None:
    """The classifiers that attain the frontier: their robust accuracy is the frontier's, in the
    general closed form (population_accuracy, independent of the frontier's own formula) and on a
    large sampled test set (exact worst case), within 4 standard errors."""
    p, d, eta_units, n = 0.9, 100, 4.0, 40_000
    f = frontier(p, d, eta_units, 2.0, norm)
    eta = T.eta_abs(eta_units, d)
    eps_abs = 2.0 * T.eps_unit(norm, eta, d)
    X, y = T.sample(p, eta, d, n, np.random.default_rng(2024))
    finite = f[np.isfinite(f["a"]) & np.isfinite(f["b"])]
    checked = 0
    for _, r in finite.iloc[:: max(1, len(finite) // 12)].iterrows():
        w, b = reduced_classifier(r["a"], r["b"], r["S"], d)
        assert np.linalg.norm(w[1:]) == pytest.approx(1.0) and w[1:].sum() == pytest.approx(r["S"])
        std_pop = T.population_accuracy(w, b, p, eta, 0.0, norm)
        rob_pop = T.population_accuracy(w, b, p, eta, eps_abs, norm)
        assert rob_pop == pytest.approx(r["robust"], abs=1e-12)
        assert std_pop >= r["standard"] - 1e-9  # it meets the level it stands for
        for acc_pop, eps in ((std_pop, 0.0), (rob_pop, eps_abs)):
            se = np.sqrt(max(acc_pop * (1 - acc_pop), 1e-4) / n)
            assert abs(empirical_accuracy(w, b, X, y, eps, norm) - acc_pop) <= 4 * se
        checked += 1
    assert checked >= 8


@pytest.mark.slow
def test_no_general_linear_classifier_beats_the_frontier() -> None:
    """The reduction to (a, b, S), checked against general weights (d = 16): random linear classifiers
    and an optimiser over all 18 parameters (SLSQP, several starts) never exceed the frontier."""
    from scipy.optimize import minimize

    p, d, eta_units = 0.9, 16, 1.5  # eps = 2 eta = 0.75 < 1: sign(x1) survives, the frontier has all its parts
    eta = T.eta_abs(eta_units, d)
    f = frontier(p, d, eta_units, 2.0, "linf").sort_values("standard")
    levels, robust = f["standard"].to_numpy(), f["robust"].to_numpy()

    def frontier_at(std: float) -> float:
        i = np.searchsorted(levels, std + 1e-12, side="right") - 1
        return float(robust[i]) if i >= 0 else 1.0

    rng = np.random.default_rng(5)
    for _ in range(400):
        w = rng.normal(size=d + 1) * rng.uniform(0.05, 3, size=d + 1) * (rng.random(d + 1) < 0.9)
        w[0] = abs(w[0]) * rng.uniform(0, 4)
        b = float(rng.normal(0, 1.5))
        std = T.population_accuracy(w, b, p, eta, 0.0)
        if std >= 0.5:
            assert T.population_accuracy(w, b, p, eta, 2 * eta, "linf") <= frontier_at(std) + 1e-9

    def acc(x: np.ndarray, eps: float) -> float:
        return T.population_accuracy(x[:-1], x[-1], p, eta, eps, "linf")

    top = float(levels.max())
    for level in (p + 0.3 * (top - p), p + 0.6 * (top - p), p + 0.9 * (top - p)):
        best = -1.0
        for _start in range(5):
            x0 = np.r_[rng.uniform(0, 3), np.abs(rng.normal(size=d)) * rng.uniform(0.05, 1), rng.normal()]
            res = minimize(lambda x: -acc(x, 2 * eta), x0, method="SLSQP", options={"maxiter": 300, "ftol": 1e-12},
                           constraints=[{"type": "ineq", "fun": lambda x, lv=level: acc(x, 0.0) - lv}])  # fmt: skip
            if acc(res.x, 0.0) >= level - 1e-9:
                best = max(best, acc(res.x, 2 * eta))
        assert best > 0, level
        assert best <= frontier_at(level) + 1e-6, (level, best, frontier_at(level))


def test_upper_concave_envelope() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 3.0, 1.0, 2.5, 0.0])
    np.testing.assert_allclose(upper_concave_envelope(x, y), [0.0, 3.0, 2.75, 2.5, 0.0])


# ---------------------------------------------------------------------------------------------- claims


@pytest.mark.slow
def test_theorem_2_1_violations_counted_and_a_planted_one_is_caught(sweep: pd.DataFrame, frontiers: pd.DataFrame) -> None:
    points = theorem_2_1_points(sweep)
    assert len(points) == 2 * len(sweep) // len(EPS_TEST) and not points["violation"].any()
    # a planted violating "classifier": one robust SVM's robust accuracy raised above its bound
    rows = points[points["bound"] < 0.9].iloc[0]
    key = (sweep["classifier"] == rows["classifier"]) & (sweep["seed"] == rows["seed"]) & np.isclose(sweep["p"], rows["p"]) \
        & (sweep["d"] == rows["d"]) & np.isclose(sweep["eta"], rows["eta"]) & np.isclose(sweep["eps_train"], rows["eps_train"]) \
        & (sweep["train_norm"] == rows["train_norm"])
    planted = sweep[key].copy()
    planted["classifier"] = "robust_svm" if rows["classifier"] != "robust_svm" else rows["classifier"]
    planted["train_norm"], planted["eps_train"] = "linf", 7.0  # a new fit name
    planted["eps_train_abs"] = 7.0 * planted["eta_abs"]
    planted["C"], planted["objective"] = 1.0, 1.0
    planted.loc[planted["eps_test"] == 2.0, "accuracy_population"] = rows["bound"] + 0.01
    bad = pd.concat([sweep, planted], ignore_index=True)
    counted = theorem_2_1_points(bad)
    assert counted["violation"].sum() == 1
    (hit,) = counted.loc[counted["violation"], "eps_test"]
    assert hit == 2.0
    claims, _ = theory_claims(bad, frontiers, 2.0)
    row = claims[claims["claim"].str.startswith("Theorem 2.1:")]
    assert row["robust"].sum() == 1 and (row["verdict"] == "does not hold").all()
    assert row["difference"].max() == pytest.approx(0.01)
    # the same excess at a budget below 2 eta is outside the theorem and not counted
    below = planted.copy()
    below["eps_train"], below["eps_train_abs"] = 8.0, 8.0 * below["eta_abs"]
    below.loc[below["eps_test"] >= 2.0, "accuracy_population"] = 0.0
    below = pd.concat([below, below[below["eps_test"] == 2.0].assign(eps_test=1.0, eps_test_abs=lambda t: t["eta_abs"],
                                                                       accuracy_population=1.0)])  # fmt: skip
    assert not theorem_2_1_points(pd.concat([sweep, below], ignore_index=True))["violation"].any()


@pytest.mark.slow
def test_theory_claims_table(sweep: pd.DataFrame, frontiers: pd.DataFrame) -> None:
    from tradeoff.claims.verdicts import CLAIM_COLUMNS

    claims, t22 = theory_claims(sweep, frontiers, 2.0)
    assert set(claims.columns) <= set(CLAIM_COLUMNS) and list(claims.columns) == list(COLUMNS)
    holds = claims["verdict"] == "holds"
    assert set(claims["verdict"]) <= {"holds", "does not hold"} and (claims["estimator"] == EXACT).all()
    t21 = claims[claims["claim"].str.startswith("Theorem 2.1")]
    assert len(t21) == 1 and holds[t21.index].all() and (t21["robust"] == 0).all()
    # Theorem 2.2 rows only inside its conditions (eta >= 4/sqrt(d), p <= 0.975, eps_train >= 2 and < 2p - 1)
    inside = t22[t22["conditions"]]
    assert set(inside["eta"]) == {4.0} and (t22.loc[t22["eta"] < 4, "conditions"] == False).all()  # noqa: E712
    t22_claims = claims[claims["paper"] == "Thm 2.2"]
    assert len(t22_claims) == len(inside) > 0 and holds[t22_claims.index].all()
    # the numbers are the fits' population accuracies (worst seed)
    svm = inside[inside["classifier"] == "svm"].iloc[0]
    sel = sweep[(sweep["classifier"] == "svm") & np.isclose(sweep["p"], svm["p"]) & (sweep["d"] == svm["d"])
                & np.isclose(sweep["eta"], svm["eta"])]  # fmt: skip
    assert svm["standard"] == sel.loc[sel["eps_test"] == 0, "accuracy_population"].min()
    assert svm["robust"] == sel.loc[sel["eps_test"] == 2, "accuracy_population"].max()
    dom = claims[claims["claim"].str.contains("above the linear frontier")]
    assert len(dom) == 1 and holds[dom.index].all() and (dom["robust"] == 0).all()
    md = theory_claims_markdown(claims)
    assert md.count("\n") == len(claims) + 2 and "does not hold" not in md and "| holds |" in md
    failing = claims.assign(verdict="does not hold")
    assert theory_claims_markdown(failing).count("**does not hold**") == len(claims)


def test_reduction_min_l1_and_equal_weights() -> None:
    """min_l1 is the least l_1 norm of a unit vector with a given sum (checked against random vectors
    and its construction); under l_2 equal weights (S = sqrt(d)) are optimal, under l_inf they are not
    always: at p = 0.9, d = 16, eta = 1.5/sqrt(d) unequal weights beat every equal-weight classifier."""
    d = 16
    rng = np.random.default_rng(3)
    V = rng.normal(size=(20000, d)) * (rng.random((20000, d)) < 0.5)
    V = V[np.linalg.norm(V, axis=1) > 0]
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    V *= np.sign(V.sum(axis=1, keepdims=True) + 1e-300)
    assert (np.abs(V).sum(axis=1) >= min_l1(V.sum(axis=1), d) - 1e-12).all()
    for S in (0.0, 0.3, 0.99, 1.0, 2.5, 4.0):
        w, _ = reduced_classifier(1.0, 0.0, S, d)
        assert np.linalg.norm(w[1:]) == pytest.approx(1.0) and w[1:].sum() == pytest.approx(S)
        assert np.abs(w[1:]).sum() == pytest.approx(float(min_l1(S, d)))
    np.testing.assert_allclose(reduced_classifier(0.5, 0.1, 4.0, d)[0][1:], np.full(d, 0.25))
    # the reduced closed form is the general one of the constructed weights
    p, eta = 0.9, T.eta_abs(1.5, d)
    for norm in ("linf", "l2"):
        for a, b, S in ((0.7, 0.2, 0.4), (2.0, 1.5, 2.2), (0.0, 0.0, 4.0)):
            w, b_ = reduced_classifier(a, b, S, d)
            eps = 2 * T.eps_unit(norm, eta, d)
            std, rob = reduced_accuracy(a, b, S, p=p, d=d, eta_abs=eta, eps_abs=eps, norm=norm)
            assert float(std) == pytest.approx(T.population_accuracy(w, b_, p, eta, 0.0, norm), abs=1e-14)
            assert float(rob) == pytest.approx(T.population_accuracy(w, b_, p, eta, eps, norm), abs=1e-14)
    # equal weights are not always optimal under l_inf: the frontier beats the best equal-weight classifier
    from scipy.optimize import minimize

    f = frontier(p, d, 1.5, 2.0, "linf")
    kw = dict(p=p, d=d, eta_abs=eta, eps_abs=2 * eta, norm="linf")
    row = f[(f["standard"] > 0.915) & (f["standard"] < 0.925)].iloc[0]
    best_equal = -1.0
    for x0 in rng.uniform(0, 10, size=(60, 2)):
        res = minimize(lambda x: -float(reduced_accuracy(x[0], x[1], 4.0, **kw)[1]), x0, method="SLSQP",
                       bounds=[(0, None), (0, None)], options={"ftol": 1e-14, "maxiter": 500},
                       constraints=[{"type": "ineq", "fun": lambda x: float(reduced_accuracy(x[0], x[1], 4.0, **kw)[0])
                                     - row["standard"]}])  # fmt: skip
        std, rob = reduced_accuracy(res.x[0], res.x[1], 4.0, **kw)
        if std >= row["standard"] - 1e-12:
            best_equal = max(best_equal, float(rob))
    assert row["S"] < 4.0 and row["robust"] > best_equal + 1e-5
