"""The published MNIST numbers we measure ourselves against (l_inf eps = 0.3), from the paper and its peers,
with each row's attack protocol and the recipe that produced the model.

Sources are summarised in the project's PAPER.md (section 3). Accuracies are fractions. A row is set
beside one of our models only like for like (:func:`recipe_mismatch`, :func:`attack_matches`): the same
recipe and architecture, and the same attack (steps, restarts, step size); otherwise the comparison
says "different recipe" or "not run".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, TypedDict


class Published(TypedDict):
    model: str
    key: str
    clean: float
    attack: str  # clean, fgsm, pgd or autoattack
    steps: int | None
    restarts: int | None
    alpha: float | None  # the attack's step size (None: not a fixed-step attack)
    robust: float
    source: str


PUBLISHED: Final[list[Published]] = [
    {"model": "standard CNN (Madry)", "key": "standard", "clean": 0.992, "attack": "fgsm", "steps": 1,
     "restarts": 1, "alpha": 0.3, "robust": 0.064, "source": "Madry et al. 2018"},
    {"model": "Madry adversarial training", "key": "madry", "clean": 0.988, "attack": "pgd", "steps": 40,
     "restarts": 1, "alpha": 0.01, "robust": 0.932, "source": "Madry et al. 2018"},
    {"model": "Madry adversarial training", "key": "madry", "clean": 0.988, "attack": "pgd", "steps": 100,
     "restarts": 20, "alpha": 0.01, "robust": 0.893, "source": "Madry et al. 2018"},
    {"model": "MNIST challenge secret model", "key": "madry", "clean": 0.9853, "attack": "autoattack",
     "steps": None, "restarts": None, "alpha": None, "robust": 0.8850, "source": "Croce & Hein 2020 (AutoAttack)"},
    {"model": "TRADES (1/lambda = 6; 4-conv SmallCNN, SGD)", "key": "trades", "clean": 0.9948, "attack": "pgd",
     "steps": 40, "restarts": 1, "alpha": 0.01, "robust": 0.9607, "source": "Zhang et al. 2019"},
    {"model": "TRADES (1/lambda = 6; 4-conv SmallCNN, SGD)", "key": "trades", "clean": 0.9948,
     "attack": "autoattack", "steps": None, "restarts": None, "alpha": None, "robust": 0.9281,
     "source": "Croce & Hein 2020 (AutoAttack)"},
    {"model": "Fast (FGSM + random start)", "key": "fast", "clean": 0.9850, "attack": "pgd", "steps": 50,
     "restarts": 10, "alpha": 0.01, "robust": 0.8877, "source": "Wong et al. 2020"},
]
"""l_inf eps = 0.3 on the MNIST test set; a third-party PyTorch reproduction reports clean 99.32%
(standard), 98.96% (l_inf 0.3) and 99.41% (l_2 1.5)."""

PUBLISHED_KEYS: Final = ("standard", "madry", "trades", "fast")

PUBLISHED_RECIPES: Final[dict[str, dict[str, Any]]] = {
    "standard": {"model": "madry", "objective": "standard"},
    "madry": {"model": "madry", "objective": "pgd", "norm": "linf", "eps": 0.3, "optimizer": "adam"},
    "trades": {"model": "trades-smallcnn", "objective": "trades", "norm": "linf", "eps": 0.3, "trades_beta": 6.0,
               "optimizer": "sgd"},
    "fast": {"model": "wong", "objective": "fgsm", "norm": "linf", "eps": 0.3, "random_start": True,
             "optimizer": "adam"},
}
"""What produced each published model, in our recipe keys (PAPER.md section 3): architecture (madry:
conv32-conv64-fc1024; wong: Fast's 2-conv net; TRADES' 4-conv SmallCNN is not among ours), objective,
threat model, TRADES' 1/lambda, optimizer."""


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def recipe_mismatch(recipe: Mapping[str, Any], key: str) -> str:
    """"" when ``recipe`` (ours, defaults filled in) matches the published model ``key``'s recipe and
    architecture, else what differs (e.g. "model small, published trades-smallcnn")."""
    want = PUBLISHED_RECIPES[key]
    diffs = [f"{k} {recipe.get(k, 'unset')}, published {v}" for k, v in want.items()
             if not _same(recipe.get(k, "standard" if k == "objective" else None), v)]
    return "; ".join(diffs)


def attack_matches(row: Mapping[str, Any], pub: Published) -> bool:
    """Whether one of our eval rows (attack, norm, eps, steps, restarts, alpha) runs ``pub``'s attack at
    l_inf eps 0.3: same attack; for fgsm and pgd also the same steps, restarts and step size."""
    if row["attack"] != pub["attack"] or row["norm"] != "linf" or not _same(float(row["eps"]), 0.3):
        return False
    if pub["attack"] == "autoattack":
        return True
    return (int(row["steps"]) == pub["steps"] and int(row["restarts"]) == pub["restarts"]
            and pub["alpha"] is not None and _same(float(row["alpha"]), pub["alpha"]))
