"""Figures for paper Section 4 on MNIST: saliency, large-eps examples, filters, linear classifiers.

Every function takes plain data (arrays keyed by model name, or the tidy tables of
:mod:`tradeoff.saliency.analysis`) and output ``paths`` (format from each suffix), draws a
:class:`matplotlib.figure.Figure` (no pyplot state), writes it with
:func:`tradeoff.plots.style.save_figure` (atomic) and returns it. Nothing is computed beyond display
scaling, except that :func:`plot_first_layer_filters` applies the stated thresholding rule
(:func:`tradeoff.saliency.rules.thresholding_filters`) to mark filters.

Display conventions: images in grey, black = 0, white = 1. Gradients and filter weights in a
diverging map (``RdBu_r``: blue negative, white zero, red positive) with limits symmetric about
zero, so zero is always the centre colour; gradients are scaled per image by their own
``max |g|`` (the paper shows each gradient on its own scale), filters per model by the largest
``|w|`` of that model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from numpy.typing import ArrayLike, NDArray  # noqa: E402

from tradeoff.plots.style import (  # noqa: E402
    SEED_INTERVAL_TEXT,
    PathLike,
    save_figure,
    seed_interval,
)
from tradeoff.saliency.rules import ALIGNMENT_SCORES, thresholding_filters  # noqa: E402

__all__ = [
    "DIVERGING_CMAP",
    "plot_alignment",
    "plot_first_layer_filters",
    "plot_gradient_grid",
    "plot_interpolation",
    "plot_judge",
    "plot_large_eps_grid",
    "plot_linear_accuracy",
    "plot_linear_weights",
]

DIVERGING_CMAP: Final = "RdBu_r"
_SCORE_TEXT: Final = {
    "abs_grad_mask_corr": "correlation of |gradient| with stroke mask",
    "energy_on_mask": "share of gradient energy on dilated stroke",
    "cosine_to_centered_image": "cosine(−gradient, image − mean image)",
    "mask_area_fraction": "dilated stroke area / image area (chance level)",
}


def _img(a: ArrayLike) -> NDArray[np.float64]:
    """One image as (28, 28) (accepts (1, 28, 28), (784,), ...)."""
    arr = np.asarray(a, dtype=np.float64)
    side = int(round(math.sqrt(arr.size)))
    if side * side != arr.size:
        raise ValueError(f"cannot show an array of {arr.size} values as a square image")
    return arr.reshape(side, side)


def _stack(a: ArrayLike) -> NDArray[np.float64]:
    """A batch of images as (N, side, side)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError("no images to draw")
    return np.stack([_img(v) for v in arr])


def _off(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _gray(ax: Axes, image: NDArray[np.float64]) -> None:
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    _off(ax)


def _require(mapping: Mapping[str, object], what: str) -> None:
    if not mapping:
        raise ValueError(f"no {what} to draw")


# ----------------------------------------------------------------------------------------------
# gradients


def plot_gradient_grid(
    x: ArrayLike,
    grads: Mapping[str, ArrayLike],
    paths: Sequence[PathLike],
    *,
    labels: ArrayLike | None = None,
    title: str = "Loss gradients with respect to the input (paper Fig. 2)",
) -> Figure:
    """Row 0: the images; then one row per model (``grads[model]`` has the shape of ``x``).

    Each gradient is divided by its own ``max |g|`` and shown in :data:`DIVERGING_CMAP` on
    [-1, 1] (zero = white).
    """
    _require(grads, "gradients")
    imgs = _stack(x)
    rows = {name: _stack(g) for name, g in grads.items()}
    for name, g in rows.items():
        if g.shape != imgs.shape:
            raise ValueError(f"gradients of {name!r} {g.shape} do not match the images {imgs.shape}")
    n = len(imgs)
    fig = Figure(figsize=(1.0 * n + 2.2, 1.05 * (len(rows) + 1) + 0.8), layout="constrained")
    axes = fig.subplots(len(rows) + 1, n, squeeze=False)
    lab = None if labels is None else np.asarray(labels)
    for j in range(n):
        _gray(axes[0, j], imgs[j])
        if lab is not None:
            axes[0, j].set_title(f"digit {int(lab[j])}", fontsize=8)
    im = None
    for i, (name, g) in enumerate(rows.items(), start=1):
        for j in range(n):
            m = float(np.abs(g[j]).max())
            im = axes[i, j].imshow(g[j] / m if m > 0 else g[j], cmap=DIVERGING_CMAP, vmin=-1.0,
                                   vmax=1.0, interpolation="nearest")  # fmt: skip
            _off(axes[i, j])
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    axes[0, 0].set_ylabel("image", rotation=0, ha="right", va="center", fontsize=9)
    assert im is not None
    fig.colorbar(im, ax=axes[1:, :].ravel().tolist(), shrink=0.8,
                 label="gradient / max |gradient| (per image)")  # fmt: skip
    fig.suptitle(title)
    save_figure(fig, paths)
    return fig


def plot_alignment(
    table: pd.DataFrame, paths: Sequence[PathLike], *, scores: Sequence[str] = ALIGNMENT_SCORES
) -> Figure:
    """Distribution of per-image alignment scores per model (violins with inner box), one panel
    per score; ``table`` as :func:`tradeoff.saliency.analysis.alignment_table` (several models concatenated).
    ``energy_on_mask`` panels also show the chance level (mean ``mask_area_fraction``) as a line.
    """
    missing = {"model", "score", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"alignment table lacks columns {sorted(missing)}")
    present = [s for s in scores if s in set(table["score"])]
    if not present:
        raise ValueError(f"no rows for the scores {list(scores)}")
    models = list(dict.fromkeys(table["model"]))
    fig = Figure(figsize=(3.2 * len(present) + 0.6, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(present), squeeze=False)[0])
    palette = dict(zip(models, sns.color_palette(n_colors=len(models)), strict=True))
    chance_line = None
    with sns.axes_style("whitegrid"):
        for ax, score in zip(axes, present, strict=True):
            data = table[(table["score"] == score) & np.isfinite(table["value"].astype(float))]
            sns.violinplot(data=data, x="model", y="value", hue="model", order=models,
                           hue_order=models, palette=palette, inner="box", cut=0, legend=False,
                           ax=ax)  # fmt: skip
            if score == "energy_on_mask" and "mask_area_fraction" in set(table["score"]):
                chance = float(table.loc[table["score"] == "mask_area_fraction", "value"].mean())
                chance_line = ax.axhline(chance, color="grey", linestyle="--", linewidth=1,
                                         label="chance level (stroke area share)")  # fmt: skip
            ax.set_title(_SCORE_TEXT.get(score, score), fontsize=9)
            ax.set_xlabel("model")
            ax.set_ylabel("score per image")
            ax.tick_params(axis="x", labelrotation=20)
    if chance_line is not None:  # below the panels: inside one it covered the line it names
        fig.legend(handles=[chance_line], loc="outside lower center", fontsize=8, frameon=False)
    fig.suptitle("Alignment of loss gradients with the digit's strokes")
    save_figure(fig, paths)
    return fig


# ----------------------------------------------------------------------------------------------
# large-eps examples


def plot_large_eps_grid(
    x: ArrayLike,
    examples: Mapping[str, ArrayLike],
    paths: Sequence[PathLike],
    *,
    labels: ArrayLike | None = None,
    targets: ArrayLike | None = None,
    eps: float | None = None,
) -> Figure:
    """Row 0: the originals; then one row per model with its targeted example of each column
    (``examples[model]`` has the shape of ``x``; column ``j`` is original ``j`` pushed towards
    ``targets[j]``)."""
    _require(examples, "examples")
    imgs = _stack(x)
    rows = {name: _stack(e) for name, e in examples.items()}
    for name, e in rows.items():
        if e.shape != imgs.shape:
            raise ValueError(f"examples of {name!r} {e.shape} do not match the originals {imgs.shape}")
    n = len(imgs)
    fig = Figure(figsize=(1.0 * n + 1.8, 1.05 * (len(rows) + 1) + 0.8), layout="constrained")
    axes = fig.subplots(len(rows) + 1, n, squeeze=False)
    lab = None if labels is None else np.asarray(labels)
    tgt = None if targets is None else np.asarray(targets)
    for j in range(n):
        _gray(axes[0, j], imgs[j])
        parts = [] if lab is None else [f"{int(lab[j])}"]
        if tgt is not None:
            parts.append(f"→ {int(tgt[j])}")
        if parts:
            axes[0, j].set_title(" ".join(parts), fontsize=8)
        for i, e in enumerate(rows.values(), start=1):
            _gray(axes[i, j], e[j])
    axes[0, 0].set_ylabel("original", rotation=0, ha="right", va="center", fontsize=9)
    for i, name in enumerate(rows, start=1):
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    radius = "" if eps is None else f", ℓ2 eps = {eps:g}"
    fig.suptitle(f"Targeted large-eps adversarial examples (label → target{radius}; paper Fig. 3)")
    save_figure(fig, paths)
    return fig


def plot_interpolation(
    strips: Mapping[str, ArrayLike], paths: Sequence[PathLike], *, title: str | None = None
) -> Figure:
    """One row per model: ``strips[model]`` is ``(n_steps, ...)`` images from
    :func:`tradeoff.saliency.analysis.interpolate` (original at t = 0, adversarial example at t = 1)."""
    _require(strips, "interpolation strips")
    rows = {name: _stack(s) for name, s in strips.items()}
    n = max(len(s) for s in rows.values())
    fig = Figure(figsize=(1.0 * n + 1.8, 1.15 * len(rows) + 0.9), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for i, (name, s) in enumerate(rows.items()):
        ts = np.linspace(0.0, 1.0, len(s))
        for j in range(n):
            if j < len(s):
                _gray(axes[i, j], s[j])
                if i == 0 or len(s) != n:
                    axes[i, j].set_title(f"t = {ts[j]:.2f}", fontsize=8)
            else:
                axes[i, j].set_visible(False)
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title or "Interpolation from the original (t = 0) to its large-eps example "
                 "(t = 1; paper Fig. 4)")  # fmt: skip
    save_figure(fig, paths)
    return fig


def plot_judge(table: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Per model: the share of its large-eps examples that the judge labels as their target, next
    to the attack's success on the model itself; ``table``: columns ``recipe``, ``seed``,
    ``judged_target``, ``success_on_model`` (one row per model and seed; bars are seed means with
    their 95% t-intervals over seeds, :func:`tradeoff.plots.style.seed_interval`, points the seeds)."""
    missing = {"recipe", "seed", "judged_target", "success_on_model"} - set(table.columns)
    if missing:
        raise ValueError(f"judge table lacks columns {sorted(missing)}")
    if table.empty:
        raise ValueError("no rows to plot: judge shares")
    long = table.melt(id_vars=["recipe", "seed"], value_vars=["judged_target", "success_on_model"],
                      var_name="measure", value_name="share")
    long["measure"] = long["measure"].map({"judged_target": "judge labels it the target",
                                           "success_on_model": "the attacked model does"})
    fig = Figure(figsize=(1.6 * table["recipe"].nunique() + 3.0, 4.0), layout="constrained")
    ax = fig.subplots()
    order = list(dict.fromkeys(table["recipe"]))
    sns.barplot(data=long, x="recipe", y="share", hue="measure", order=order, errorbar=seed_interval, capsize=0.1,
                err_kws={"linewidth": 1.0}, ax=ax)
    sns.stripplot(data=long, x="recipe", y="share", hue="measure", order=order, dodge=True,
                  palette="dark:black", size=3, legend=False, ax=ax)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("attacked model")
    ax.set_ylabel("share of targeted large-eps examples")
    ax.text(0.0, -0.16, f"bars: seed means, {SEED_INTERVAL_TEXT}; points: the seeds", transform=ax.transAxes,
            fontsize="x-small", va="top")
    ax.set_title("Do large-eps examples look like the target class? (judged by a held-out standard model)")
    handles, names = ax.get_legend_handles_labels()
    if (legend := ax.get_legend()) is not None:
        legend.remove()
    # beside the axes, low (the title runs over the axes' width): inside them it covered bars
    fig.legend(handles, names, fontsize=8, loc="outside right lower")
    save_figure(fig, paths)
    return fig


# ----------------------------------------------------------------------------------------------
# first-layer filters


def plot_first_layer_filters(
    filters: Mapping[str, tuple[ArrayLike, ArrayLike]],
    paths: Sequence[PathLike],
    *,
    dominance: float = 0.5,
    min_threshold: float = 0.3,
) -> Figure:
    """First-layer filters side by side per model; thresholding filters (rule of
    :func:`tradeoff.saliency.rules.thresholding_filters` with ``dominance``, ``min_threshold``) are
    framed in black and their threshold ``-b / w_max`` written under them.

    ``filters[model] = (weights (C_out, C_in, k, k), biases (C_out,))``; only input channel 0 is
    drawn (MNIST has one).
    """
    _require(filters, "filters")
    fig = Figure(figsize=(4.2 * len(filters), 4.8), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(1, len(filters), squeeze=False)[0])
    for sub, (name, (w, b)) in zip(subs, filters.items(), strict=True):
        weights = np.asarray(w, dtype=np.float64)
        biases = np.asarray(b, dtype=np.float64)
        if weights.ndim != 4:
            raise ValueError(f"filters of {name!r} must be (C_out, C_in, k, k), got {weights.shape}")
        marked = thresholding_filters(weights, biases, dominance=dominance, min_threshold=min_threshold)
        c = weights.shape[0]
        ncol = math.ceil(math.sqrt(c))
        nrow = math.ceil(c / ncol)
        axes = sub.subplots(nrow, ncol, squeeze=False)
        lim = float(np.abs(weights).max()) or 1.0
        im = None
        for k, ax in enumerate(axes.ravel()):
            if k >= c:
                ax.set_visible(False)
                continue
            im = ax.imshow(weights[k, 0], cmap=DIVERGING_CMAP, vmin=-lim, vmax=lim,
                           interpolation="nearest")  # fmt: skip
            _off(ax)
            if marked[k]:
                flat = weights[k].ravel()
                w_max = flat[np.abs(flat).argmax()]
                kk = weights.shape[-1]
                ax.add_patch(Rectangle((-0.5, -0.5), kk, kk, fill=False, edgecolor="black",
                                       linewidth=3, clip_on=False))  # fmt: skip
                ax.set_xlabel(f"τ = {-biases[k] / w_max:.2f}", fontsize=7)
        assert im is not None
        sub.colorbar(im, ax=axes.ravel().tolist(), shrink=0.7, label="filter weight")
        sub.suptitle(f"{name}: {int(marked.sum())} of {c} thresholding filters (framed)", fontsize=10)
    fig.suptitle(f"First-layer filters (thresholding: one weight ≥ {dominance:.0%} of the l1 mass, "
                 f"bias ≤ −{min_threshold:g} · that weight)", fontsize=10)  # fmt: skip
    save_figure(fig, paths)
    return fig


# ----------------------------------------------------------------------------------------------
# linear classifiers (paper App. E)


def plot_linear_weights(weights: Mapping[str, ArrayLike], paths: Sequence[PathLike]) -> Figure:
    """Weights of linear classifiers as images (label -> (28, 28) or (784,)), each on its own
    symmetric diverging scale (zero = white)."""
    _require(weights, "weights")
    fig = Figure(figsize=(2.6 * len(weights) + 1.0, 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(weights), squeeze=False)[0])
    for ax, (name, w) in zip(axes, weights.items(), strict=True):
        img = _img(w)
        lim = float(np.abs(img).max()) or 1.0
        im = ax.imshow(img, cmap=DIVERGING_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
        _off(ax)
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.75, label="weight")
    fig.suptitle("Linear classifier weights (paper App. E; red: evidence for the +1 digit)")
    save_figure(fig, paths)
    return fig


def plot_linear_accuracy(accuracy: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Exact accuracy against the test eps (l_inf in the [0, 1] box), one line per training eps;
    ``accuracy`` as :attr:`tradeoff.saliency.analysis.LinearFits.accuracy`."""
    missing = {"eps_train", "eps_test", "accuracy"} - set(accuracy.columns)
    if missing:
        raise ValueError(f"accuracy table lacks columns {sorted(missing)}")
    if accuracy.empty:
        raise ValueError("no rows to plot: linear-classifier accuracies")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    colors = sns.color_palette("viridis", n_colors=accuracy["eps_train"].nunique())
    for color, (e, group) in zip(colors, accuracy.groupby("eps_train", sort=True), strict=True):
        g = group.sort_values("eps_test")
        label = "standard SVM (ε_train = 0)" if e == 0 else f"robust SVM, ℓ∞ ε_train = {e:g}"  # as the theory figures
        ax.plot(g["eps_test"], g["accuracy"], marker="o", color=color, label=label)
    ax.set_xlabel("test eps (ℓ∞, exact worst case inside the [0, 1] box)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("Linear classifiers on an MNIST digit pair: accuracy vs eps")
    ax.legend(fontsize=8)
    save_figure(fig, paths)
    return fig
