"""Images and labels as the Section 4 code takes them: one place that checks and converts.

The shape and class count come from an :class:`tradeoff.datasets.spec.ImageSpec` (default MNIST;
``SIDE`` and ``N_CLASSES`` are MNIST's, for the MNIST-specific saliency analysis)."""

from __future__ import annotations

from typing import Final

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from tradeoff.datasets.spec import MNIST, ImageSpec

__all__ = ["N_CLASSES", "SIDE", "as_images"]

SIDE: Final = MNIST.height
N_CLASSES: Final = MNIST.n_classes


def as_images(x: ArrayLike | torch.Tensor, spec: ImageSpec = MNIST) -> NDArray[np.float32]:
    """``(N, H, W)`` (one channel) / ``(N, C, H, W)``, uint8 or float in [0, 1] -> float32
    ``(N, C, H, W)``, the shape ``spec``'s (MNIST: 1 x 28 x 28)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim == 3 and spec.channels == 1:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1:] != spec.shape:
        c, h, w = spec.shape
        one = f"(N, {h}, {w}) or " if c == 1 else ""
        raise ValueError(f"images must be {one}(N, {c}, {h}, {w}), got {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"images must be uint8 or floating point, got {a.dtype}")
    if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
        raise ValueError("float images must be finite and lie in [0, 1]")
    return a.astype(np.float32, copy=False)


def _labels(y: ArrayLike, n: int, what: str = "y", spec: ImageSpec = MNIST) -> NDArray[np.int64]:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integer labels of shape ({n},), got {arr.dtype} {arr.shape}")
    if n and (arr.min() < 0 or arr.max() >= spec.n_classes):
        raise ValueError(f"{what} labels must lie in 0..{spec.n_classes - 1}")
    return arr.astype(np.int64)
