"""Figures for the theory half. They read the tidy metrics table
(:data:`tradeoff.theory.evaluation.METRIC_COLUMNS`) and draw; they compute no science (only selections,
reshaping, and means over seeds with their 95% t-intervals, :func:`tradeoff.plots.style.seed_interval`; theory curves come from :mod:`tradeoff.theory.model`).

Every function writes each of ``paths`` (format from the suffix, e.g. ``.png`` and ``.pdf``)
atomically: to a temporary file in the same folder, then ``os.replace``. Figures are built with
:class:`matplotlib.figure.Figure` (no pyplot state, backend "Agg") and returned.
A selection with no rows raises ``ValueError`` (a misconfigured sweep should fail loudly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from tradeoff.plots.style import PathLike, save_figure, seed_interval  # noqa: E402
from tradeoff.theory.evaluation import FIT_COLUMNS  # noqa: E402
from tradeoff.theory.model import theorem_2_1_bound  # noqa: E402

__all__ = [
    "BOUND_GID",
    "CLASSIFIER_STYLE",
    "ClassifierLook",
    "FRONTIER_GID",
    "SWEEP_AXES",
    "plot_accuracy_vs_eps_train",
    "plot_bound",
    "plot_closed_form",
    "plot_frontier",
    "plot_sweep",
    "plot_weight_share",
    "save_figure",
    "sweep_accuracies",
]


FRONTIER_GID: Final = "linear-frontier"
"""``gid`` of every frontier line drawn by :func:`plot_frontier` (one per panel)."""

BOUND_GID: Final = "theorem-2.1-bound"
"""``gid`` of every Theorem 2.1 bound line drawn by :func:`plot_bound` (one per p)."""

SWEEP_AXES: Final[tuple[str, ...]] = ("eta", "n_train", "C", "p", "d", "train_norm")
_LOG_AXES: Final = ("n_train", "C")
_NORM_TEXT: Final = {"linf": "ℓ∞", "l2": "ℓ2", "none": "none"}
_UNIT_TEXT: Final = {"linf": "units of η", "l2": "units of η√d"}
_AXIS_TEXT: Final = {
    "eta": "weak-feature mean η (units of 1/√d)",
    "n_train": "training-set size n",
    "C": "SVM regularisation C",
    "p": "robust-feature reliability p",
    "d": "number of weak features d",
    "train_norm": "training threat model",
}
_KIND_COLORS: Final = {"standard": "#1f77b4", "robust": "#d62728"}
_CLASSIFIER_TEXT: Final = {
    "svm": "standard SVM",
    "robust_svm": "robust SVM",
    "averaging": "averaging classifier",
    "sign_x1": "sign(x1)",
}


class ClassifierLook(NamedTuple):
    color: str
    marker: str
    size: float  # marker area, points^2


CLASSIFIER_STYLE: Final = {  # drawn in this order, each smaller than the one before
    "svm": ClassifierLook("#1f77b4", "o", 110.0),
    "robust_svm": ClassifierLook("#d62728", "s", 70.0),
    "averaging": ClassifierLook("#2ca02c", "^", 40.0),
    "sign_x1": ClassifierLook("#9467bd", "D", 18.0),
}
"""Each classifier's colour, marker and size in the bound and frontier figures, the same in both. They
are drawn in this order, each smaller than the one before, so that where two coincide (the standard
SVM and the averaging classifier at (1, 0); a robust SVM that became sign(x1)) both stay visible."""


# ----------------------------------------------------------------------------------------------
# helpers


@contextlib.contextmanager
def _style() -> Iterator[None]:
    # the caller's seaborn context (config ``plots.context``, set by sns.set_theme) is kept
    with sns.axes_style("whitegrid"):
        yield


def _require(df: pd.DataFrame, what: str) -> pd.DataFrame:
    if df.empty:
        raise ValueError(f"no rows to plot: {what}")
    return df


def _near(s: pd.Series, value: float) -> pd.Series:
    return pd.Series(np.isclose(s.to_numpy(dtype=np.float64), value, rtol=1e-9, atol=1e-12), index=s.index)


def _standard_robust(df: pd.DataFrame, eps_test: float, norm: str) -> pd.DataFrame:
    """One row per fit: population/test accuracy at ``eps_test = 0`` and at ``eps_test`` in ``norm``."""
    sub = df[df["test_norm"] == norm]
    keep = [*FIT_COLUMNS, "w1_share", "accuracy_population", "accuracy_test"]
    std = sub.loc[_near(sub["eps_test"], 0.0), keep]
    rob = sub.loc[_near(sub["eps_test"], eps_test), [*FIT_COLUMNS, "accuracy_population", "accuracy_test"]]
    std = std.drop_duplicates(subset=list(FIT_COLUMNS))
    rob = rob.drop_duplicates(subset=list(FIT_COLUMNS))
    out = std.merge(rob, on=list(FIT_COLUMNS), suffixes=("_standard", "_robust"))
    return _require(out, f"fits with both eps_test=0 and eps_test={eps_test:g} in {norm}")


def _long(fits: pd.DataFrame, id_cols: Sequence[str]) -> pd.DataFrame:
    """Melt ``accuracy_{population,test}_{standard,robust}`` into ``source``, ``kind``, ``accuracy``."""
    parts = []
    for source in ("population", "test"):
        for kind in ("standard", "robust"):
            part = fits[list(id_cols)].copy()
            part["source"] = source
            part["kind"] = kind
            part["accuracy"] = fits[f"accuracy_{source}_{kind}"].to_numpy()
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _grid(
    df: pd.DataFrame, row: str | None, col: str | None, *, width: float = 4.2, height: float = 3.3
) -> tuple[Figure, dict[tuple[object, object], Axes], list[object], list[object]]:
    rows: list[object] = sorted(df[row].unique()) if row else [None]
    cols: list[object] = sorted(df[col].unique()) if col else [None]
    fig = Figure(figsize=(width * len(cols) + 1.5, height * len(rows) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), len(cols), squeeze=False, sharex=True, sharey=True))
    grid = {(r, c): axes[i, j] for i, r in enumerate(rows) for j, c in enumerate(cols)}
    return fig, grid, rows, cols


def _facet_title(row: str | None, r: object, col: str | None, c: object) -> str:
    parts = [f"{name} = {value:g}" if isinstance(value, (int, float, np.number)) else f"{name} = {value}"
             for name, value in ((row, r), (col, c)) if name is not None]  # fmt: skip
    return ", ".join(parts)


def _select(df: pd.DataFrame, row: str | None, r: object, col: str | None, c: object) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    if row is not None:
        mask &= df[row] == r
    if col is not None:
        mask &= df[col] == c
    return df[mask]


def _errorbars(ax: Axes, data: pd.DataFrame, x: str, y: str, **kwargs: object) -> None:
    """Markers at the mean of ``y`` per ``x`` with the 95% t-interval over seeds as error bars
    (:func:`tradeoff.plots.style.seed_interval`; none below 3 seeds)."""
    if data.empty:
        return
    groups = data.groupby(x, sort=True)[y]
    mean = groups.mean()
    bounds = np.array([seed_interval(v) for _, v in groups], dtype=np.float64).reshape(-1, 2)
    yerr = np.nan_to_num(np.vstack([mean.to_numpy() - bounds[:, 0], bounds[:, 1] - mean.to_numpy()]), nan=0.0)
    ax.errorbar(mean.index.to_numpy(), mean.to_numpy(), yerr=yerr, linestyle="none", capsize=2.5, **kwargs)  # type: ignore[arg-type]


def _outer_labels(fig: Figure) -> None:
    """Axis labels and tick labels on the outer panels of a shared grid only (each inner panel repeated them)."""
    for ax in fig.axes:
        ax.label_outer()


def _figure_legend(fig: Figure, ax: Axes, extra: Sequence[tuple[Artist, str]] = (),
                   headers: Sequence[str] = ()) -> None:
    """One legend for all facets, below the panels (labels from ``ax`` plus ``extra`` proxies). With
    ``headers`` (seaborn's group titles among the labels, e.g. ``series``), one column per group,
    headed by its title, and the proxies a column of their own: filled column by column, a plain
    two-column legend put a title under another group's entries."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Artist] = {}
    for h, lab in zip(handles, labels, strict=True):
        if lab and not lab.startswith("_") and lab not in seen:
            seen[lab] = h
    for a in fig.axes:
        if (legend := a.get_legend()) is not None:
            legend.remove()
    if headers:
        groups: list[list[tuple[str, Artist]]] = []
        for lab, h in seen.items():
            if lab in headers or not groups:
                groups.append([])
            groups[-1].append((lab, h))
        if extra:
            groups.append([(lab, h) for h, lab in extra])
        rows = max(len(g) for g in groups)
        blank = Line2D([], [], linestyle="none")
        cells = [cell for g in groups for cell in (*g, *[("", blank)] * (rows - len(g)))]
        fig.legend([h for _, h in cells], [lab for lab, _ in cells], loc="outside lower center", ncol=len(groups),
                   frameon=False)
        return
    for h, lab in extra:
        seen.setdefault(lab, h)
    ncol = 2 if len(seen) > 3 else len(seen)
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center", ncol=ncol, frameon=False)


def _svm_series(df: pd.DataFrame, norm: str) -> pd.DataFrame:
    """SVM rows (eps_train = 0) and robust SVM rows trained in ``norm``."""
    keep = (df["classifier"] == "svm") | ((df["classifier"] == "robust_svm") & (df["train_norm"] == norm))
    return df[keep]


# ----------------------------------------------------------------------------------------------
# figures


def plot_bound(df: pd.DataFrame, eps_test: float, paths: Sequence[PathLike]) -> Figure:
    """Robust (l_inf, ``eps_test`` units) vs standard population accuracy of every classifier,
    with the Theorem 2.1 bound ``robust <= min(1, p/(1-p) (1 - standard))`` per p (valid for eps_test >= 2).
    """
    fits = _standard_robust(df, eps_test, "linf")
    fits = fits.assign(
        p_label=[f"p = {p:g}" for p in fits["p"]],
        classifier_label=[_CLASSIFIER_TEXT.get(c, c) for c in fits["classifier"]],
    )
    p_values = sorted(fits["p"].unique())
    lo = min(0.5, float(fits["accuracy_population_standard"].min()) - 0.02)
    with _style():
        fig = Figure(figsize=(7.8, 5.2), layout="constrained")
        ax = fig.subplots()
        xs = np.linspace(lo, 1.0, 401)
        dashes = ["--", "-.", ":", (0, (5, 1, 1, 1))]
        for i, p in enumerate(p_values):
            ax.plot(xs, theorem_2_1_bound(xs, p), color="0.25", linestyle=dashes[i % len(dashes)], lw=1.4,
                    label=f"Theorem 2.1 bound, p = {p:g}", gid=BOUND_GID)  # fmt: skip
        ax.plot([lo, 1.0], [lo, 1.0], color="0.75", lw=1.0, label="robust = standard")
        p_markers = ["o", "X", "P", "*"]
        for clf, style in CLASSIFIER_STYLE.items():  # the largest first: coinciding points stay visible
            for i, p in enumerate(p_values):
                part = fits[(fits["classifier"] == clf) & (fits["p"] == p)]
                if not part.empty:
                    ax.scatter(part["accuracy_population_standard"], part["accuracy_population_robust"],
                               color=style.color, marker=p_markers[i % len(p_markers)], s=style.size,
                               edgecolors="white", linewidths=0.6, alpha=0.9, zorder=3, clip_on=False,
                               label=f"_{_CLASSIFIER_TEXT[clf]}, p = {p:g}")  # fmt: skip
        ax.set_xlim(lo, 1.005)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("standard accuracy (population, ε = 0)")
        ax.set_ylabel(f"robust accuracy (population, ℓ∞, ε = {eps_test:g}η)")
        note = "" if eps_test >= 2 else " (bound needs ε ≥ 2η)"
        ax.set_title(f"Theorem 2.1: no classifier is both accurate and robust{note}")
        handles, labels = ax.get_legend_handles_labels()
        shown = [c for c in CLASSIFIER_STYLE if c in set(fits["classifier"])]
        handles += [Line2D([], [], linestyle="none", marker="o", markersize=7, color=CLASSIFIER_STYLE[c].color)
                    for c in shown]
        labels += [_CLASSIFIER_TEXT[c] for c in shown]
        handles += [Line2D([], [], linestyle="none", marker=p_markers[i % len(p_markers)], markersize=7, color="0.35")
                    for i in range(len(p_values))]
        labels += [f"robust feature p = {p:g} (marker shape)" for p in p_values]
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        save_figure(fig, paths)
    return fig


def plot_accuracy_vs_eps_train(
    df: pd.DataFrame, eps_test: float, paths: Sequence[PathLike], *, norm: str = "linf"
) -> Figure:
    """Standard and robust (``norm``, ``eps_test`` units) accuracy of the SVM (eps_train = 0) and robust
    SVMs vs eps_train; lines = population accuracy (mean, band = 95% t-interval over seeds), markers =
    test set (mean, 95% t-interval over seeds); facets rows p, columns d.
    """
    fits = _standard_robust(_svm_series(df, norm), eps_test, norm)
    long = _long(fits, ["p", "d", "seed", "eps_train"])
    with _style():
        fig, grid, _, _ = _grid(long, "p", "d")
        for (p, d), ax in grid.items():
            sub = _select(long, "p", p, "d", d)
            for kind, color in _KIND_COLORS.items():
                label = "standard (ε = 0)" if kind == "standard" else f"robust ({_NORM_TEXT[norm]}, ε = {eps_test:g})"
                pop = sub[(sub["source"] == "population") & (sub["kind"] == kind)]
                if not pop.empty:
                    sns.lineplot(data=pop, x="eps_train", y="accuracy", errorbar=seed_interval, color=color, ax=ax,
                                 label=f"{label}, population")  # fmt: skip
                _errorbars(ax, sub[(sub["source"] == "test") & (sub["kind"] == kind)], "eps_train", "accuracy",
                           color=color, marker="o", markersize=4, label=f"{label}, test set (mean, 95% t-interval)")  # fmt: skip
            ax.axhline(float(p), color="0.5", linestyle=":", lw=1.0, label="p (accuracy of sign(x1))")  # type: ignore[arg-type]
            ax.set_title(_facet_title("p", p, "d", d))
            ax.set_xlabel(f"training budget ε_train ({_UNIT_TEXT[norm]})")
            ax.set_ylabel("accuracy (population and test set)")
            ax.set_ylim(-0.02, 1.02)
        fig.suptitle(f"Robust training trades standard accuracy for robustness ({_NORM_TEXT[norm]})")
        _figure_legend(fig, next(iter(grid.values())))
        _outer_labels(fig)
        save_figure(fig, paths)
    return fig


def plot_weight_share(df: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Weight share on the robust feature, ``|w1| / ||w||_2``, vs eps_train (SVMs); facets rows p,
    columns d; one line per training norm (the standard SVM is the eps_train = 0 point of each).
    """
    fits = df[df["classifier"].isin(["svm", "robust_svm"])].drop_duplicates(subset=list(FIT_COLUMNS))
    fits = _require(fits, "svm / robust_svm rows")
    norms = sorted(set(fits.loc[fits["classifier"] == "robust_svm", "train_norm"]))
    parts = []
    if not norms:
        parts.append(fits.assign(series="standard SVM"))
    for norm in norms:
        part = _svm_series(fits, norm)
        parts.append(part.assign(series=f"robust SVM, {_NORM_TEXT[norm]} (ε_train = 0: standard SVM)"))
    data = pd.concat(parts, ignore_index=True)
    xlabel = "training budget ε_train" + (" (units of η; ℓ2: η√d)" if "l2" in norms else " (units of η)")
    with _style():
        fig, grid, _, _ = _grid(data, "p", "d")
        for (p, d), ax in grid.items():
            sub = _select(data, "p", p, "d", d)
            sns.lineplot(data=sub, x="eps_train", y="w1_share", hue="series", hue_order=sorted(data["series"].unique()),
                         marker="o", errorbar=seed_interval, ax=ax)  # fmt: skip
            ax.set_title(_facet_title("p", p, "d", d))
            ax.set_xlabel(xlabel)
            ax.set_ylabel("weight share on x1, |w1| / ‖w‖₂")
            ax.set_ylim(-0.02, 1.02)
        fig.suptitle("Robust SVMs move their weight onto the robust feature x1")
        _figure_legend(fig, next(iter(grid.values())))
        _outer_labels(fig)
        save_figure(fig, paths)
    return fig


def plot_closed_form(df: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Averaging classifier and sign(x1): test-set accuracy (mean, 95% t-interval over seeds, markers) vs the
    closed-form population accuracy (lines) as eps_test grows; rows (p, d, eta), columns test norm.
    """
    base = _require(df[df["classifier"].isin(["averaging", "sign_x1"])], "averaging / sign_x1 rows")
    base = base.assign(setting=[f"p = {p:g}, d = {d}, η = {e:g}/√d" for p, d, e in zip(base["p"], base["d"], base["eta"], strict=True)])
    colors = {"averaging": "#2ca02c", "sign_x1": "#9467bd"}
    with _style():
        fig, grid, _, _ = _grid(base, "setting", "test_norm")
        for (setting, norm), ax in grid.items():
            sub = _select(base, "setting", setting, "test_norm", norm)
            for clf, color in colors.items():
                part = sub[sub["classifier"] == clf]
                if part.empty:
                    continue
                name = _CLASSIFIER_TEXT[clf]
                pop = part.groupby("eps_test", sort=True)["accuracy_population"].mean()
                ax.plot(pop.index, pop.to_numpy(), color=color, lw=1.6, label=f"{name}, closed form")
                _errorbars(ax, part, "eps_test", "accuracy_test", color=color, marker="o", markersize=4,
                           label=f"{name}, test set (mean, 95% t-interval over seeds)")  # fmt: skip
            ax.set_title(f"{setting}, attack {_NORM_TEXT[str(norm)]}")
            ax.set_xlabel(f"attack budget ε_test ({_UNIT_TEXT[str(norm)]})")
            ax.set_ylabel("accuracy under attack")
            ax.set_ylim(-0.02, 1.02)
        fig.suptitle("Closed-form vs empirical worst-case accuracy of the baselines")
        _figure_legend(fig, next(iter(grid.values())))
        _outer_labels(fig)
        save_figure(fig, paths)
    return fig


def sweep_accuracies(df: pd.DataFrame, axis: str, eps_test: float, norm: str = "linf") -> pd.DataFrame:
    """The rows :func:`plot_sweep` draws: one per fit, standard and robust accuracy, ``series`` and
    ``norm_label``; for ``axis="train_norm"`` each robust SVM is attacked in its training norm (column
    ``attack``) and the standard SVM in every such norm, otherwise everything in ``norm``."""
    svms = df[df["classifier"].isin(["svm", "robust_svm"])]
    if axis != "train_norm":
        fits = _standard_robust(_svm_series(svms, norm), eps_test, norm)
    else:  # every robust SVM is attacked in its own training norm; the standard SVM in each of them
        attacked = sorted(set(svms.loc[svms["classifier"] == "robust_svm", "train_norm"]) & set(svms["test_norm"]))
        fits = pd.concat([_standard_robust(_svm_series(svms, n), eps_test, n).assign(attack=n) for n in attacked],
                         ignore_index=True) if attacked else _standard_robust(svms, eps_test, norm).assign(attack=norm)  # fmt: skip
    attack = fits["attack"] if "attack" in fits else pd.Series(norm, index=fits.index)
    fits = fits.assign(
        series=["standard SVM" if c == "svm" else f"robust SVM, {_NORM_TEXT[t]} ε_train = {e:g}"
                for c, t, e in zip(fits["classifier"], fits["train_norm"], fits["eps_train"], strict=True)],
        norm_label=[f"none, {_NORM_TEXT[a]} attack" if t == "none" else f"{_NORM_TEXT[t]}, ε_train={e:g}"
                    for t, e, a in zip(fits["train_norm"], fits["eps_train"], attack, strict=True)],
    )  # fmt: skip
    return fits


def plot_sweep(
    df: pd.DataFrame, axis: str, eps_test: float, paths: Sequence[PathLike], *, norm: str = "linf"
) -> Figure:
    """Standard and robust (``norm``, ``eps_test`` units) accuracy of the SVM and robust SVMs vs a swept
    ``axis`` (one of :data:`SWEEP_AXES`); lines = population (mean, band = 95% t-interval over seeds), markers =
    test set. Facets over p (rows) and d (columns) when they vary and are not the axis.
    For ``axis="train_norm"`` the x-axis is categorical and robust SVMs of every norm are shown, each
    attacked in its own training norm (budgets in that norm's units), the standard SVM in each norm.
    """
    if axis not in SWEEP_AXES:
        raise ValueError(f"axis must be one of {SWEEP_AXES}, got {axis!r}")
    fits = sweep_accuracies(df, axis, eps_test, norm)
    long = _long(fits, ["p", "d", "seed", "series", "norm_label", *([axis] if axis not in ("p", "d", "train_norm") else [])])
    row = "p" if axis != "p" and long["p"].nunique() > 1 else None
    col = "d" if axis != "d" and long["d"].nunique() > 1 else None
    series_order = sorted(long["series"].unique(), key=lambda s: (s != "standard SVM", s))
    robust_norm = "its training norm" if axis == "train_norm" else _NORM_TEXT[norm]
    kind_text = {"standard": "standard (ε = 0)", "robust": f"robust ({robust_norm}, ε = {eps_test:g} units)"}
    long["accuracy type"] = long["kind"].map(kind_text)
    palette: dict[str, object] = dict(zip(series_order, sns.color_palette(n_colors=len(series_order)), strict=True))
    if len(series_order) == 2 and series_order[0] == "standard SVM":  # the classifiers' colours of the other figures
        palette = {series_order[0]: CLASSIFIER_STYLE["svm"].color, series_order[1]: CLASSIFIER_STYLE["robust_svm"].color}
    with _style():
        fig, grid, _, _ = _grid(long, row, col, width=4.8)
        for (r, c), ax in grid.items():
            sub = _select(long, row, r, col, c)
            if axis == "train_norm":
                order = sorted(sub["norm_label"].unique(), key=lambda s: (not s.startswith("none"), s))
                for source, marker, ls in (("population", "o", "none"), ("test", "x", "none")):
                    part = sub[sub["source"] == source].assign(
                        **{"accuracy type": lambda t, s=source: t["accuracy type"] + (", population" if s == "population" else ", test set")}  # noqa: E501
                    )
                    sns.pointplot(data=part, x="norm_label", y="accuracy", hue="accuracy type", order=order,
                                  palette=[_KIND_COLORS["standard"], _KIND_COLORS["robust"]], errorbar=seed_interval,
                                  markers=marker, linestyles=ls, dodge=0.3, ax=ax)  # fmt: skip
                ax.set_xlabel(_AXIS_TEXT[axis])
                ax.tick_params(axis="x", labelrotation=30)
            else:
                pop = sub[sub["source"] == "population"]
                sns.lineplot(data=pop, x=axis, y="accuracy", hue="series", hue_order=series_order, palette=palette,
                             style="accuracy type", style_order=list(kind_text.values()), errorbar=seed_interval,
                             ax=ax)  # fmt: skip
                for (series, kind), part in sub[sub["source"] == "test"].groupby(["series", "kind"], sort=True):
                    _errorbars(ax, part, axis, "accuracy", color=palette[str(series)],
                               marker="o" if kind == "standard" else "s", markersize=3.5, alpha=0.8)  # fmt: skip
                values = long[axis].to_numpy(dtype=np.float64)
                if axis in _LOG_AXES or (axis == "d" and values.min() > 0 and values.max() / values.min() >= 10):
                    ax.set_xscale("log")  # ticked at the swept values (powers of ten left the largest n unnamed)
                    swept = sorted(set(values.tolist()))
                    ax.set_xticks(swept, [f"{v:,g}" for v in swept])
                    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
                ax.set_xlabel(_AXIS_TEXT[axis])
            ax.set_ylabel("accuracy")
            ax.set_ylim(-0.02, 1.02)
            title = _facet_title(row, r, col, c)
            if title:
                ax.set_title(title)
        fig.suptitle(f"Standard vs robust accuracy of SVMs across {_AXIS_TEXT[axis]}")
        proxies: list[tuple[Artist, str]] = []
        if axis != "train_norm":
            proxies = [
                (Line2D([], [], color="0.3"), "lines: population accuracy (band: 95% t-interval over seeds)"),
                (Line2D([], [], color="0.3", marker="o", linestyle="none"), "markers: test set, ● standard, ■ robust"),
            ]
        _figure_legend(fig, next(iter(grid.values())), proxies,
                       headers=("series", "accuracy type") if axis != "train_norm" else ())
        _outer_labels(fig)
        save_figure(fig, paths)
    return fig


def plot_frontier(df: pd.DataFrame, frontier: pd.DataFrame, eps_test: float, paths: Sequence[PathLike],
                  *, sweep: str | None = None) -> Figure:
    """The best robust accuracy any linear classifier reaches at each standard accuracy (the frontier
    table of :mod:`tradeoff.theory.frontier`, a line), Theorem 2.1's bound (dashed) and the run's
    classifiers at each point, from every sweep (population accuracy, one marker per seed); columns:
    the (p, d, eta) points of ``sweep`` (default: all of ``df``), rows: the threat models of the
    frontier table, robust accuracy at ``eps_test`` units.
    """
    fr = frontier[_near(frontier["eps_test"], eps_test)]
    chosen = df if sweep is None else _require(df[df["sweep"] == sweep], f"rows of sweep {sweep!r}")
    keys = chosen[["p", "d", "eta"]].drop_duplicates().sort_values(["p", "d", "eta"])
    df = df.drop_duplicates(subset=[c for c in df.columns if c not in ("sweep",)])
    norms = [n for n in ("linf", "l2") if n in set(fr["test_norm"])]
    _require(fr, f"frontier rows at eps_test = {eps_test:g}")
    _require(keys, "(p, d, eta) points")
    with _style():
        n_cols = len(keys)
        fig = Figure(figsize=(3.1 * n_cols + 1.0, 2.9 * len(norms) + 0.9), layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(norms), n_cols, squeeze=False, sharex=True, sharey=True))
        for i, norm in enumerate(norms):
            for j, (p, d, eta) in enumerate(keys.itertuples(index=False)):
                ax = axes[i, j]
                f = fr[np.isclose(fr["p"], p) & (fr["d"] == d) & np.isclose(fr["eta"], eta) & (fr["test_norm"] == norm)]
                f = _require(f, f"frontier for p={p:g}, d={d}, eta={eta:g}, {norm}").sort_values("standard")
                xs = np.linspace(0.5, 1.0, 401)
                ax.plot(xs, theorem_2_1_bound(xs, float(p)), color="0.25", linestyle="--", lw=1.3,
                        label="Theorem 2.1 bound", gid=BOUND_GID)  # fmt: skip
                ax.plot(f["standard"], f["robust"], color="black", lw=2.0, drawstyle="steps-post",
                        label="best linear classifier (exact frontier)", gid=FRONTIER_GID)  # fmt: skip
                ax.fill_between(f["standard"], f["robust"], theorem_2_1_bound(f["standard"].to_numpy(), float(p)),
                                color="0.85", step="post", label="allowed by the bound, unreachable linearly")  # fmt: skip
                sub = df[np.isclose(df["p"], p) & (df["d"] == d) & np.isclose(df["eta"], eta) & (df["test_norm"] == norm)]
                if sub.empty:  # say so: a panel without markers looked like classifiers gone missing
                    ax.text(0.03, 0.03, f"no classifier of the run evaluated in {_NORM_TEXT[norm]} here",
                            transform=ax.transAxes, fontsize="x-small", color="0.3", ha="left", va="bottom")
                else:
                    pts = _standard_robust(sub, eps_test, norm).drop_duplicates(
                        subset=[c for c in FIT_COLUMNS if c != "sweep"])
                    drawn = [c for c in CLASSIFIER_STYLE if c in set(pts["classifier"])]
                    drawn += sorted(set(map(str, pts["classifier"])) - set(drawn))
                    for clf in drawn:  # the largest first: coinciding points stay visible
                        part = pts[pts["classifier"] == clf]
                        style = CLASSIFIER_STYLE.get(clf, ClassifierLook("0.4", "o", 30.0))
                        ax.scatter(part["accuracy_population_standard"], part["accuracy_population_robust"],
                                   marker=style.marker, color=style.color, s=style.size, edgecolors="white",
                                   linewidths=0.6, alpha=0.9, zorder=3, clip_on=False,
                                   label=_CLASSIFIER_TEXT.get(clf, clf))  # fmt: skip
                ax.set_xlim(0.49, 1.005)
                ax.set_ylim(-0.02, 1.02)
                ax.set_title(f"p = {p:g}, d = {d}, η = {eta:g}/√d; {_NORM_TEXT[norm]}")
                ax.set_xlabel("standard accuracy (population)")
                ax.set_ylabel(f"robust accuracy ({_NORM_TEXT[norm]}, ε = {eps_test:g} {_UNIT_TEXT[norm]})")
        fig.suptitle("The accuracy-robustness frontier of linear classifiers against Theorem 2.1's bound")
        _figure_legend(fig, axes[0, 0])
        _outer_labels(fig)
        save_figure(fig, paths)
    return fig
