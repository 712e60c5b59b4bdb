"""The numpy-only part of Section 4: the alignment scores' names, the thresholding-filter rule and the
straight path from an image to its large-eps example (figures use these without torch).

Re-exported by :mod:`tradeoff.saliency.analysis`, whose docstring states the conventions.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = ["ALIGNMENT_SCORES", "filter_table", "interpolate", "thresholding_filters"]

ALIGNMENT_SCORES: Final[tuple[str, ...]] = (
    "abs_grad_mask_corr",
    "energy_on_mask",
    "cosine_to_centered_image",
)
"""The three alignment scores (see the module docstring); ``mask_area_fraction`` is their baseline."""


def interpolate(x: ArrayLike, x_adv: ArrayLike, n_steps: int) -> NDArray[np.float32]:
    """``n_steps`` evenly spaced points from ``x`` to ``x_adv``, both included.

    Returns shape ``(n_steps, *x.shape)`` with ``out[k] = x + t_k (x_adv - x)``,
    ``t_k = k / (n_steps - 1)``; convex combinations, so they stay in the ball and the box.
    """
    a = np.asarray(x, dtype=np.float32)
    b = np.asarray(x_adv, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"x {a.shape} and x_adv {b.shape} differ in shape")
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    t = np.linspace(0.0, 1.0, n_steps, dtype=np.float32).reshape(-1, *([1] * a.ndim))
    out = a[None] + t * (b - a)[None]
    out[-1] = b  # exact end point
    # rounding guard: every coordinate stays between its two end points
    return np.clip(out, np.minimum(a, b)[None], np.maximum(a, b)[None])


def filter_table(
    weights: ArrayLike, biases: ArrayLike, *, dominance: float = 0.5, min_threshold: float = 0.3
) -> pd.DataFrame:
    """Per-filter quantities of the thresholding rule (:func:`thresholding_filters`).

    Columns: ``filter``, ``w_max`` (the weight of largest magnitude, signed), ``dominance``
    (``|w_max| / ||w||_1``), ``bias``, ``threshold`` (``-bias / w_max``, NaN when ``w_max = 0``: the
    intensity of the dominant pixel at which the unit switches, on above it when ``w_max > 0``,
    off above it when ``w_max < 0``), ``inverted`` (``w_max < 0``: the ``ReLU(b - a x)``
    orientation) and ``thresholding`` (bool, either orientation).
    """
    w = np.asarray(weights, dtype=np.float64)
    b = np.asarray(biases, dtype=np.float64).ravel()
    if w.ndim < 2 or w.shape[0] != b.shape[0]:
        raise ValueError(f"weights (C_out, ...) {w.shape} and biases (C_out,) {b.shape} do not match")
    if not 0 < dominance <= 1 or min_threshold < 0:
        raise ValueError(f"need 0 < dominance <= 1 and min_threshold >= 0, got {dominance}, {min_threshold}")
    flat = w.reshape(w.shape[0], -1)
    j = np.abs(flat).argmax(1)
    w_max = flat[np.arange(len(flat)), j]
    l1 = np.abs(flat).sum(1)
    nonzero = w_max != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        dom = np.where(l1 > 0, np.abs(w_max) / np.where(l1 > 0, l1, 1), 0.0)
        thr = np.where(nonzero, -b / np.where(nonzero, w_max, 1), np.nan)
    # the cut-off in either orientation: b <= -min_threshold w_max (w_max > 0), b >= min_threshold |w_max| (< 0)
    cut = np.where(w_max > 0, b <= -min_threshold * w_max, b >= min_threshold * np.abs(w_max))
    is_thr = nonzero & (dom >= dominance) & cut
    return pd.DataFrame({"filter": np.arange(len(flat)), "w_max": w_max, "dominance": dom, "bias": b,
                         "threshold": thr, "inverted": w_max < 0, "thresholding": is_thr})  # fmt: skip


def thresholding_filters(
    weights: ArrayLike, biases: ArrayLike, *, dominance: float = 0.5, min_threshold: float = 0.3
) -> NDArray[np.bool_]:
    """Which filters act as thresholding filters (Madry et al. 2018), in either orientation.

    Rule, per filter with weights ``w`` (all input channels and taps) and bias ``b``; ``w_max`` is
    its weight of largest magnitude, ``a = |w_max|``:

    1. *one dominant weight*: ``a >= dominance * ||w||_1`` (default: at least half of the
       filter's l1 mass on one tap);
    2. *a cut-off at least ``min_threshold`` into the pixel range*:

       - ``w_max > 0``, the unit ``ReLU(a x_j - c)``: ``b = -c <= -min_threshold * a``, silent until
         the dominant pixel exceeds ``c / a >= min_threshold`` (default 0.3 = the l_inf training
         eps, so faint perturbations of a blank pixel cannot switch it on);
       - ``w_max < 0``, the inverted unit ``ReLU(b - a x_j)``: ``b >= min_threshold * a``, on for
         blank pixels and silent once the dominant pixel exceeds ``b / a >= min_threshold`` (the
         same cut-off, read the other way: faint perturbations cannot switch it off).

    An all-zero filter is never thresholding. Returns a bool ``(C_out,)``.
    """
    table = filter_table(weights, biases, dominance=dominance, min_threshold=min_threshold)
    return table["thresholding"].to_numpy(dtype=bool)
