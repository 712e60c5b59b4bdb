"""Figures: each writes non-empty PNG and PDF files atomically from a tidy metrics table."""

from __future__ import annotations

from pathlib import Path

import figure_checks
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from tradeoff.plots import theory as plots
from tradeoff.theory.evaluation import METRIC_COLUMNS, evaluate_linear, validate_metrics
from tradeoff.theory.model import (
    averaging_classifier,
    eta_abs,
    sample,
    sign_x1_classifier,
    theorem_2_1_bound,
)

EPS_TEST = [0.0, 1.0, 2.0, 3.0]


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    """Small table: baselines plus random linear classifiers labelled svm / robust_svm (no SVM fitting)."""
    rng = np.random.default_rng(7)
    frames = []
    for p in (0.9, 0.95):
        for d in (10, 40):
            for seed in (0, 1):
                X, y = sample(p, eta_abs(4.0, d), d, 1500, rng)
                common = dict(sweep="toy", p=p, eta=4.0, seed=seed, eps_test=EPS_TEST)
                for name, (w, b) in (("averaging", averaging_classifier(d)), ("sign_x1", sign_x1_classifier(d))):
                    frames.append(evaluate_linear(w, b, X, y, classifier=name, **common))
                w_avg, _ = averaging_classifier(d)
                w_x1, _ = sign_x1_classifier(d)
                for n_train in (100, 400):
                    noise = rng.normal(0, 0.3 / np.sqrt(n_train), d + 1)
                    frames.append(evaluate_linear(w_avg + noise, 0.0, X, y, classifier="svm", n_train=n_train,
                                                  C=1.0, objective=0.5, **common))  # fmt: skip
                    for norm in ("linf", "l2"):
                        for eps_train in (1.0, 2.0):
                            t = eps_train / 2
                            w = (1 - t) * w_avg + t * w_x1 + noise
                            frames.append(evaluate_linear(w, 0.01, X, y, classifier="robust_svm", n_train=n_train,
                                                          C=1.0, train_norm=norm, eps_train=eps_train,
                                                          objective=0.7, **common))  # fmt: skip
    return validate_metrics(pd.concat(frames, ignore_index=True))


def _outputs(tmp_path: Path, stem: str) -> list[Path]:
    return [tmp_path / "figs" / f"{stem}.png", tmp_path / "figs" / f"{stem}.pdf"]


def _check_files(paths: list[Path]) -> None:
    for path in paths:
        assert path.is_file() and path.stat().st_size > 1000, path
    assert not [f for f in paths[0].parent.iterdir() if f.name.startswith(".")], "temporary files left behind"
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"


def _check_words(fig: Figure) -> None:
    """Every axis label is words; in a grid, the outer panels carry them (inner ones repeat none)."""
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        outer = {"x": spec is None or spec.is_last_row(), "y": spec is None or spec.is_first_col()}
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if outer[axis]:
                assert any(len(word) >= 3 and word.isalpha() for word in label.split()), repr(label)
            else:
                assert label == "", f"inner panel repeats its {axis} label {label!r}"


def test_metrics_fixture_is_tidy(metrics: pd.DataFrame) -> None:
    assert list(metrics.columns) == list(METRIC_COLUMNS)
    assert set(metrics["classifier"]) == {"svm", "robust_svm", "averaging", "sign_x1"}


def test_plot_bound(metrics: pd.DataFrame, tmp_path: Path) -> None:
    paths = _outputs(tmp_path, "bound")
    fig = plots.plot_bound(metrics, 2.0, paths)
    _check_files(paths)
    _check_words(fig)
    ax = fig.axes[0]
    assert ax.get_title()
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert any("Theorem 2.1" in t for t in texts) and "standard SVM" in texts and "sign(x1)" in texts
    bounds = [line for line in ax.get_lines() if line.get_gid() == plots.BOUND_GID]
    assert len(bounds) == 2  # one per p
    for line, p in zip(bounds, (0.9, 0.95), strict=True):
        assert f"p = {p:g}" in str(line.get_label())
        x = np.asarray(line.get_xdata(), dtype=float)
        y = np.asarray(line.get_ydata(), dtype=float)
        np.testing.assert_allclose(y, np.minimum(1.0, p / (1 - p) * (1 - x)), rtol=1e-12)
        np.testing.assert_allclose(y, theorem_2_1_bound(x, p))
        assert x.min() <= 0.5 and x.max() == pytest.approx(1.0)
    lo, hi = ax.get_xlim()
    assert lo <= 0.5 and 0.99 <= hi <= 1.05
    # every fit is drawn: one scatter point per (fit, seed) with both eps_test = 0 and 2 (linf)
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    n_fits = len(metrics[(metrics["test_norm"] == "linf") & (metrics["eps_test"] == 0.0)])
    assert n_points == n_fits


def test_plot_accuracy_vs_eps_train(metrics: pd.DataFrame, tmp_path: Path) -> None:
    paths = _outputs(tmp_path, "eps_train")
    fig = plots.plot_accuracy_vs_eps_train(metrics, 2.0, paths)
    _check_files(paths)
    _check_words(fig)
    assert len(fig.axes) == 4  # 2 p x 2 d
    assert fig.legends and any("population" in t.get_text() for t in fig.legends[0].get_texts())


def test_plot_weight_share(metrics: pd.DataFrame, tmp_path: Path) -> None:
    paths = _outputs(tmp_path, "share")
    fig = plots.plot_weight_share(metrics, paths)
    _check_files(paths)
    _check_words(fig)
    assert fig.legends


def test_plot_closed_form(metrics: pd.DataFrame, tmp_path: Path) -> None:
    paths = _outputs(tmp_path, "closed")
    fig = plots.plot_closed_form(metrics, paths)
    _check_files(paths)
    _check_words(fig)
    assert len(fig.axes) == 8  # 4 settings x 2 norms
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "averaging classifier, closed form" in texts and "sign(x1), closed form" in texts


@pytest.mark.parametrize("axis", ["n_train", "train_norm", "p"])
def test_plot_sweep(metrics: pd.DataFrame, tmp_path: Path, axis: str) -> None:
    paths = _outputs(tmp_path, f"sweep_{axis}")
    fig = plots.plot_sweep(metrics, axis, 2.0, paths)
    _check_files(paths)
    _check_words(fig)
    assert fig.legends
    if axis == "n_train":
        assert all(ax.get_xscale() == "log" for ax in fig.axes)


def test_empty_selection_and_bad_axis_raise(metrics: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="axis"):
        plots.plot_sweep(metrics, "seed", 2.0, _outputs(tmp_path, "x"))
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_closed_form(metrics[metrics["classifier"] == "svm"], _outputs(tmp_path, "y"))
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


def test_norm_sweep_attacks_each_robust_svm_in_its_training_norm(metrics: pd.DataFrame) -> None:
    """The norm sweep's figure scores an l_2 robust SVM under l_2 (it used to score it under l_inf)."""
    fits = plots.sweep_accuracies(metrics, "train_norm", 2.0)
    assert set(fits["attack"]) == {"linf", "l2"}
    robust = fits[fits["classifier"] == "robust_svm"]
    assert (robust["attack"] == robust["train_norm"]).all()
    for _, r in robust.iterrows():
        (expected,) = metrics.loc[
            (metrics["classifier"] == "robust_svm") & (metrics["train_norm"] == r["train_norm"])
            & (metrics["eps_train"] == r["eps_train"]) & (metrics["p"] == r["p"]) & (metrics["d"] == r["d"])
            & (metrics["seed"] == r["seed"]) & (metrics["n_train"] == r["n_train"])
            & (metrics["test_norm"] == r["train_norm"]) & (metrics["eps_test"] == 2.0), "accuracy_population"]
        assert r["accuracy_population_robust"] == expected
    standard = fits[fits["classifier"] == "svm"]
    assert set(standard["norm_label"]) == {"none, ℓ∞ attack", "none, ℓ2 attack"}
    # any other axis: everything in the requested norm
    assert set(plots.sweep_accuracies(metrics, "n_train", 2.0, "linf")["train_norm"]) == {"none", "linf"}


def test_plot_frontier(metrics: pd.DataFrame, tmp_path: Path) -> None:
    from tradeoff.theory.frontier import frontier_table

    one = metrics[(metrics["p"] == 0.9) & (metrics["d"] == 40)]
    fr = frontier_table(one, 2.0)
    paths = _outputs(tmp_path, "frontier")
    fig = plots.plot_frontier(one, fr, 2.0, paths, sweep="toy")
    _check_files(paths)
    _check_words(fig)
    assert len(fig.axes) == 2  # one point x two threat models
    for ax, norm in zip(fig.axes, ("linf", "l2"), strict=True):
        (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == plots.FRONTIER_GID]
        f = fr[fr["test_norm"] == norm].sort_values("standard")
        np.testing.assert_allclose(line.get_ydata(), f["robust"])  # the table, drawn as it is
        assert [ln for ln in ax.get_lines() if ln.get_gid() == plots.BOUND_GID]
        n_points = sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets") and c.get_label() in
                       ("standard SVM", "robust SVM", "averaging classifier", "sign(x1)"))  # fmt: skip
        assert n_points == len(one[(one["test_norm"] == norm) & (one["eps_test"] == 0)])
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_frontier(one, fr, 2.0, _outputs(tmp_path, "z"), sweep="absent")


def test_theory_bars_are_the_t_interval_over_seeds() -> None:
    """Issue 32: means over seeds carry the recipe level's 95% t-interval (checked against scipy.stats.t),
    none below 3 seeds; the legend says which."""
    from matplotlib.collections import LineCollection
    from scipy import stats as sp

    from tradeoff.plots.style import seed_interval

    v = np.array([0.91, 0.95, 0.9, 0.97])
    lo, hi = sp.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=sp.sem(v))
    assert seed_interval(v) == pytest.approx((lo, hi))
    assert all(np.isnan(seed_interval(v[:2])))
    df = pd.DataFrame({"x": [1, 1, 1, 1, 2, 2], "y": [*v, 0.5, 0.6]})
    fig = Figure()
    ax = fig.subplots()
    plots._errorbars(ax, df, "x", "y")
    (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    seg = bars.get_segments()
    assert [float(s[:, 1].min()) for s in seg] == pytest.approx([lo, 0.55])  # x = 2: two seeds, no bar
    assert [float(s[:, 1].max()) for s in seg] == pytest.approx([hi, 0.55])


def test_theory_legends_name_the_interval(metrics: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.plot_accuracy_vs_eps_train(metrics, 2.0, _outputs(tmp_path, "eps_train_ci"))
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("95% t-interval" in t for t in texts) and not any("sd" in t.split() for t in texts)


def _points(fig: Figure) -> list[tuple[int, object, float, float, float]]:
    """(axes, collection, x, y, size) of every scatter marker, in drawing order, display coordinates."""
    from matplotlib.collections import PathCollection

    figure_checks.drawn(fig)
    out = []
    for i, ax in enumerate(fig.axes):
        for c in sorted((c for c in ax.collections if isinstance(c, PathCollection)), key=lambda c: c.get_zorder()):
            sizes = np.broadcast_to(c.get_sizes(), len(c.get_offsets()))
            for (x, y), s in zip(c.get_offset_transform().transform(c.get_offsets()), sizes, strict=True):
                out.append((i, c, float(x), float(y), float(s)))
    return out


def _classifier(collection: object) -> str:
    """The classifier a scatter draws, from its label (``standard SVM`` or ``_standard SVM, p = 0.9``)."""
    return str(collection.get_label()).lstrip("_").split(", p =")[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["bound", "frontier"])
def test_coinciding_classifiers_stay_visible(metrics: pd.DataFrame, tmp_path: Path, kind: str) -> None:
    """Issue 32, looked at: the standard SVM sat under the averaging classifier at (1, 0) and the robust
    SVM (yellow) looked like sign(x1) (orange). Where two markers coincide, the one drawn later is
    smaller, so both show; every classifier has its own colour, far apart."""
    from tradeoff.theory.frontier import frontier_table

    if kind == "bound":
        fig = plots.plot_bound(metrics, 2.0, _outputs(tmp_path, kind))
    else:
        one = metrics[(metrics["p"] == 0.9) & (metrics["d"] == 40)]
        fig = plots.plot_frontier(one, frontier_table(one, 2.0), 2.0, _outputs(tmp_path, kind), sweep="toy")
    points = _points(fig)
    coinciding = 0
    for k, (ax, c, x, y, s) in enumerate(points):
        for ax2, c2, x2, y2, s2 in points[k + 1:]:
            if ax2 == ax and _classifier(c2) != _classifier(c) and abs(x - x2) < 1 and abs(y - y2) < 1:
                coinciding += 1
                assert s2 <= 0.7 * s, (x, y, s, s2)
    assert coinciding  # the toy run has them (standard SVM and averaging classifier at (1, 0))
    colours = [plots.CLASSIFIER_STYLE[c].color for c in plots.CLASSIFIER_STYLE]
    assert figure_checks.closest_colours([to_rgb(c) for c in colours]) > 30
    assert figure_checks.legend_over_data(fig) == [] and figure_checks.legend_over_text(fig) == []


def test_sweep_legend_heads_each_column_with_its_group(metrics: pd.DataFrame, tmp_path: Path) -> None:
    """The two-column legend put "accuracy type" under the series, its entries in the next column."""
    fig = plots.plot_sweep(metrics, "n_train", 2.0, _outputs(tmp_path, "legend"))
    renderer = figure_checks.drawn(fig)
    (legend,) = fig.legends
    x = {t.get_text(): round(t.get_window_extent(renderer).x0) for t in legend.get_texts() if t.get_text()}
    assert x["series"] == x["standard SVM"]
    assert x["accuracy type"] == x["standard (ε = 0)"] != x["series"]
    assert figure_checks.legend_over_text(fig) == []


def test_log_sweep_axes_name_every_swept_value(metrics: pd.DataFrame, tmp_path: Path) -> None:
    """Powers of ten left the largest training-set size without a tick label."""
    fig = plots.plot_sweep(metrics, "n_train", 2.0, _outputs(tmp_path, "ticks"))
    swept = sorted(set(metrics.loc[metrics["classifier"].isin(["svm", "robust_svm"]), "n_train"]))
    assert len(swept) >= 2
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        assert list(ax.get_xticks()) == swept
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == [f"{v:,g}" for v in swept]
