"""Linear classifiers on an MNIST digit pair (paper App. E), with exact robust accuracy.

Robust accuracy is exact. Under l_inf radius ``eps`` *inside the [0, 1] box* the worst case of a linear
classifier moves every pixel ``j`` by ``min(eps, room_j)`` in the direction ``-y sign(w_j)``
(``room_j = 1 - x_j`` upwards, ``x_j`` downwards): the problem separates over pixels and each
pixel's term is linear on an interval, so its minimum sits at that end. The margin
``y (w.x + b)`` drops by ``sum_j |w_j| min(eps, room_j)``; an example counts as correct iff the
remaining margin is > 0 (ties are errors). ``accuracy_no_box`` is the same without the box
(drop ``eps ||w||_1``, the bound the robust SVM trains against), a lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tradeoff.datasets.images import SIDE, _labels, as_images
from tradeoff.theory.svm import RobustSVC

__all__ = ["LinearFits", "box_robust_margins", "box_worst_case", "digit_pair", "fit_linear_classifiers",
           "linear_accuracy", "pixel_label_correlation", "weak_weight_share"]

FloatArray = NDArray[np.float64]


# ----------------------------------------------------------------------------------------------
# 7. linear classifiers on MNIST (paper App. E)


def digit_pair(
    x: ArrayLike, y: ArrayLike, a: int = 3, b: int = 7
) -> tuple[FloatArray, FloatArray]:
    """The images of digits ``a`` and ``b``: flattened ``X`` (n, 784) float64 in [0, 1] and
    ``s`` (n,) in {-1, +1} with **+1 for ``a``** and -1 for ``b``, in the original order."""
    if a == b:
        raise ValueError("a and b must differ")
    imgs = as_images(x)
    labels = _labels(y, len(imgs))
    keep = (labels == a) | (labels == b)
    X = imgs[keep].reshape(int(keep.sum()), -1).astype(np.float64)
    return X, np.where(labels[keep] == a, 1.0, -1.0)


def _check_linear(w: ArrayLike, X: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    wv = np.asarray(w, dtype=np.float64).ravel()
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if Xa.ndim != 2 or Xa.shape[1] != wv.size or ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"shapes do not fit: w {wv.shape}, X {Xa.shape}, y {ya.shape}")
    if not np.all(np.abs(ya) == 1):
        raise ValueError("labels must be in {-1, +1}")
    if Xa.size and (Xa.min() < 0 or Xa.max() > 1):
        raise ValueError("X must lie in the [0, 1] box")
    return wv, Xa, ya


def box_worst_case(w: ArrayLike, b: float, X: ArrayLike, y: ArrayLike, eps: float) -> FloatArray:
    """The exact worst case of ``sign(w.x + b)`` in ``{||x' - x||_inf <= eps} ∩ [0, 1]^d``.

    Pixel ``j`` moves by ``min(eps, room_j)`` in the direction ``-y sign(w_j)`` (pixels with
    ``w_j = 0`` stay); equivalently ``clip(x - eps y sign(w), 0, 1)``. ``b`` is unused (kept for a
    uniform signature).
    """
    wv, Xa, ya = _check_linear(w, X, y)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    direction = -ya[:, None] * np.sign(wv)[None, :]
    room = np.where(direction > 0, 1.0 - Xa, Xa)
    return Xa + direction * np.minimum(eps, room)


def box_robust_margins(
    w: ArrayLike, b: float, X: ArrayLike, y: ArrayLike, eps: float, *, box: bool = True
) -> FloatArray:
    """Worst-case margins ``min y (w.x' + b)`` over the l_inf ball (inside [0, 1] if ``box``).

    ``box=True``: ``y (w.x + b) - sum_j |w_j| min(eps, room_j)`` (module docstring);
    ``box=False``: ``y (w.x + b) - eps ||w||_1``.
    """
    wv, Xa, ya = _check_linear(w, X, y)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    margin = ya * (Xa @ wv + float(b))
    if not box:
        return margin - eps * float(np.abs(wv).sum())
    down = -ya[:, None] * np.sign(wv)[None, :] < 0  # the worst case lowers pixel j
    room = np.where(down, Xa, 1.0 - Xa)
    return margin - (np.abs(wv)[None, :] * np.minimum(eps, room)).sum(1)


def linear_accuracy(
    w: ArrayLike, b: float, X: ArrayLike, y: ArrayLike, eps: float = 0.0, *, box: bool = True
) -> float:
    """Exact l_inf robust accuracy (standard accuracy at ``eps = 0``): share of margins > 0."""
    return float(np.mean(box_robust_margins(w, b, X, y, eps, box=box) > 0))


def pixel_label_correlation(X: ArrayLike, y: ArrayLike) -> FloatArray:
    """Pearson correlation of each pixel (column of ``X``) with the labels ``y``; 0 for a constant
    pixel (it carries no information about the label)."""
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if Xa.ndim != 2 or len(ya) != len(Xa):
        raise ValueError(f"shapes do not fit: X {Xa.shape}, y {ya.shape}")
    xc, yc = Xa - Xa.mean(0), ya - ya.mean()
    den = np.sqrt((xc * xc).sum(0) * (yc * yc).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc[:, None]).sum(0) / np.where(den > 0, den, 1.0), 0.0)


def weak_weight_share(w: ArrayLike, corr: ArrayLike, weak_corr: float) -> float:
    """Share of ``||w||_1`` on the *weakly correlated* pixels, ``|corr_j| < weak_corr`` (paper App. E:
    the standard classifier spreads weight over them, the robust one does not). NaN when ``w = 0``."""
    wv = np.abs(np.asarray(w, dtype=np.float64)).ravel()
    c = np.asarray(corr, dtype=np.float64).ravel()
    if wv.shape != c.shape:
        raise ValueError(f"w {wv.shape} and corr {c.shape} differ")
    if not 0 < weak_corr <= 1:
        raise ValueError(f"config key saliency.linear.weak_corr: must be in (0, 1], got {weak_corr}")
    total = wv.sum()
    return float(wv[np.abs(c) < weak_corr].sum() / total) if total > 0 else float("nan")


@dataclass(frozen=True)
class LinearFits:
    """Linear classifiers fitted per training eps (index ``k`` = ``eps_train[k]``).

    ``weights`` (K, 28, 28); ``intercepts`` (K,); ``eps_train`` (K,) (0 = standard SVM);
    ``accuracy``: tidy, one row per (eps_train, eps_test) with columns ``classifier``
    ("standard" / "robust"), ``eps_train``, ``eps_test``, ``accuracy`` (exact, box-aware),
    ``accuracy_no_box``, ``weight_l1``, ``n_nonzero`` (weights with ``|w_j| > 1e-8 max|w|``),
    ``weak_corr`` and ``weak_weight_share`` (:func:`weak_weight_share` with the training pair's
    :func:`pixel_label_correlation`), ``converged``.
    """

    weights: FloatArray
    intercepts: FloatArray
    eps_train: FloatArray
    accuracy: pd.DataFrame


def fit_linear_classifiers(
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    eps_train: Sequence[float],
    eps_test: Sequence[float],
    *,
    C: float = 0.1,
    norm: str = "linf",
    tol: float = 1e-4,
    max_iter: int = 5000,
    weak_corr: float = 0.1,
) -> LinearFits:
    """Fit :class:`tradeoff.theory.svm.RobustSVC` (l_inf threat by default) for each training eps.

    ``eps_train`` gets 0 (the standard soft-margin SVM) prepended if absent; ``X``/``y`` as from
    :func:`digit_pair`. Accuracies on the test pair are exact l_inf accuracies (box-aware and
    not) for every ``eps_test`` (0 included automatically: standard accuracy).
    """
    eps_list = sorted({0.0, *map(float, eps_train)})
    tests = sorted({0.0, *map(float, eps_test)})
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    corr = pixel_label_correlation(Xtr, ytr)
    weights, intercepts, rows = [], [], []
    for e in eps_list:
        svm = RobustSVC(C=C, eps=e, norm=norm, tol=tol, max_iter=max_iter).fit(Xtr, ytr)  # type: ignore[arg-type]
        # classes_ are sorted: [-1, +1], so decision > 0 means +1
        w = svm.coef_.ravel().copy()
        b = float(svm.intercept_[0])
        weights.append(w.reshape(SIDE, SIDE) if w.size == SIDE * SIDE else w)
        intercepts.append(b)
        nnz = int(np.sum(np.abs(w) > 1e-8 * max(float(np.abs(w).max(initial=0.0)), 1e-300)))
        weak = weak_weight_share(w, corr, weak_corr)
        for t in tests:
            rows.append({
                "classifier": "standard" if e == 0 else "robust", "eps_train": e, "eps_test": t,
                "accuracy": linear_accuracy(w, b, X_test, y_test, t, box=True),
                "accuracy_no_box": linear_accuracy(w, b, X_test, y_test, t, box=False),
                "weight_l1": float(np.abs(w).sum()), "n_nonzero": nnz, "weak_corr": float(weak_corr),
                "weak_weight_share": weak,
                "converged": bool(svm.converged_),
            })  # fmt: skip
    return LinearFits(np.asarray(weights), np.asarray(intercepts), np.asarray(eps_list),
                      pd.DataFrame(rows))  # fmt: skip
