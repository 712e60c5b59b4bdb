"""MNIST figures (paper Figs. 1 and 7, robustness curves, the accuracy/robustness frontier).

Figures only draw the tidy table of :func:`tradeoff.stages.mnist_figures.seed_intervals` (each
model group's mean over seeds with its t-interval, ``low``/``high``) joined with ``recipes.csv``;
they compute nothing beyond selecting rows and placing labels. Every plotted mean carries its
interval (:data:`INTERVAL_NOTE`: the recipe level's t-interval over seeds of ``docs/CLAIMS.md``),
and every figure says so in a note below its axes. Recipes are shown by their display names
(:func:`tradeoff.naming.recipe_labels`) in one colour each across the figures (:func:`recipe_palette`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from tradeoff.naming import NORM_SYMBOLS, recipe_labels  # noqa: E402
from tradeoff.plots.style import PathLike, cielab, save_figure  # noqa: E402

__all__ = ["FRONTIER_LABEL_GID", "INTERVAL_NOTE", "NOTE_GID", "interval_note", "plot_accuracy_vs_size",
           "plot_accuracy_vs_train_eps", "plot_frontier", "plot_robust_vs_test_eps", "recipe_palette"]

INTERVAL_NOTE: Final = ("bars: 95% t-interval of the mean over seeds (k - 1 degrees of freedom; the recipe "
                        "level's interval, docs/CLAIMS.md), none where fewer than 3 seeds")
"""What every MNIST figure's bars are (the figure's note and the report's caption say it)."""
NOTE_GID: Final = "interval-note"
"""``gid`` of the note under every MNIST figure that says what its bars are."""
FRONTIER_LABEL_GID: Final = "frontier-label"
"""``gid`` of each recipe label of :func:`plot_frontier`."""
_INTERVAL_COLUMNS: Final = ("accuracy_mean", "low", "high", "n_seeds")


def interval_note(data: pd.DataFrame) -> str:
    """The note under a figure: :data:`INTERVAL_NOTE` and the seeds its means rest on."""
    k = sorted({int(n) for n in data["n_seeds"]})
    seeds = f"{k[0]} seed" + ("" if k[0] == 1 else "s") if len(k) == 1 else f"{k[0]} to {k[-1]} seeds"
    return f"Means over {seeds}; {INTERVAL_NOTE}."


def _require(summary: pd.DataFrame) -> None:
    missing = [c for c in ("recipe", "size", "attack", *_INTERVAL_COLUMNS) if c not in summary.columns]
    if missing:
        raise ValueError(f"the figure's table lacks column(s) {missing}: pass the table of "
                         "tradeoff.stages.mnist_figures.seed_intervals (means with their t-intervals)")


def _clean(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["attack"] == "clean"]


def _pct(ax: Axes, axis: str = "y", decimals: int | None = None) -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=decimals))


def _yerr(data: pd.DataFrame, mean: str = "accuracy_mean", low: str = "low", high: str = "high") -> np.ndarray:
    """Asymmetric error lengths for ``errorbar``; 0 where there is no interval (fewer than 3 seeds)."""
    m = data[mean].to_numpy(dtype=float)
    lo = np.nan_to_num(m - data[low].to_numpy(dtype=float), nan=0.0)
    hi = np.nan_to_num(data[high].to_numpy(dtype=float) - m, nan=0.0)
    return np.vstack([lo, hi])


def _mix(color: Sequence[float], other: float, share: float) -> tuple[float, float, float]:
    r, g, b = (float(c) for c in color[:3])
    return (r + (other - r) * share, g + (other - g) * share, b + (other - b) * share)


LIGHTEST: Final = 62.0
"""The lightest a recipe's colour may be (CIE L*): about 3:1 contrast on white, the WCAG minimum for
lines and markers; a paler shade (the old palette's 1.6:1 tan) vanishes on the page."""
DARKEST: Final = 28.0
"""The darkest a recipe's colour may be (CIE L*), so that it is still a hue and not black (standard)."""
_HUE_GAP: Final = 30.0
"""Two training families' hues at least this far apart (CIE76 delta E): orange and vermillion are not."""


def _shade(color: Sequence[float], lightness: float) -> tuple[float, float, float]:
    """``color`` mixed with white or black until its CIE L* is ``lightness`` (bisection on the share)."""
    lo, hi = -1.0, 1.0  # -1: white, +1: black; L* falls as the share grows

    def mixed(share: float) -> tuple[float, float, float]:
        return _mix(color, 1.0, -share) if share < 0 else _mix(color, 0.0, share)

    for _ in range(40):
        mid = (lo + hi) / 2
        if cielab(mixed(mid))[0] > lightness:
            lo = mid
        else:
            hi = mid
    return mixed((lo + hi) / 2)


def _family_hues(n: int) -> list[tuple[float, float, float]]:
    """``n`` hues from the configured palette, in its order, skipping greys and any colour within
    :data:`_HUE_GAP` of one already taken (then, if too few are left, the palette's colours again)."""
    base = [tuple(float(c) for c in rgb[:3]) for rgb in sns.color_palette(n_colors=10)]
    chosen: list[tuple[float, float, float]] = []
    for c in base:
        L, a, b = cielab(c)
        if math.hypot(a, b) < 15 or any(math.dist(cielab(c), cielab(d)) < _HUE_GAP for d in chosen):
            continue
        chosen.append(c)  # type: ignore[arg-type]
    while len(chosen) < n:
        chosen.append(base[len(chosen) % len(base)])  # type: ignore[arg-type]
    return chosen[:n]


def recipe_palette(recipes: pd.DataFrame, keys: Sequence[str] = ()) -> dict[str, tuple[float, float, float]]:
    """One colour per recipe, the same in every figure: a hue per training family (PGD ℓ2, PGD ℓ∞,
    TRADES, FGSM, ...: :func:`_family_hues`), darkening with the training eps within it, every shade
    between CIE L* :data:`LIGHTEST` and :data:`DARKEST` (readable on white, told apart from its
    neighbours); standard training black. Keys absent from ``recipes`` get the next hues."""
    families: dict[tuple[str, str], list[tuple[float, str]]] = {}
    colours: dict[str, tuple[float, float, float]] = {}
    for r in recipes.to_dict("records"):
        key = str(r["recipe"])
        objective = r.get("objective") if isinstance(r.get("objective"), str) else "?"
        if objective == "standard":
            colours[key] = (0.0, 0.0, 0.0)
            continue
        norm = r.get("norm") if isinstance(r.get("norm"), str) else ""
        eps = float(r["eps"]) if "eps" in r and not pd.isna(r["eps"]) else 0.0
        families.setdefault((str(objective), str(norm)), []).append((eps, key))
    extra = [k for k in keys if k not in colours and not any(k == key for f in families.values() for _, key in f)]
    order = sorted(families, key=lambda f: (["pgd", "trades", "fgsm", "nfgsm"].index(f[0])
                                            if f[0] in ("pgd", "trades", "fgsm", "nfgsm") else 9, f[1], f[0]))
    hues = _family_hues(len(order) + len(extra))
    for hue, family in zip(hues, order, strict=False):
        members = sorted(families[family])
        n = len(members)
        if n == 1:  # its own hue, made no paler than LIGHTEST nor darker than DARKEST
            target = min(max(cielab(hue)[0], DARKEST), LIGHTEST)
            colours[members[0][1]] = _shade(hue, target)
            continue
        for j, (_, key) in enumerate(members):  # light (small eps) to dark (large eps)
            colours[key] = _shade(hue, LIGHTEST + (DARKEST - LIGHTEST) * j / (n - 1))
    for hue, key in zip(hues[len(order):], extra, strict=False):
        colours[key] = _shade(hue, min(max(cielab(hue)[0], DARKEST), LIGHTEST))
    return colours


def _order(recipes: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """Recipes in reading order: standard, then by family and eps (as the palette)."""
    info = recipes.set_index("recipe") if len(recipes) else pd.DataFrame()

    def key(k: str) -> tuple[int, str, float, str]:
        if k not in info.index:
            return (9, "", 0.0, k)
        r = info.loc[k]
        objective = r.get("objective") if isinstance(r.get("objective"), str) else "?"
        rank = {"standard": 0, "pgd": 1, "trades": 2, "fgsm": 3, "nfgsm": 4}.get(str(objective), 8)
        norm = r.get("norm") if isinstance(r.get("norm"), str) else ""
        eps = float(r["eps"]) if "eps" in r and not pd.isna(r["eps"]) else 0.0
        return (rank, str(norm), eps, k)

    return sorted(dict.fromkeys(keys), key=key)


def _note(fig: Figure, data: pd.DataFrame) -> None:
    """The interval note, below everything the axes draw (after the layout, so no label is covered)."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    bottom = min(b.y0 for b in boxes if b is not None)
    y = float(fig.transFigure.inverted().transform((0.0, bottom))[1])
    fig.text(0.01, y - 0.01, interval_note(data), ha="left", va="top", fontsize="x-small", wrap=True,
             gid=NOTE_GID)


def _size_ticks(ax: Axes, sizes: Sequence[int]) -> None:
    """The trained sizes as the log axis's ticks (labelled 1,000 ... 55,000), no other ticks."""
    ticks = sorted({int(s) for s in sizes})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.tick_params(axis="x", labelrotation=30)


def plot_accuracy_vs_size(summary: pd.DataFrame, recipes: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Standard accuracy against training-set size, one line per recipe (paper Fig. 1); the x axis
    ticks are the trained sizes; bars: t-intervals over seeds."""
    _require(summary)
    sizes = summary.groupby("recipe")["size"].nunique()
    swept = sizes[sizes > 1].index
    data = _clean(summary[summary["recipe"].isin(swept)]).sort_values("size")
    if data.empty:
        raise ValueError("no recipe is trained at more than one size: nothing to draw against size")
    labels = recipe_labels(recipes, data["recipe"].unique())
    colours = recipe_palette(recipes, list(data["recipe"].unique()))
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    markers = ["o", "s", "D", "^", "v", "P", "X", "<", ">", "*"]
    for i, recipe in enumerate(_order(recipes, list(data["recipe"].unique()))):
        g = data[data["recipe"] == recipe]
        ax.errorbar(g["size"], g["accuracy_mean"], yerr=_yerr(g), color=colours[recipe], marker=markers[i % 10],
                    capsize=3, label=labels[recipe])
    ax.set_xscale("log")
    _size_ticks(ax, data["size"].unique())
    ax.set_xlabel("training-set size (images; optimiser steps held fixed)")
    ax.set_ylabel("standard (clean) test accuracy")
    ax.set_title("Standard accuracy vs training-set size (paper Fig. 1)")
    _pct(ax)
    fig.legend(title="training", loc="outside right upper", fontsize="small")  # beside the axes, over no curve
    _note(fig, data)
    save_figure(fig, paths)
    return fig


def plot_accuracy_vs_train_eps(summary: pd.DataFrame, recipes: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Standard accuracy against the training eps of PGD-trained recipes (paper Fig. 7), one panel per
    threat model (ℓ2 and ℓ∞ eps are not on one scale); standard training drawn at eps 0 in each."""
    _require(summary)
    info = recipes[["recipe", "objective", "norm", "eps"]].rename(columns={"norm": "train_norm", "eps": "train_eps"})
    data = _clean(summary).merge(info, on="recipe")
    data = data[data["objective"].isin(["pgd", "standard"])].copy()
    data.loc[data["objective"] == "standard", "train_eps"] = 0.0
    largest = data.groupby("recipe")["size"].transform("max")
    data = data[data["size"] == largest]
    norms = sorted(data.loc[data["objective"] == "pgd", "train_norm"].dropna().unique())
    std = data[data["objective"] == "standard"]
    if not norms and std.empty:
        raise ValueError("neither a PGD-trained nor a standard recipe: nothing to draw against the training eps")
    labels = recipe_labels(recipes, data["recipe"].unique())
    colours = recipe_palette(recipes, list(data["recipe"].unique()))
    panels = norms or [""]  # a run without PGD recipes: standard training alone, at eps 0
    fig = Figure(figsize=(4.6 * len(panels) + 2.2, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    handles: dict[str, Any] = {}
    for ax, norm in zip(axes, panels, strict=True):
        g = data[(data["objective"] == "pgd") & (data["train_norm"] == norm)]
        line = pd.concat([std, g]).sort_values("train_eps")
        ax.plot(line["train_eps"], line["accuracy_mean"], color="0.6", lw=1, zorder=1)
        for _, r in line.iterrows():
            handles[labels[r["recipe"]]] = ax.errorbar(
                [r["train_eps"]], [r["accuracy_mean"]], yerr=_yerr(r.to_frame().T), marker="o", capsize=4,
                color=colours[r["recipe"]], label=labels[r["recipe"]], zorder=2)
        ax.set_xticks(sorted(line["train_eps"].unique()))
        ax.set_xlabel(f"training eps, {NORM_SYMBOLS.get(norm, norm)} PGD (0: standard training)")
        ax.set_ylabel("standard (clean) test accuracy")
        ax.set_title(f"{NORM_SYMBOLS.get(norm, norm)} PGD training" if norm else "no PGD-trained recipe in this run")
        _pct(ax, decimals=1)
    fig.legend(list(handles.values()), list(handles), title="training", loc="outside right upper", fontsize="small")
    size = int(data["size"].max())
    fig.suptitle(f"Standard accuracy vs training eps (paper Fig. 7), n = {size:,}")
    _note(fig, data)
    save_figure(fig, paths)
    return fig


def _strongest_pgd(summary: pd.DataFrame) -> pd.DataFrame:
    """Each recipe's largest size, the PGD evaluation with the most steps x restarts per (norm, eps)."""
    pgd = summary[summary["attack"] == "pgd"]
    pgd = pgd[pgd["size"] == pgd.groupby("recipe")["size"].transform("max")]
    pgd = pgd.assign(_w=pgd["steps"] * pgd["restarts"])
    return pgd[pgd["_w"] == pgd.groupby(["recipe", "norm", "eps"])["_w"].transform("max")].drop(columns="_w")


def plot_robust_vs_test_eps(summary: pd.DataFrame, recipes: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """PGD accuracy against the test eps, one panel per threat model, one line per model; one shared
    legend right of the panels."""
    _require(summary)
    pgd = _strongest_pgd(summary)
    largest = summary.groupby("recipe")["size"].transform("max")
    clean = summary[(summary["attack"] == "clean") & (summary["size"] == largest)]
    norms = sorted(pgd["norm"].dropna().unique())
    if not norms:
        raise ValueError("no PGD evaluation: no robustness curve to draw")
    keys = _order(recipes, list(pgd["recipe"].unique()))
    labels = recipe_labels(recipes, keys)
    colours = recipe_palette(recipes, keys)
    markers = ["o", "s", "D", "^", "v", "P", "X", "<", ">", "*"]
    styles = ["-", "--", "-.", ":"]
    fig = Figure(figsize=(4.6 * len(norms) + 2.6, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(norms), sharey=True))
    handles = {}
    for ax, norm in zip(axes, norms, strict=True):
        part = pgd[pgd["norm"] == norm]
        for i, recipe in enumerate(keys):
            c = pd.concat([clean[clean["recipe"] == recipe].assign(eps=0.0), part[part["recipe"] == recipe]])
            c = c.sort_values("eps")
            if c.empty:
                continue
            h = ax.errorbar(c["eps"], c["accuracy_mean"], yerr=_yerr(c), color=colours[recipe], marker=markers[i % 10],
                            ls=styles[i % 4], capsize=2, elinewidth=0.8, markersize=4, label=labels[recipe])
            handles[labels[recipe]] = h
        ax.set_xticks(sorted({0.0, *part["eps"].unique()}))
        ax.set_xlabel(f"test eps ({NORM_SYMBOLS.get(norm, norm)}, PGD; 0: clean)")
        ax.set_ylabel("robust test accuracy")
        ax.set_title(f"Robust accuracy under {NORM_SYMBOLS.get(norm, norm)} PGD")
        _pct(ax)
    fig.legend(list(handles.values()), list(handles), title="training", loc="outside right upper",
               fontsize="small")
    _note(fig, pd.concat([clean, pgd]))
    save_figure(fig, paths)
    return fig


def _boxes_overlap(a: Bbox, b: Bbox) -> bool:
    return bool(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def _place_labels(fig: Figure, ax: Axes, points: Sequence[tuple[float, float]], texts: Sequence[str],
                  bars: Sequence[tuple[float, float, float, float]] = (), fontsize: float = 8.0) -> None:
    """Label each point where its text overlaps no other label, no point, no interval bar (``bars``:
    ``(x0, y0, x1, y1)`` in data coordinates) and stays inside the axes:
    the first free spot on rings of growing radius (fixed angles, so deterministic); a label away from
    its point gets a leader line."""
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    scale = fig.dpi / 72.0
    centres = ax.transData.transform(np.asarray(points, dtype=float))
    r = 11 * scale  # a margin round each marker (pixels): no label beside another point
    obstacles = [Bbox.from_extents(x - r, y - r, x + r, y + r) for x, y in centres]
    w = 2 * scale
    for x0, y0, x1, y1 in bars:
        (a, b), (c, d) = ax.transData.transform([(x0, y0), (x1, y1)])
        obstacles.append(Bbox.from_extents(min(a, c) - w, min(b, d) - w, max(a, c) + w, max(b, d) + w))
    placed: list[Bbox] = []
    order = sorted(range(len(points)), key=lambda i: (-points[i][1], points[i][0]))
    angles = (45, 135, 90, -45, -135, -90, 0, 180, 67.5, 112.5, 22.5, 157.5)
    for i in order:
        best: tuple[float, float, str, str, float, Bbox | None] | None = None
        for radius in (7.0, 14.0, 22.0, 32.0, 44.0, 58.0, 74.0, 92.0, 112.0, 135.0):
            for angle in angles:
                dx, dy = radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))
                ha = "left" if dx > 1 else ("right" if dx < -1 else "center")
                va = "bottom" if dy > 1 else ("top" if dy < -1 else "center")
                text = ax.annotate(texts[i], points[i], xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                                   fontsize=fontsize)
                box = text.get_window_extent(renderer).expanded(1.04, 1.15)
                text.remove()
                inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
                if inside and not any(_boxes_overlap(box, b) for b in [*placed, *obstacles]):
                    best = (dx, dy, ha, va, radius, box)
                    break
            if best is not None:
                break
        if best is None:  # no free spot: the nearest ring, up-right (the test on overlaps would say)
            best = (7.0, 7.0, "left", "bottom", 7.0, None)
        dx, dy, ha, va, ring, found = best
        arrow = {"arrowstyle": "-", "color": "0.45", "lw": 0.6, "shrinkA": 1, "shrinkB": 4} if ring > 10 else None
        ax.annotate(texts[i], points[i], xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                    arrowprops=arrow, gid=FRONTIER_LABEL_GID)
        if found is not None:
            placed.append(found)


def plot_frontier(summary: pd.DataFrame, recipes: pd.DataFrame, norm: str, eps: float,
                  paths: Sequence[PathLike]) -> Figure:
    """Clean against robust accuracy (PGD at ``eps``), one point per recipe with its t-intervals on
    both axes: the trade-off frontier. Labels are placed so that none overlaps another."""
    _require(summary)
    largest = summary.groupby("recipe")["size"].transform("max")
    s = summary[summary["size"] == largest]
    cols = ["recipe", "accuracy_mean", "low", "high"]
    clean = s[s["attack"] == "clean"][cols].rename(columns={"accuracy_mean": "clean", "low": "clean_low",
                                                             "high": "clean_high"})
    pgd = _strongest_pgd(s)
    pgd = pgd[(pgd["norm"] == norm) & np.isclose(pgd["eps"], eps)]
    data = clean.merge(pgd[[*cols, "n_seeds"]].rename(columns={"accuracy_mean": "robust", "low": "robust_low",
                                                               "high": "robust_high"}), on="recipe")
    data = data.merge(recipes[["recipe", "objective"]], on="recipe")
    if data.empty:
        raise ValueError(f"no PGD evaluation at {norm} eps={eps}: no frontier to draw")
    keys = _order(recipes, list(data["recipe"]))
    data = data.set_index("recipe").loc[keys].reset_index()
    labels = recipe_labels(recipes, keys)
    colours = recipe_palette(recipes, keys)
    fig = Figure(figsize=(7.5, 5.2))  # a fixed layout: the labels are placed in the axes' final pixels
    ax = fig.subplots()
    markers = {"standard": "X", "pgd": "o", "trades": "s", "fgsm": "D", "nfgsm": "^"}
    for _, r in data.iterrows():
        ax.errorbar([r["clean"]], [r["robust"]],
                    xerr=_yerr(r.to_frame().T, "clean", "clean_low", "clean_high"),
                    yerr=_yerr(r.to_frame().T, "robust", "robust_low", "robust_high"),
                    marker=markers.get(r["objective"], "o"), markersize=7, color=colours[r["recipe"]], capsize=2,
                    elinewidth=0.8, ls="none")
    sym = NORM_SYMBOLS.get(norm, norm)
    ax.set_xlabel("standard (clean) test accuracy")
    ax.set_ylabel(f"robust test accuracy ({sym} PGD, eps = {eps:g})")
    ax.set_title("Accuracy/robustness frontier of the trained recipes")
    _pct(ax, "x", decimals=1)
    _pct(ax)
    x0, x1 = float(data["clean"].min()), float(data["clean"].max())
    pad = max(x1 - x0, 0.002)
    ax.set_xlim(x0 - 0.35 * pad, x1 + 0.35 * pad)
    ax.set_ylim(-0.12, max(1.0, float(data["robust_high"].max()) + 0.05) + 0.1)
    bars = [(float(r["clean_low"]), float(r["robust"]), float(r["clean_high"]), float(r["robust"]))
            for _, r in data.iterrows() if not pd.isna(r["clean_low"])]
    bars += [(float(r["clean"]), float(r["robust_low"]), float(r["clean"]), float(r["robust_high"]))
             for _, r in data.iterrows() if not pd.isna(r["robust_low"])]
    _place_labels(fig, ax, list(zip(data["clean"], data["robust"], strict=True)),
                  [labels[k] for k in data["recipe"]], bars)
    _note(fig, data)
    save_figure(fig, paths)
    return fig
