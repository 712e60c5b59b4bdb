"""Paper Section 4 ("unexpected benefits of adversarial robustness") on MNIST, as pure functions.

Everything here takes arrays / models and returns arrays, dataclasses or tidy DataFrames; nothing
reads or writes files (the pipeline does that, :mod:`tradeoff.plots_saliency` draws).

Conventions, stated once:

* **Images** are ``(N, 1, 28, 28)`` (or ``(N, 28, 28)``) floats in [0, 1]; uint8 input is divided
  by 255. Labels are ints in 0..9. Models map such images to logits; every function that runs a
  model puts it in eval mode and restores each submodule's own train/eval flag afterwards
  (:func:`tradeoff.attacks.eval_mode`), and works on the model's device.
* **Loss gradients** (:func:`input_gradients`): ``d CE(f(x_i), y_i) / d x_i`` per image, i.e. the
  gradient of each image's own cross-entropy (the loss the paper's Fig. 2 shows).
* **Alignment scores** (:func:`alignment_scores`), per image, with ``g`` its gradient and ``x`` the
  image, ``M = {x > threshold}`` the *stroke mask* (default ``threshold = 0.5``) and ``M_d`` the mask
  dilated by ``dilation`` pixels with a square structuring element (a pixel joins if some mask
  pixel lies within Chebyshev distance ``dilation``; default 1, i.e. the 8-neighbourhood, so the
  anti-aliased rim of the stroke counts as digit):

  - ``abs_grad_mask_corr``: Pearson correlation over the 784 pixels between ``|g|`` and the 0/1
    mask ``M`` (undilated). In [-1, 1]; 0 when ``|g|`` is unrelated to where the stroke is;
    NaN when ``|g|`` or ``M`` is constant.
  - ``energy_on_mask``: ``sum_{M_d} g^2 / sum g^2``, the share of the gradient's energy on the
    dilated stroke. In [0, 1]; NaN when ``g = 0``.
  - ``mask_area_fraction``: ``|M_d| / 784``, *not* an alignment score but the chance level of
    ``energy_on_mask`` (the value for a gradient whose energy is spread evenly over the image).
  - ``cosine_to_centered_image``: cosine similarity between ``-g`` (the direction that lowers the
    loss, i.e. makes the image "more its own class") and ``x - mean_image`` (``mean_image``: the
    caller's, e.g. the training-set mean; by default the mean of the images passed in). NaN when
    either vector is 0.

* **Large-eps examples** (:func:`large_eps_examples`): targeted l2 PGD
  (:func:`tradeoff.attacks.pgd_with_info` with ``targeted=True, keep_best=True,
  random_start=False``): per (image, target) the iterate classified as the target with the lowest
  target cross-entropy (or, if none is, the lowest-loss iterate). Every returned point lies in the
  l2 ball of radius ``eps`` around its image and in the [0, 1] box.
* **Judge**: a standard model of another architecture (the MLP) trained on the other half of the
  training data (:func:`disjoint_halves`); :func:`judge_agreement` is the share of the large-eps
  examples it labels as their target (the paper's "the examples look like the target class",
  measured instead of eyeballed).
* **Thresholding filters** (:func:`thresholding_filters`): see its docstring for the rule.
* **Linear classifiers on MNIST** (paper App. E, :func:`fit_linear_classifiers`): robust accuracy
  is exact. Under l_inf radius ``eps`` *inside the [0, 1] box* the worst case of a linear
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
from typing import Final

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import binary_dilation
from torch import nn

from tradeoff.attacks import eval_mode, pgd_with_info
from tradeoff.svm import RobustSVC

__all__ = [
    "ALIGNMENT_SCORES",
    "LargeEpsExamples",
    "LinearFits",
    "SCORE_COLUMNS",
    "alignment_scores",
    "alignment_table",
    "as_images",
    "box_worst_case",
    "box_robust_margins",
    "digit_pair",
    "disjoint_halves",
    "filter_table",
    "first_layer_filters",
    "fit_linear_classifiers",
    "fixed_examples",
    "input_gradients",
    "interpolate",
    "judge_agreement",
    "large_eps_examples",
    "linear_accuracy",
    "predict",
    "stroke_mask",
    "thresholding_filters",
]

FloatArray = NDArray[np.float64]
SIDE: Final = 28
N_CLASSES: Final = 10

ALIGNMENT_SCORES: Final[tuple[str, ...]] = (
    "abs_grad_mask_corr",
    "energy_on_mask",
    "cosine_to_centered_image",
)
"""The three alignment scores (see the module docstring); ``mask_area_fraction`` is their baseline."""

SCORE_COLUMNS: Final[tuple[str, ...]] = ("model", "index", "label", "score", "value")
"""Columns of :func:`alignment_table`."""


# ----------------------------------------------------------------------------------------------
# helpers


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


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def predict(model: nn.Module, x: ArrayLike | torch.Tensor, *, batch_size: int = 512) -> NDArray[np.int64]:
    """Arg-max labels of ``model`` on images ``x`` (eval mode, flags restored)."""
    xs = as_images(x)
    dev = _device(model)
    out = np.empty(len(xs), dtype=np.int64)
    with eval_mode(model), torch.no_grad():
        for s in range(0, len(xs), batch_size):
            xb = torch.from_numpy(xs[s : s + batch_size]).to(dev)
            out[s : s + batch_size] = model(xb).argmax(1).cpu().numpy()
    return out


# ----------------------------------------------------------------------------------------------
# 1. examples, 2. gradients


def fixed_examples(y: ArrayLike, per_class: int, seed: int) -> NDArray[np.int64]:
    """Indices of ``per_class`` images of every class 0..9, drawn without replacement by ``seed``.

    Ordered by class, then by draw order (``out.reshape(10, per_class)[c]`` are class ``c``'s);
    the same ``(y, per_class, seed)`` always gives the same set. A class with fewer than
    ``per_class`` images raises ``ValueError``.
    """
    labels = np.asarray(y)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(N_CLASSES):
        idx = np.flatnonzero(labels == c)
        if idx.size < per_class:
            raise ValueError(f"class {c} has {idx.size} images, fewer than per_class={per_class}")
        picks.append(rng.permutation(idx)[:per_class])
    return np.concatenate(picks).astype(np.int64)


def input_gradients(
    model: nn.Module, x: ArrayLike | torch.Tensor, y: ArrayLike, *, batch_size: int = 256
) -> NDArray[np.float32]:
    """Per-image loss gradients ``d CE(f(x_i), y_i) / d x_i``, float32, of the same shape as ``x``.

    Computed in eval mode (flags restored) with :func:`torch.autograd.grad`, so nothing is
    accumulated in the parameters' ``.grad``.
    """
    shape = np.shape(x) if not isinstance(x, torch.Tensor) else tuple(x.shape)
    xs = as_images(x)
    ys = _labels(y, len(xs))
    dev = _device(model)
    out = np.empty_like(xs)
    with eval_mode(model), torch.enable_grad():
        for s in range(0, len(xs), batch_size):
            xb = torch.from_numpy(xs[s : s + batch_size]).to(dev).requires_grad_(True)
            yb = torch.from_numpy(ys[s : s + batch_size]).to(dev)
            loss = F.cross_entropy(model(xb).float(), yb, reduction="sum")
            out[s : s + batch_size] = torch.autograd.grad(loss, xb)[0].cpu().numpy()
    return out.reshape(shape)


# ----------------------------------------------------------------------------------------------
# 3. alignment


def stroke_mask(x: ArrayLike, *, threshold: float = 0.5, dilation: int = 0) -> NDArray[np.bool_]:
    """``(N, 28, 28)`` mask of pixels ``> threshold``, dilated by ``dilation`` pixels (square)."""
    imgs = as_images(x)[:, 0]
    mask = imgs > threshold
    if dilation > 0:
        k = 2 * dilation + 1
        structure = np.zeros((1, k, k), dtype=bool)
        structure[0] = True  # no dilation across images
        mask = binary_dilation(mask, structure=structure)
    elif dilation < 0:
        raise ValueError(f"dilation must be >= 0, got {dilation}")
    return mask


def _pearson(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise Pearson correlation (NaN where a row is constant)."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def alignment_scores(
    grads: ArrayLike,
    x: ArrayLike,
    *,
    threshold: float = 0.5,
    dilation: int = 1,
    mean_image: ArrayLike | None = None,
) -> dict[str, FloatArray]:
    """Per-image scores (module docstring): :data:`ALIGNMENT_SCORES` and ``mask_area_fraction``.

    ``grads`` has the shape of ``x``; returns ``{score: (N,) float64}``.
    """
    imgs = as_images(x).reshape(-1, SIDE * SIDE).astype(np.float64)
    g = np.asarray(grads, dtype=np.float64).reshape(imgs.shape[0], -1)
    if g.shape != imgs.shape:
        raise ValueError(f"grads {np.shape(grads)} do not match images {np.shape(x)}")
    if not np.isfinite(g).all():
        raise ValueError("gradients must be finite")
    mask = stroke_mask(x, threshold=threshold).reshape(len(g), -1)
    mask_d = stroke_mask(x, threshold=threshold, dilation=dilation).reshape(len(g), -1)
    corr = _pearson(np.abs(g), mask.astype(np.float64))
    energy = (g * g).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        on_mask = np.where(energy > 0, (g * g * mask_d).sum(1) / np.where(energy > 0, energy, 1), np.nan)
    if mean_image is None:
        mean = imgs.mean(0, keepdims=True)
    else:
        mean = as_images(np.asarray(mean_image).reshape(1, SIDE, SIDE)).reshape(1, -1).astype(np.float64)
    centred = imgs - mean
    den = np.linalg.norm(g, axis=1) * np.linalg.norm(centred, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(den > 0, (-g * centred).sum(1) / np.where(den > 0, den, 1), np.nan)
    return {
        "abs_grad_mask_corr": corr,
        "energy_on_mask": on_mask,
        "cosine_to_centered_image": cosine,
        "mask_area_fraction": mask_d.mean(1),
    }


def alignment_table(
    model_name: str,
    grads: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    *,
    indices: ArrayLike | None = None,
    threshold: float = 0.5,
    dilation: int = 1,
    mean_image: ArrayLike | None = None,
) -> pd.DataFrame:
    """Tidy per-image scores: columns :data:`SCORE_COLUMNS` (one row per image and score).

    ``index`` is ``indices`` (e.g. the test-set rows from :func:`fixed_examples`) or 0..N-1.
    """
    scores = alignment_scores(grads, x, threshold=threshold, dilation=dilation, mean_image=mean_image)
    n = len(next(iter(scores.values())))
    labels = _labels(y, n)
    idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.shape != (n,):
        raise ValueError(f"indices must have shape ({n},), got {idx.shape}")
    frames = [
        pd.DataFrame({"model": model_name, "index": idx, "label": labels, "score": name, "value": v})
        for name, v in scores.items()
    ]
    return pd.concat(frames, ignore_index=True)[list(SCORE_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# 4. large-eps examples


@dataclass(frozen=True)
class LargeEpsExamples:
    """Targeted large-eps examples, one row per (image, target) pair, image-major.

    ``source`` (M,) row of the attacked ``x``; ``label`` (M,) its true class; ``target`` (M,);
    ``x_adv`` (M, 1, 28, 28) float32; ``success`` (M,) the attacked model predicts ``target`` at
    ``x_adv``; ``distance`` (M,) ``||x_adv - x||_2``; ``eps`` the radius.
    """

    source: NDArray[np.int64]
    label: NDArray[np.int64]
    target: NDArray[np.int64]
    x_adv: NDArray[np.float32]
    success: NDArray[np.bool_]
    distance: FloatArray
    eps: float

    def table(self) -> pd.DataFrame:
        """Tidy view without the images: source, label, target, success, distance."""
        return pd.DataFrame(
            {"source": self.source, "label": self.label, "target": self.target,
             "success": self.success, "distance": self.distance}
        )  # fmt: skip


def _pairs(labels: NDArray[np.int64], targets: str | ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = len(labels)
    if isinstance(targets, str):
        if targets == "all-other":
            src = np.repeat(np.arange(n), N_CLASSES - 1)
            tgt = np.array([t for c in labels for t in range(N_CLASSES) if t != c], dtype=np.int64)
            return src, tgt.reshape(-1)
        if targets == "next":
            return np.arange(n), (labels + 1) % N_CLASSES
        raise ValueError(f"targets must be 'all-other', 'next' or an array of labels, got {targets!r}")
    tgt = _labels(targets, n, "targets")
    if np.any(tgt == labels):
        raise ValueError("a target equals its image's label")
    return np.arange(n), tgt


def large_eps_examples(
    model: nn.Module,
    x: ArrayLike | torch.Tensor,
    y: ArrayLike,
    *,
    eps: float = 4.0,
    steps: int = 100,
    alpha: float | None = None,
    targets: str | ArrayLike = "all-other",
    batch_size: int = 512,
) -> LargeEpsExamples:
    """Targeted l2 PGD examples of radius ``eps`` (paper Figs. 3-4; MNIST: eps = 4).

    ``targets``: ``"all-other"`` (each image against each of the 9 other classes, ascending),
    ``"next"`` (class ``(y + 1) mod 10``) or an array with one target per image. ``alpha``
    defaults to ``2.5 * eps / steps`` (Madry et al.'s rule). No random start, keep-best (module
    docstring); deterministic for a given model.
    """
    xs = as_images(x)
    labels = _labels(y, len(xs))
    src, tgt = _pairs(labels, targets)
    step = 2.5 * eps / max(steps, 1) if alpha is None else alpha
    dev = _device(model)
    x_adv = np.empty((len(src), 1, SIDE, SIDE), dtype=np.float32)
    success = np.empty(len(src), dtype=bool)
    for s in range(0, len(src), batch_size):
        xb = torch.from_numpy(xs[src[s : s + batch_size]]).to(dev)
        tb = torch.from_numpy(tgt[s : s + batch_size]).to(dev)
        res = pgd_with_info(model, xb, tb, norm="l2", eps=eps, alpha=step, steps=steps,
                            random_start=False, restarts=1, keep_best=True, targeted=True)  # fmt: skip
        x_adv[s : s + batch_size] = res.x_adv.detach().cpu().numpy()
        success[s : s + batch_size] = res.success.cpu().numpy()
    dist = np.linalg.norm((x_adv.astype(np.float64) - xs[src]).reshape(len(src), -1), axis=1)
    return LargeEpsExamples(src, labels[src], tgt, x_adv, success, dist, float(eps))


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


# ----------------------------------------------------------------------------------------------
# 5. judge


def disjoint_halves(y: ArrayLike, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Split the indices of ``y`` into two disjoint halves, stratified by class, seeded.

    Class ``c``'s indices are permuted by ``seed``; the first ``n_c // 2`` go to the first half,
    the rest to the second (so the second is up to 10 larger). Both are sorted; together they are
    all of ``0..len(y)-1``. Use one half to train the models, the other for the judge.
    """
    labels = np.asarray(y)
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        first.append(idx[: idx.size // 2])
        second.append(idx[idx.size // 2 :])
    return np.sort(np.concatenate(first)).astype(np.int64), np.sort(np.concatenate(second)).astype(np.int64)


def judge_agreement(
    judge: nn.Module, x_adv: ArrayLike | torch.Tensor, targets: ArrayLike, *, batch_size: int = 512
) -> float:
    """Share of ``x_adv`` that ``judge`` classifies as their ``targets`` (NaN if empty)."""
    pred = predict(judge, x_adv, batch_size=batch_size)
    tgt = _labels(targets, len(pred), "targets")
    return float(np.mean(pred == tgt)) if len(pred) else float("nan")


# ----------------------------------------------------------------------------------------------
# 6. first-layer filters


def first_layer_filters(model: nn.Module) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Weights ``(C_out, C_in, k, k)`` and biases ``(C_out,)`` of the model's first ``Conv2d``.

    Raises ``ValueError`` for a model without one (e.g. the MLP). A conv without bias gets zeros.
    """
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer")
    w = conv.weight.detach().cpu().float().numpy().copy()
    b = (conv.bias.detach().cpu().float().numpy().copy() if conv.bias is not None
         else np.zeros(w.shape[0], dtype=np.float32))  # fmt: skip
    return w, b


def filter_table(
    weights: ArrayLike, biases: ArrayLike, *, dominance: float = 0.5, min_threshold: float = 0.3
) -> pd.DataFrame:
    """Per-filter quantities of the thresholding rule (:func:`thresholding_filters`).

    Columns: ``filter``, ``w_max`` (the weight of largest magnitude, signed), ``dominance``
    (``|w_max| / ||w||_1``), ``bias``, ``threshold`` (``-bias / w_max`` when ``w_max > 0``, else
    NaN: the pixel intensity the dominant weight must exceed for the unit to fire) and
    ``thresholding`` (bool).
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
    with np.errstate(invalid="ignore", divide="ignore"):
        dom = np.where(l1 > 0, np.abs(w_max) / np.where(l1 > 0, l1, 1), 0.0)
        thr = np.where(w_max > 0, -b / np.where(w_max > 0, w_max, 1), np.nan)
    is_thr = (w_max > 0) & (dom >= dominance) & (b <= -min_threshold * w_max)
    return pd.DataFrame({"filter": np.arange(len(flat)), "w_max": w_max, "dominance": dom,
                         "bias": b, "threshold": thr, "thresholding": is_thr})  # fmt: skip


def thresholding_filters(
    weights: ArrayLike, biases: ArrayLike, *, dominance: float = 0.5, min_threshold: float = 0.3
) -> NDArray[np.bool_]:
    """Which filters act as thresholding filters ``ReLU(a x_j - c)`` (Madry et al. 2018).

    Rule, per filter with weights ``w`` (all input channels and taps) and bias ``b``; ``w_max`` is
    its weight of largest magnitude:

    1. *one dominant weight*: ``|w_max| >= dominance * ||w||_1`` (default: at least half of the
       filter's l1 mass on one tap), and it is positive (the unit responds to ink, not to its
       absence);
    2. *a cut-off*: ``b <= -min_threshold * w_max``, i.e. the unit stays silent until the
       dominant pixel exceeds ``min_threshold`` (default 0.3 = the l_inf training eps, so faint
       perturbations of a blank pixel cannot switch it on).

    A filter with only non-positive weights is never thresholding. Returns a bool ``(C_out,)``.
    """
    table = filter_table(weights, biases, dominance=dominance, min_threshold=min_threshold)
    return table["thresholding"].to_numpy(dtype=bool)


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


@dataclass(frozen=True)
class LinearFits:
    """Linear classifiers fitted per training eps (index ``k`` = ``eps_train[k]``).

    ``weights`` (K, 28, 28); ``intercepts`` (K,); ``eps_train`` (K,) (0 = standard SVM);
    ``accuracy``: tidy, one row per (eps_train, eps_test) with columns ``classifier``
    ("standard" / "robust"), ``eps_train``, ``eps_test``, ``accuracy`` (exact, box-aware),
    ``accuracy_no_box``, ``weight_l1``, ``n_nonzero`` (weights with ``|w_j| > 1e-8 max|w|``),
    ``converged``.
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
) -> LinearFits:
    """Fit :class:`tradeoff.svm.RobustSVC` (l_inf threat by default) for each training eps.

    ``eps_train`` gets 0 (the standard soft-margin SVM) prepended if absent; ``X``/``y`` as from
    :func:`digit_pair`. Accuracies on the test pair are exact l_inf accuracies (box-aware and
    not) for every ``eps_test`` (0 included automatically: standard accuracy).
    """
    eps_list = sorted({0.0, *map(float, eps_train)})
    tests = sorted({0.0, *map(float, eps_test)})
    Xtr = np.asarray(X_train, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    weights, intercepts, rows = [], [], []
    for e in eps_list:
        svm = RobustSVC(C=C, eps=e, norm=norm, tol=tol, max_iter=max_iter).fit(Xtr, ytr)  # type: ignore[arg-type]
        # classes_ are sorted: [-1, +1], so decision > 0 means +1
        w = svm.coef_.ravel().copy()
        b = float(svm.intercept_[0])
        weights.append(w.reshape(SIDE, SIDE) if w.size == SIDE * SIDE else w)
        intercepts.append(b)
        nnz = int(np.sum(np.abs(w) > 1e-8 * max(float(np.abs(w).max(initial=0.0)), 1e-300)))
        for t in tests:
            rows.append({
                "classifier": "standard" if e == 0 else "robust", "eps_train": e, "eps_test": t,
                "accuracy": linear_accuracy(w, b, X_test, y_test, t, box=True),
                "accuracy_no_box": linear_accuracy(w, b, X_test, y_test, t, box=False),
                "weight_l1": float(np.abs(w).sum()), "n_nonzero": nnz,
                "converged": bool(svm.converged_),
            })  # fmt: skip
    return LinearFits(np.asarray(weights), np.asarray(intercepts), np.asarray(eps_list),
                      pd.DataFrame(rows))  # fmt: skip
