"""The judge panel of paper Figs. 3-4: do large-eps examples *look like* their target class?

A single standard judge measures transfer, not resemblance: standard models share non-robust
features, so a standard judge is fooled by a standard model's examples whatever they look like, and
its share is capped by the attack's success on the studied model (``docs/JUDGE.md``). The panel:

* three judges, each trained on the half of the training images the studied models never saw: the
  standard CNN (``saliency.judge``), an l2-robust model of an architecture no studied model has
  (``saliency.robust_judge``) and a non-neural pixel-space judge, :class:`PixelJudge` (k nearest
  neighbours or the nearest class mean; ``saliency.pixel_judge``);
* two controls on the same (image, target) pairs, where nothing can look like the target for the
  right reason: targeted examples at a small eps (``saliency.controls.small_eps``), and the image
  moved by the large eps in a random direction (:func:`random_directions`);
* per judge and studied model the *excess*: the share of large-eps examples labelled as their
  target minus the larger control share (:func:`excess`). The claim compares excesses, robust minus
  standard, on the same pairs (``docs/CLAIMS.md``).

Everything here is a pure function of arrays; the pipeline stage is :mod:`tradeoff.stages.saliency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tradeoff.datasets.images import N_CLASSES, SIDE, _labels, as_images

__all__ = ["CONDITIONS", "PANEL_COLUMNS", "PIXEL_METHODS", "PixelJudge", "excess", "panel_rows",
           "random_directions"]

CONDITIONS: Final[tuple[str, ...]] = ("target", "small_eps", "random")
"""``target``: the large-eps targeted example; ``small_eps``: the targeted example at the small eps;
``random``: the image moved by the large eps in a random direction (controls)."""
PIXEL_METHODS: Final[tuple[str, ...]] = ("knn", "nearest_mean")
PANEL_COLUMNS: Final[list[str]] = ["source", "label", "target", "success", "judge", "condition", "judge_label",
                                   "judged_target"]
"""Columns of :func:`panel_rows` (the stage prepends recipe, size, seed)."""


def _flat(x: ArrayLike) -> NDArray[np.float64]:
    imgs = as_images(x)
    return imgs.reshape(len(imgs), SIDE * SIDE).astype(np.float64)


@dataclass
class PixelJudge:
    """A judge in pixel space, fitted on training images (the held-out half).

    ``knn``: majority vote of the ``k`` nearest training images in l2 (ties to the nearest
    neighbour's class among the tied: scikit-learn's ``KNeighborsClassifier``, uniform weights, brute
    force); ``nearest_mean``: the class whose training mean is nearest in l2. Neither has
    gradients, architecture or non-robust features to share with the studied models.
    """

    method: str = "knn"
    k: int = 5

    def __post_init__(self) -> None:
        if self.method not in PIXEL_METHODS:
            raise ValueError(f"config key saliency.pixel_judge.method: {self.method!r}; valid: "
                             f"{', '.join(PIXEL_METHODS)}")
        if self.k < 1:
            raise ValueError(f"config key saliency.pixel_judge.k: must be >= 1, got {self.k}")

    def fit(self, x: ArrayLike, y: ArrayLike) -> PixelJudge:
        """Fit on images ``x`` with labels ``y``; returns ``self``."""
        X = _flat(x)
        labels = _labels(y, len(X))
        if self.method == "knn":
            from sklearn.neighbors import KNeighborsClassifier

            self._knn = KNeighborsClassifier(n_neighbors=self.k, algorithm="brute").fit(X, labels)
        else:
            missing = sorted(set(range(N_CLASSES)) - set(labels.tolist()))
            if missing:
                raise ValueError(f"nearest_mean needs every class in its training images; missing {missing}")
            self._means = np.stack([X[labels == c].mean(0) for c in range(N_CLASSES)])
        return self

    def predict(self, x: ArrayLike) -> NDArray[np.int64]:
        """Labels of images ``x``."""
        X = _flat(x)
        if self.method == "knn":
            return np.asarray(self._knn.predict(X), dtype=np.int64)
        d = ((X[:, None, :] - self._means[None]) ** 2).sum(-1)
        return d.argmin(1).astype(np.int64)


def random_directions(x: ArrayLike, eps: float, seed: int) -> NDArray[np.float32]:
    """``clip(x + eps u / ||u||_2, 0, 1)`` per image, ``u`` standard normal (seeded): the large eps
    spent in no particular direction (the clip can only shorten the step)."""
    xs = as_images(x)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    u = np.random.default_rng(seed).standard_normal(xs.shape)
    u /= np.linalg.norm(u.reshape(len(u), -1), axis=1).reshape(-1, 1, 1, 1)
    return np.clip(xs + eps * u, 0.0, 1.0).astype(np.float32)


def panel_rows(source: ArrayLike, label: ArrayLike, target: ArrayLike, success: ArrayLike,
               labels: dict[tuple[str, str], ArrayLike]) -> pd.DataFrame:
    """Tidy rows (:data:`PANEL_COLUMNS`): one per (judge, condition, pair). ``labels[(judge,
    condition)]`` are the judge's labels of that condition's images, one per pair."""
    tgt = np.asarray(target, dtype=np.int64)
    frames = []
    for (judge, condition), got in labels.items():
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; valid: {', '.join(CONDITIONS)}")
        lab = np.asarray(got, dtype=np.int64)
        if lab.shape != tgt.shape:
            raise ValueError(f"{judge}/{condition}: {lab.shape} labels for {tgt.shape} pairs")
        frames.append(pd.DataFrame({"source": source, "label": label, "target": tgt, "success": success,
                                    "judge": judge, "condition": condition, "judge_label": lab,
                                    "judged_target": lab == tgt}))
    return pd.concat(frames, ignore_index=True)[PANEL_COLUMNS]


def excess(shares: NDArray[np.float64]) -> NDArray[np.float64]:
    """``shares[..., 0] - max(shares[..., 1], shares[..., 2])``: the share of large-eps examples
    labelled as their target (condition order :data:`CONDITIONS`) over the larger control share.
    Vectorised over leading axes (bootstrap resamples)."""
    s = np.asarray(shares, dtype=np.float64)
    if s.shape[-1] != len(CONDITIONS):
        raise ValueError(f"need {len(CONDITIONS)} shares (target, small_eps, random), got {s.shape[-1]}")
    return s[..., 0] - np.maximum(s[..., 1], s[..., 2])
