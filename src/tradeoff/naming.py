"""One display name per MNIST recipe, for every figure and table.

Recipe names are keys (config ``mnist.recipes``, result paths, committed CSVs) and were chosen at
different times ("linf-0.3", "linf-eps-0.2"); readers see a name built from what the recipe *is*
(``recipes.csv``: objective, threat model, eps, TRADES beta) instead, in one scheme:

* ``standard`` for standard training;
* ``PGD ℓ∞ ε=0.3``, ``PGD ℓ2 ε=1.5`` for PGD training (``FGSM``/``N-FGSM`` likewise);
* ``TRADES ℓ∞ ε=0.3 β=1`` for TRADES.

Two recipes that would get the same name (they differ in something else, e.g. the model or steps)
keep their keys beside it: ``PGD ℓ∞ ε=0.3 (linf-0.3-small)``. A recipe missing from the table is
shown by its key. The keys themselves are never renamed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

__all__ = ["NORM_SYMBOLS", "OBJECTIVE_NAMES", "recipe_label", "recipe_labels"]

NORM_SYMBOLS: Final = {"linf": "ℓ∞", "l2": "ℓ2"}
"""Threat-model keys -> the symbol shown."""
OBJECTIVE_NAMES: Final = {"pgd": "PGD", "fgsm": "FGSM", "nfgsm": "N-FGSM", "trades": "TRADES"}
"""Training-objective keys -> the name shown (``standard`` is shown as itself)."""


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def recipe_label(info: Mapping[str, Any]) -> str:
    """The display name of one recipe from its settings (a row of ``recipes.csv``: ``objective``,
    ``norm``, ``eps``, ``trades_beta``); the key ``recipe`` where the objective is missing."""
    objective = info.get("objective")
    if not isinstance(objective, str) or not objective:
        return str(info.get("recipe", "?"))
    if objective == "standard":
        return "standard"
    parts = [OBJECTIVE_NAMES.get(objective, objective)]
    norm = info.get("norm")
    if isinstance(norm, str) and norm:
        parts.append(NORM_SYMBOLS.get(norm, norm))
    eps = _number(info.get("eps"))
    if eps is not None:
        parts.append(f"ε={eps:g}")
    beta = _number(info.get("trades_beta"))
    if objective == "trades" and beta is not None:
        parts.append(f"β={beta:g}")
    return " ".join(parts)


def recipe_labels(recipes: pd.DataFrame, keys: Any = ()) -> dict[str, str]:
    """Recipe key -> display name for every row of ``recipes`` (``recipes.csv``) and every extra key in
    ``keys`` (shown as itself when the table lacks it). Names shared by two keys get the key beside them."""
    rows = {str(r["recipe"]): recipe_label(r) for r in recipes.to_dict("records")} if len(recipes) else {}
    for k in keys:
        rows.setdefault(str(k), str(k))
    counts: dict[str, int] = {}
    for name in rows.values():
        counts[name] = counts.get(name, 0) + 1
    return {k: (f"{v} ({k})" if counts[v] > 1 and v != k else v) for k, v in rows.items()}
