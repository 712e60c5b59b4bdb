"""Stage: draw paper Section 4's figures from the saliency stage's arrays and tables.

Images come from each studied model's ``arrays.npz`` (its first seed); nothing here computes
science beyond picking which stored images to show and the straight-line interpolation of
:func:`tradeoff.saliency.rules.interpolate` (a display of the stored end points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tradeoff.naming import recipe_labels
from tradeoff.plots import saliency as ps
from tradeoff.plots.style import apply_style
from tradeoff.saliency.rules import interpolate

KINDS = ("gradients", "alignment", "large_eps", "interpolation", "filters", "judge", "linear_weights",
         "linear_accuracy")


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _first_per_class(y: np.ndarray) -> np.ndarray:
    return np.array([int(np.flatnonzero(y == c)[0]) for c in range(10) if np.any(y == c)])


def saliency_figure(inputs: Any, paths: Sequence[str], *, kind: str, models: list[str],
                    filters: dict[str, Any], style: dict[str, Any],
                    recipes: Sequence[Mapping[str, Any]] = ()) -> None:
    """One figure of :data:`KINDS`. ``inputs``: ``arrays`` (one .npz per entry of ``models``, same
    order), ``alignment``, ``judge``, ``linear_arrays``, ``linear_table``. ``recipes``: the MNIST recipes'
    settings (rows of ``recipes.csv``): recipes are shown by their display names
    (:func:`tradeoff.naming.recipe_labels`); without them, by their keys."""
    apply_style(style)
    name = recipe_labels(pd.DataFrame(list(recipes), columns=None) if recipes else pd.DataFrame(columns=["recipe"]),
                         models)
    keys = models
    models = [name[m] for m in keys]
    if kind in ("gradients", "large_eps", "interpolation", "filters"):
        arrays = {name[m]: _load(p) for m, p in zip(keys, inputs.arrays, strict=True)}
        first = arrays[models[0]]
    if kind == "gradients":
        pick = _first_per_class(first["example_y"])
        ps.plot_gradient_grid(first["example_x"][pick], {m: a["gradients"][pick] for m, a in arrays.items()},
                              paths, labels=first["example_y"][pick])
    elif kind == "alignment":
        table = pd.read_csv(inputs.alignment)
        table = table[table["seed"] == table["seed"].min()].rename(columns={"recipe": "model"})
        table["model"] = table["model"].map(lambda r: name.get(r, r))
        table["model"] = pd.Categorical(table["model"], categories=models, ordered=True)
        ps.plot_alignment(table.sort_values("model").astype({"model": str}), paths)
    elif kind == "large_eps":
        # one original per class, pushed towards the next class (label + 1 mod 10)
        rows = _first_per_class(first["large_y"])
        pairs = [int(np.flatnonzero((first["pair_row"] == r) & (first["pair_target"] == (first["large_y"][r] + 1) % 10))[0])
                 for r in rows]
        ps.plot_large_eps_grid(first["large_x"][first["pair_row"][pairs]], {m: a["x_adv"][pairs] for m, a in arrays.items()},
                               paths, labels=first["large_y"][first["pair_row"][pairs]],
                               targets=first["pair_target"][pairs], eps=float(first["eps"]))
    elif kind == "interpolation":
        strips = {}
        n_steps = int(first["interpolation_steps"])
        for k in (0, 4):  # two pairs: the first image's first and fifth targets
            for m, a in arrays.items():
                row, tgt = int(a["pair_row"][k]), int(a["pair_target"][k])
                strips[f"{m}: {int(a['large_y'][row])} → {tgt}"] = interpolate(a["large_x"][row], a["x_adv"][k], n_steps)
        ps.plot_interpolation(strips, paths)
    elif kind == "filters":
        ps.plot_first_layer_filters({m: (a["filter_w"], a["filter_b"]) for m, a in arrays.items()}, paths,
                                    dominance=float(filters["dominance"]), min_threshold=float(filters["min_threshold"]))
    elif kind == "judge":
        table = pd.read_csv(inputs.judge)
        table["recipe"] = table["recipe"].map(lambda r: name.get(r, r))
        table["recipe"] = pd.Categorical(table["recipe"], categories=models, ordered=True)
        ps.plot_judge(table.sort_values(["recipe", "seed"]).astype({"recipe": str}), paths)
    elif kind == "linear_weights":
        with np.load(inputs.linear_arrays) as z:
            w, eps = z["weights"], z["eps_train"]
        digits = pd.read_csv(inputs.linear_table)["digits"].iloc[0]
        ps.plot_linear_weights({(f"standard SVM ({digits})" if e == 0 else f"robust SVM, ℓ∞ ε_train = {e:g}"): w[k]
                                for k, e in enumerate(eps)}, paths)
    elif kind == "linear_accuracy":
        ps.plot_linear_accuracy(pd.read_csv(inputs.linear_table), paths)
    else:
        raise ValueError(f"unknown saliency figure {kind!r}; valid: {', '.join(KINDS)}")
    plt.close("all")
