"""Paper Section 4 ("unexpected benefits of adversarial robustness") on MNIST, as pure functions.

Everything here takes arrays / models and returns arrays, dataclasses or tidy DataFrames; nothing
reads or writes files (the pipeline does that, :mod:`tradeoff.plots.saliency` draws).

Conventions, stated once:

* **Images** are ``(N, 1, 28, 28)`` (or ``(N, 28, 28)``) floats in [0, 1]; uint8 input is divided
  by 255. Labels are ints in 0..9. Models map such images to logits; every function that runs a
  model puts it in eval mode and restores each submodule's own train/eval flag afterwards
  (:func:`tradeoff.adversarial.attacks.eval_mode`), and works on the model's device.
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
    either vector is 0. The only *sign-aware* score: the first two are maximised by any gradient
    confined to the stroke, whatever its arrangement or sign.
  - ``<score>_null``: each score of the gradient with its values permuted among the pixels of
    ``M`` (:func:`permute_within_mask`, seeded): noise confined to the stroke. The first two
    scores equal their nulls by construction; the cosine's null is its chance level.

* **Large-eps examples** (:func:`large_eps_examples`): l2 PGD
  (:func:`tradeoff.adversarial.attacks.pgd_with_info`, ``keep_best=True``) in one of the
  :data:`LARGE_EPS_VARIANTS`. *Targeted* (the project's primary instrument): per (image, target)
  the iterate classified as the target with the lowest target cross-entropy (or, if none is, the
  lowest-loss iterate). *Untargeted* (what the paper's Section 4 describes: "the image of highest
  loss" around the test image): per image the iterate that is misclassified with the highest
  cross-entropy of the true label (or the highest-loss iterate); its ``target`` is the class the
  attacked model assigns to it. Each starts at the image or, ``random_start``, at a seeded uniform
  point of the ball. Every returned point lies in the l2 ball of radius ``eps`` around its image
  and in the [0, 1] box.
* **Judges**: models that label the large-eps examples, trained on training images the studied
  models never saw (the pipeline: :mod:`tradeoff.stages.saliency`; a panel of a standard CNN, an
  l2-robust model and a pixel-space judge, :mod:`tradeoff.saliency.panel`);
  :func:`judge_agreement` is the share of the examples a judge labels as their target (the paper's
  "the examples look like the target class", measured instead of eyeballed).
* **Thresholding filters** (:func:`thresholding_filters`): see its docstring for the rule.
* **Linear classifiers on MNIST** (paper App. E): in :mod:`tradeoff.saliency.linear`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import binary_dilation
from torch import nn

from tradeoff.adversarial.attacks import eval_mode, pgd_with_info
from tradeoff.datasets.images import N_CLASSES, SIDE, _labels, as_images
from tradeoff.saliency.rules import (
    ALIGNMENT_SCORES,
    filter_table,
    interpolate,
    thresholding_filters,
)

__all__ = [
    "ALIGNMENT_SCORES",
    "LARGE_EPS_VARIANTS",
    "LargeEpsExamples",
    "SCORE_COLUMNS",
    "alignment_scores",
    "alignment_table",
    "as_images",
    "disjoint_halves",
    "filter_table",
    "first_layer_filters",
    "fixed_examples",
    "input_gradients",
    "interpolate",
    "judge_agreement",
    "large_eps_examples",
    "large_eps_variant",
    "permute_within_mask",
    "predict",
    "stroke_mask",
    "thresholding_filters",
]

FloatArray = NDArray[np.float64]

SCORE_COLUMNS: Final[tuple[str, ...]] = ("model", "index", "label", "score", "value")
"""Columns of :func:`alignment_table`."""


# ----------------------------------------------------------------------------------------------
# helpers


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


def permute_within_mask(grads: ArrayLike, mask: ArrayLike, seed: int) -> FloatArray:
    """``grads`` ``(N, ...)`` with each image's values permuted among its ``mask`` pixels (seeded).

    Pixels outside the mask keep their values; so does every statistic of ``|g|`` or ``g^2`` summed
    over the mask. It is the null of the alignment scores: a gradient that puts the same values on
    the stroke, in no particular arrangement (noise confined to the stroke).
    """
    g = np.array(grads, dtype=np.float64).reshape(np.shape(grads)[0], -1)
    m = np.asarray(mask, dtype=bool).reshape(g.shape)
    rng = np.random.default_rng(seed)
    for i in range(len(g)):
        on = np.flatnonzero(m[i])
        g[i, on] = g[i, rng.permutation(on)]
    return g


def _scores(g: FloatArray, imgs: FloatArray, mask: NDArray[np.bool_], mask_d: NDArray[np.bool_],
            mean: FloatArray) -> dict[str, FloatArray]:
    corr = _pearson(np.abs(g), mask.astype(np.float64))
    energy = (g * g).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        on_mask = np.where(energy > 0, (g * g * mask_d).sum(1) / np.where(energy > 0, energy, 1), np.nan)
    centred = imgs - mean
    den = np.linalg.norm(g, axis=1) * np.linalg.norm(centred, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(den > 0, (-g * centred).sum(1) / np.where(den > 0, den, 1), np.nan)
    return {"abs_grad_mask_corr": corr, "energy_on_mask": on_mask, "cosine_to_centered_image": cosine}


def alignment_scores(
    grads: ArrayLike,
    x: ArrayLike,
    *,
    threshold: float = 0.5,
    dilation: int = 1,
    mean_image: ArrayLike | None = None,
    null_seed: int = 0,
) -> dict[str, FloatArray]:
    """Per-image scores (module docstring): :data:`ALIGNMENT_SCORES`, each also as ``<score>_null``
    (the score of the gradient permuted within the stroke mask ``M`` by ``null_seed``:
    :func:`permute_within_mask`), and ``mask_area_fraction``.

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
    if mean_image is None:
        mean = imgs.mean(0, keepdims=True)
    else:
        mean = as_images(np.asarray(mean_image).reshape(1, SIDE, SIDE)).reshape(1, -1).astype(np.float64)
    out = _scores(g, imgs, mask, mask_d, mean)
    null = _scores(permute_within_mask(g, mask, null_seed), imgs, mask, mask_d, mean)
    return {**out, **{f"{k}_null": v for k, v in null.items()}, "mask_area_fraction": mask_d.mean(1)}


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
    null_seed: int = 0,
) -> pd.DataFrame:
    """Tidy per-image scores: columns :data:`SCORE_COLUMNS` (one row per image and score).

    ``index`` is ``indices`` (e.g. the test-set rows from :func:`fixed_examples`) or 0..N-1.
    """
    scores = alignment_scores(grads, x, threshold=threshold, dilation=dilation, mean_image=mean_image,
                              null_seed=null_seed)
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
    ``x_adv``; ``distance`` (M,) ``||x_adv - x||_2``; ``eps`` the radius; ``targeted`` and
    ``random_start`` how they were made. Untargeted: one row per image, ``target`` the class the
    attacked model assigns to ``x_adv`` (its label where the attack failed) and ``success`` that
    class differs from ``label``.
    """

    source: NDArray[np.int64]
    label: NDArray[np.int64]
    target: NDArray[np.int64]
    x_adv: NDArray[np.float32]
    success: NDArray[np.bool_]
    distance: FloatArray
    eps: float
    targeted: bool = True
    random_start: bool = False

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


LARGE_EPS_VARIANTS: Final[dict[str, tuple[bool, bool]]] = {
    "targeted": (True, False),
    "targeted_random_start": (True, True),
    "untargeted": (False, False),
    "untargeted_random_start": (False, True),
}
"""Variant name -> ``(targeted, random_start)``. ``targeted`` (from the image) is the primary
instrument of ``large_eps_look_like_target``; ``untargeted`` is the paper's own procedure (docs/CLAIMS.md)."""


def large_eps_variant(name: str) -> tuple[bool, bool]:
    """``(targeted, random_start)`` of a variant of :data:`LARGE_EPS_VARIANTS` (``ValueError`` otherwise)."""
    if name not in LARGE_EPS_VARIANTS:
        raise ValueError(f"unknown large-eps variant {name!r}; valid: {', '.join(LARGE_EPS_VARIANTS)}")
    return LARGE_EPS_VARIANTS[name]


def large_eps_examples(
    model: nn.Module,
    x: ArrayLike | torch.Tensor,
    y: ArrayLike,
    *,
    eps: float = 4.0,
    steps: int = 100,
    alpha: float | None = None,
    targets: str | ArrayLike = "all-other",
    targeted: bool = True,
    random_start: bool = False,
    seed: int = 0,
    batch_size: int = 512,
) -> LargeEpsExamples:
    """l2 PGD examples of radius ``eps`` (paper Figs. 3-4; MNIST: eps = 4), keep-best.

    ``targeted`` (default): ``targets`` is ``"all-other"`` (each image against each of the 9 other
    classes, ascending), ``"next"`` (class ``(y + 1) mod 10``) or an array with one target per
    image. ``targeted=False``: one example per image, ascending the true label's loss (``targets``
    is ignored; see :class:`LargeEpsExamples` for its ``target``). ``random_start``: every PGD run
    starts at a uniform point of the l2 ball (clipped to the box) drawn by a generator seeded with
    ``seed`` (one generator over the batches, so the draw depends on ``batch_size``); otherwise at
    the image. ``alpha`` defaults to ``2.5 * eps / steps`` (Madry et al.'s rule). Deterministic for
    a given model and seed.
    """
    xs = as_images(x)
    labels = _labels(y, len(xs))
    if targeted:
        src, tgt = _pairs(labels, targets)
    else:
        src, tgt = np.arange(len(xs)), labels.copy()
    step = 2.5 * eps / max(steps, 1) if alpha is None else alpha
    dev = _device(model)
    gen = torch.Generator(device=dev).manual_seed(int(seed)) if random_start else None
    x_adv = np.empty((len(src), 1, SIDE, SIDE), dtype=np.float32)
    success = np.empty(len(src), dtype=bool)
    for s in range(0, len(src), batch_size):
        xb = torch.from_numpy(xs[src[s : s + batch_size]]).to(dev)
        tb = torch.from_numpy(tgt[s : s + batch_size]).to(dev)
        res = pgd_with_info(model, xb, tb, norm="l2", eps=eps, alpha=step, steps=steps,
                            random_start=random_start, restarts=1, keep_best=True, targeted=targeted,
                            generator=gen)  # fmt: skip
        x_adv[s : s + batch_size] = res.x_adv.detach().cpu().numpy()
        success[s : s + batch_size] = res.success.cpu().numpy()
    if not targeted:  # the class reached: what the example is claimed to look like
        tgt = predict(model, x_adv, batch_size=batch_size)
        success = tgt != labels[src]
    dist = np.linalg.norm((x_adv.astype(np.float64) - xs[src]).reshape(len(src), -1), axis=1)
    return LargeEpsExamples(src, labels[src], tgt, x_adv, success, dist, float(eps), bool(targeted),
                            bool(random_start))


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
