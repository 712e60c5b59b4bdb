"""MNIST images and labels as the Section 4 code takes them: one place that checks and converts."""

from __future__ import annotations

from typing import Final

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

__all__ = ["N_CLASSES", "SIDE", "as_images"]

SIDE: Final = 28
N_CLASSES: Final = 10


def as_images(x: ArrayLike | torch.Tensor) -> NDArray[np.float32]:
    """``(N, 28, 28)`` / ``(N, 1, 28, 28)``, uint8 or float in [0, 1] -> float32 ``(N, 1, 28, 28)``."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1:] != (1, SIDE, SIDE):
        raise ValueError(f"images must be (N, 28, 28) or (N, 1, 28, 28), got {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"images must be uint8 or floating point, got {a.dtype}")
    if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
        raise ValueError("float images must be finite and lie in [0, 1]")
    return a.astype(np.float32, copy=False)


def _labels(y: ArrayLike, n: int, what: str = "y") -> NDArray[np.int64]:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integer labels of shape ({n},), got {arr.dtype} {arr.shape}")
    if n and (arr.min() < 0 or arr.max() >= N_CLASSES):
        raise ValueError(f"{what} labels must lie in 0..{N_CLASSES - 1}")
    return arr.astype(np.int64)
