"""MNIST figures (paper Figs. 1 and 7, robustness curves, the accuracy/robustness frontier).

Figures only draw the tidy tables written by the pipeline (``robustness_summary.csv`` joined with
``recipes.csv``); they compute nothing beyond selecting rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tradeoff.plots.style import PathLike, save_figure  # noqa: E402


def _clean(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["attack"] == "clean"]


def _pct(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))


def plot_accuracy_vs_size(summary: pd.DataFrame, recipes: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Standard accuracy against training-set size, one line per recipe (paper Fig. 1)."""
    sizes = summary.groupby("recipe")["size"].nunique()
    swept = sizes[sizes > 1].index
    data = _clean(summary[summary["recipe"].isin(swept)])
    if data.empty:
        raise ValueError("no recipe is trained at more than one size: nothing to draw against size")
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    sns.lineplot(data=data, x="size", y="accuracy_mean", hue="recipe", style="recipe", markers=True, ax=ax)
    for _, group in data.groupby("recipe"):
        ax.errorbar(group["size"], group["accuracy_mean"], yerr=group["accuracy_std"], fmt="none", ecolor="grey",
                    alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("training-set size (images; optimiser steps held fixed)")
    ax.set_ylabel("standard (clean) test accuracy")
    ax.set_title("Standard accuracy vs training-set size (paper Fig. 1)")
    _pct(ax)
    ax.legend(title="recipe")
    save_figure(fig, paths)
    return fig


def plot_accuracy_vs_train_eps(summary: pd.DataFrame, recipes: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """Standard accuracy against the training eps of PGD-trained recipes, per threat model (paper Fig. 7)."""
    info = recipes[["recipe", "objective", "norm", "eps"]].rename(columns={"norm": "train_norm", "eps": "train_eps"})
    data = _clean(summary).merge(info, on="recipe")
    data = data[data["objective"].isin(["pgd", "standard"])].copy()
    data.loc[data["objective"] == "standard", "train_eps"] = 0.0
    largest = data.groupby("recipe")["size"].transform("max")
    data = data[data["size"] == largest]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for norm, group in data[data["objective"] == "pgd"].groupby("train_norm"):
        std = data[data["objective"] == "standard"].assign(train_norm=norm)
        g = pd.concat([std, group]).sort_values("train_eps")
        ax.errorbar(g["train_eps"], g["accuracy_mean"], yerr=g["accuracy_std"], marker="o", capsize=3,
                    label=f"PGD training, {norm}")
    ax.set_xlabel("training eps (0: standard training)")
    ax.set_ylabel("standard (clean) test accuracy")
    ax.set_title("Standard accuracy vs training eps (paper Fig. 7)")
    _pct(ax)
    ax.legend()
    save_figure(fig, paths)
    return fig


def plot_robust_vs_test_eps(summary: pd.DataFrame, paths: Sequence[PathLike]) -> Figure:
    """PGD accuracy against the test eps, one panel per threat model, one line per model."""
    pgd = summary[summary["attack"] == "pgd"]
    largest = summary.groupby("recipe")["size"].transform("max")
    clean = summary[(summary["attack"] == "clean") & (summary["size"] == largest)]
    pgd = pgd[pgd["size"] == pgd.groupby("recipe")["size"].transform("max")]
    norms = sorted(pgd["norm"].dropna().unique())
    fig = Figure(figsize=(5 * max(1, len(norms)), 4))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(norms)), sharey=True))
    for ax, norm in zip(axes, norms, strict=False):
        part = pgd[pgd["norm"] == norm]
        strongest = part.assign(_w=part["steps"] * part["restarts"])
        strongest = strongest[strongest["_w"] == strongest.groupby("recipe")["_w"].transform("max")]
        zero = clean[["recipe", "accuracy_mean"]].assign(eps=0.0)
        curve = pd.concat([zero, strongest[["recipe", "eps", "accuracy_mean"]]]).sort_values("eps")
        sns.lineplot(data=curve, x="eps", y="accuracy_mean", hue="recipe", style="recipe", markers=True, ax=ax)
        ax.set_xlabel(f"test eps ({norm}, PGD)")
        ax.set_ylabel("robust test accuracy")
        ax.set_title(f"Robust accuracy under {norm} PGD")
        _pct(ax)
    save_figure(fig, paths)
    return fig


def plot_frontier(summary: pd.DataFrame, recipes: pd.DataFrame, norm: str, eps: float,
                  paths: Sequence[PathLike]) -> Figure:
    """Clean against robust accuracy (PGD at ``eps``), one point per recipe: the trade-off frontier."""
    largest = summary.groupby("recipe")["size"].transform("max")
    s = summary[summary["size"] == largest]
    clean = s[s["attack"] == "clean"][["recipe", "accuracy_mean"]].rename(columns={"accuracy_mean": "clean"})
    pgd = s[(s["attack"] == "pgd") & (s["norm"] == norm) & np.isclose(s["eps"], eps)]
    pgd = pgd.assign(_w=pgd["steps"] * pgd["restarts"])
    pgd = pgd[pgd["_w"] == pgd.groupby("recipe")["_w"].transform("max")]
    data = clean.merge(pgd[["recipe", "accuracy_mean"]].rename(columns={"accuracy_mean": "robust"}), on="recipe")
    data = data.merge(recipes[["recipe", "objective"]], on="recipe")
    if data.empty:
        raise ValueError(f"no PGD evaluation at {norm} eps={eps}: no frontier to draw")
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    sns.scatterplot(data=data, x="clean", y="robust", hue="objective", style="objective", s=80, ax=ax)
    for _, r in data.iterrows():
        ax.annotate(r["recipe"], (r["clean"], r["robust"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("standard (clean) test accuracy")
    ax.set_ylabel(f"robust test accuracy ({norm} PGD, eps = {eps:g})")
    ax.set_title("Accuracy/robustness frontier (PGD eps and TRADES beta)")
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    _pct(ax)
    save_figure(fig, paths)
    return fig
