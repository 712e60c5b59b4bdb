"""Stage: draw the theory figures from the tidy metrics tables (styling from config)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tradeoff.plots import theory as plots  # noqa: E402
from tradeoff.plots.style import apply_style  # noqa: E402


def theory_figure(metrics: str, paths: Sequence[str], *, kind: str, eps_test: float, style: dict[str, Any]) -> None:
    """One of the trade-off sweep's figures: bound, eps_train, weight_share or closed_form."""
    apply_style(style)
    df = pd.read_csv(metrics)
    if kind == "bound":
        plots.plot_bound(df, eps_test, paths)
    elif kind == "eps_train":
        plots.plot_accuracy_vs_eps_train(df, eps_test, paths)
    elif kind == "weight_share":
        plots.plot_weight_share(df, paths)
    elif kind == "closed_form":
        plots.plot_closed_form(df, paths)
    else:
        raise ValueError(f"unknown theory figure {kind!r}")
    plt.close("all")


def theory_sweep_figure(metrics: str, paths: Sequence[str], *, axis: str, eps_test: float,
                        style: dict[str, Any]) -> None:
    """Standard and robust accuracy of the SVMs against a sweep's one varied axis."""
    apply_style(style)
    column = "train_norm" if axis == "norm" else axis  # the table names the training threat model so
    plots.plot_sweep(pd.read_csv(metrics), column, eps_test, paths)
    plt.close("all")


def theory_frontier_figure(metrics: str, frontier: str, paths: Sequence[str], *, sweep: str, eps_test: float,
                           style: dict[str, Any]) -> None:
    """The linear frontier at the points of ``sweep`` beside Theorem 2.1's bound and every classifier there."""
    apply_style(style)
    plots.plot_frontier(pd.read_csv(metrics), pd.read_csv(frontier), eps_test, paths, sweep=sweep)
    plt.close("all")
