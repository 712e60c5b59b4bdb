"""The threat models and the dual norm of each: shared by the closed forms (:mod:`tradeoff.theory.model`)
and the robust SVM (:mod:`tradeoff.theory.svm`).

A module of its own so that the SVM, which the saliency stage's linear classifiers (paper App. E) also
use, does not import the closed forms: editing those re-runs theory jobs only (code hashes follow
imports, see :func:`tradeoff.provenance.code_hash`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["NORMS", "check_norm", "dual_norm"]

NORMS: Final[tuple[str, ...]] = ("linf", "l2")
"""Threat models: the attack norm; the margin of a linear classifier drops by eps * ||w||_dual."""


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def dual_norm(w: ArrayLike, norm: str) -> float:
    """Dual norm of the attack norm: ``||w||_1`` for l_inf, ``||w||_2`` for l_2.

    For ``f(x) = w.x + b`` the worst case over ``||delta|| <= eps`` lowers ``y f(x)`` by exactly
    ``eps * ||w||_dual`` (Hoelder, with equality at ``delta = -eps y sign(w)`` resp.
    ``-eps y w / ||w||_2``).
    """
    check_norm(norm)
    w_arr = np.asarray(w, dtype=np.float64).ravel()
    return float(np.abs(w_arr).sum()) if norm == "linf" else float(np.linalg.norm(w_arr))
