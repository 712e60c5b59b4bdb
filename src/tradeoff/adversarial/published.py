"""The published MNIST numbers we measure ourselves against (l_inf eps = 0.3), from the paper and its peers.

Sources are summarised in the project's PAPER.md (section 3). Accuracies are fractions.
"""

from __future__ import annotations

from typing import Final, TypedDict


class Published(TypedDict):
    model: str
    key: str
    clean: float
    attack: str  # clean, fgsm, pgd or autoattack
    steps: int | None
    restarts: int | None
    robust: float
    source: str


PUBLISHED: Final[list[Published]] = [
    {"model": "standard CNN (Madry)", "key": "standard", "clean": 0.992, "attack": "fgsm", "steps": None,
     "restarts": None, "robust": 0.064, "source": "Madry et al. 2018"},
    {"model": "Madry adversarial training", "key": "madry", "clean": 0.988, "attack": "pgd", "steps": 40,
     "restarts": 1, "robust": 0.932, "source": "Madry et al. 2018"},
    {"model": "Madry adversarial training", "key": "madry", "clean": 0.988, "attack": "pgd", "steps": 100,
     "restarts": 20, "robust": 0.893, "source": "Madry et al. 2018"},
    {"model": "MNIST challenge secret model", "key": "madry", "clean": 0.9853, "attack": "autoattack",
     "steps": None, "restarts": None, "robust": 0.8850, "source": "Croce & Hein 2020 (AutoAttack)"},
    {"model": "TRADES (beta = 1)", "key": "trades", "clean": 0.9948, "attack": "pgd", "steps": 40, "restarts": 1,
     "robust": 0.9607, "source": "Zhang et al. 2019"},
    {"model": "TRADES", "key": "trades", "clean": 0.9948, "attack": "autoattack", "steps": None, "restarts": None,
     "robust": 0.9281, "source": "Croce & Hein 2020 (AutoAttack)"},
    {"model": "Fast (FGSM + random start)", "key": "fast", "clean": 0.9850, "attack": "pgd", "steps": 50,
     "restarts": 10, "robust": 0.8877, "source": "Wong et al. 2020"},
]
"""l_inf eps = 0.3 on the MNIST test set; a third-party PyTorch reproduction reports clean 99.32%
(standard), 98.96% (l_inf 0.3) and 99.41% (l_2 1.5)."""

PUBLISHED_KEYS: Final = ("standard", "madry", "trades", "fast")
