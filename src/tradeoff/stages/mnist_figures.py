"""Stage: draw the MNIST figures from the merged tables (styling from config)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tradeoff.claims import stats
from tradeoff.plots import mnist as plots_mnist
from tradeoff.plots.style import apply_style
from tradeoff.stages.mnist_tables import KEY

__all__ = ["mnist_figure", "seed_intervals"]


def seed_intervals(merged: pd.DataFrame, level: float = stats.LEVEL) -> pd.DataFrame:
    """Each model group's (``KEY``: recipe, size, attack, ...) mean accuracy over seeds with the
    recipe level's interval of ``docs/CLAIMS.md``: the t-interval of :func:`tradeoff.claims.stats.t_test`
    at ``level`` (95% by default; k - 1 degrees of freedom), ``low``/``high`` NaN below
    :data:`tradeoff.claims.stats.RECIPE_MIN_SEEDS` seeds (the recipe level is not testable there).
    ``merged``: ``robustness.csv`` (one row per model and attack)."""
    missing = [c for c in (*KEY, "seed", "accuracy") if c not in merged.columns]
    if missing:
        raise ValueError(f"the merged robustness table lacks column(s) {missing}")
    rows = []
    for key, group in merged.groupby(KEY, dropna=False, sort=True):
        test = stats.t_test(group["accuracy"].to_numpy(dtype=np.float64))
        low, high = test.interval(level) if test.interval is not None else (np.nan, np.nan)
        rows.append({**dict(zip(KEY, key, strict=True)), "accuracy_mean": test.estimate, "low": low, "high": high,
                     "n_seeds": test.n_seeds})
    return pd.DataFrame(rows)


def mnist_figure(merged: str, recipes: str, paths: Sequence[str], *, kind: str, frontier: dict[str, Any],
                 style: dict[str, Any]) -> None:
    """One MNIST figure: accuracy_vs_size, accuracy_vs_train_eps, robust_vs_test_eps or frontier;
    ``merged``: ``robustness.csv`` (every model's accuracies; the figures draw means over seeds with
    their t-intervals, :func:`seed_intervals`)."""
    apply_style(style)
    s, r = seed_intervals(pd.read_csv(merged)), pd.read_csv(recipes)
    if kind == "accuracy_vs_size":
        plots_mnist.plot_accuracy_vs_size(s, r, paths)
    elif kind == "accuracy_vs_train_eps":
        plots_mnist.plot_accuracy_vs_train_eps(s, r, paths)
    elif kind == "robust_vs_test_eps":
        plots_mnist.plot_robust_vs_test_eps(s, r, paths)
    elif kind == "frontier":
        plots_mnist.plot_frontier(s, r, frontier["norm"], frontier["eps"], paths)
    else:
        raise ValueError(f"unknown MNIST figure {kind!r}")
    plt.close("all")
