"""Stage: draw the MNIST figures from the merged tables (styling from config)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from tradeoff.plots import mnist as plots_mnist
from tradeoff.plots.style import apply_style


def mnist_figure(summary: str, recipes: str, paths: Sequence[str], *, kind: str, frontier: dict[str, Any],
                 style: dict[str, Any]) -> None:
    """One MNIST figure: accuracy_vs_size, accuracy_vs_train_eps, robust_vs_test_eps or frontier."""
    apply_style(style)
    s, r = pd.read_csv(summary), pd.read_csv(recipes)
    if kind == "accuracy_vs_size":
        plots_mnist.plot_accuracy_vs_size(s, r, paths)
    elif kind == "accuracy_vs_train_eps":
        plots_mnist.plot_accuracy_vs_train_eps(s, r, paths)
    elif kind == "robust_vs_test_eps":
        plots_mnist.plot_robust_vs_test_eps(s, paths)
    elif kind == "frontier":
        plots_mnist.plot_frontier(s, r, frontier["norm"], frontier["eps"], paths)
    else:
        raise ValueError(f"unknown MNIST figure {kind!r}")
    plt.close("all")
