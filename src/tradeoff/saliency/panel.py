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
  standard, on the same pairs (``docs/CLAIMS.md``). The pixel judge is the *primary* judge
  (:data:`PRIMARY_JUDGE`): its row decides the panel row; the two neural judges are reported beside.
* the interpolation of Fig. 4, judged: each judge labels the straight path from the image to its
  large-eps example (:func:`path_labels`); per pair, the share of the path's points after the
  original labelled as the target (:func:`path_target_share`) and whether the path passes from
  the image's class to the target once, through no third class (:func:`path_two_class`).

Everything here is a pure function of arrays; the pipeline stage is :mod:`tradeoff.stages.saliency`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tradeoff.datasets.images import N_CLASSES, SIDE, _labels, as_images
from tradeoff.saliency.rules import interpolate

__all__ = ["CONDITIONS", "JUDGES", "PANEL_COLUMNS", "PATH_COLUMNS", "PIXEL_METHODS", "PRIMARY_JUDGE", "PixelJudge",
           "excess", "panel_rows", "path_labels", "path_rows", "path_target_share", "path_two_class",
           "random_directions"]

JUDGES: Final[tuple[str, ...]] = ("standard", "robust", "pixel")
"""The panel: ``saliency.judge``, ``saliency.robust_judge``, ``saliency.pixel_judge``."""
PRIMARY_JUDGE: Final[str] = "pixel"
"""The judge whose row decides a large-eps or interpolation verdict (docs/CLAIMS.md, section 5.6): it
shares no threat model, architecture or training with any studied model."""
PATH_COLUMNS: Final[list[str]] = ["variant", "source", "label", "target", "success", "judge", "path_share",
                                  "two_class", "end_is_target"]
"""Columns of :func:`path_rows` (the stage prepends recipe, size, seed)."""

CONDITIONS: Final[tuple[str, ...]] = ("target", "small_eps", "random")
"""``target``: the large-eps targeted example; ``small_eps``: the targeted example at the small eps;
``random``: the image moved by the large eps in a random direction (controls)."""
PIXEL_METHODS: Final[tuple[str, ...]] = ("knn", "nearest_mean")
PANEL_COLUMNS: Final[list[str]] = ["source", "label", "target", "success", "judge", "condition", "judge_label",
                                   "judged_target", "variant"]
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
               labels: dict[tuple[str, str], ArrayLike], *, variant: str = "targeted",
               targets: Mapping[str, ArrayLike] | None = None) -> pd.DataFrame:
    """Tidy rows (:data:`PANEL_COLUMNS`): one per (judge, condition, pair). ``labels[(judge,
    condition)]`` are the judge's labels of that condition's images, one per pair. ``targets``
    (untargeted variants): per condition the class each pair's image is claimed to look like (the
    attacked model's label of it), instead of ``target``. ``judged_target``: the judge's label is
    that class *and* it differs from the image's own class (an untargeted example that failed
    cannot count)."""
    tgt0 = np.asarray(target, dtype=np.int64)
    own = np.asarray(label, dtype=np.int64)
    frames = []
    for (judge, condition), got in labels.items():
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; valid: {', '.join(CONDITIONS)}")
        tgt = tgt0 if targets is None else np.asarray(targets[condition], dtype=np.int64)
        lab = np.asarray(got, dtype=np.int64)
        if lab.shape != tgt.shape or tgt.shape != tgt0.shape:
            raise ValueError(f"{judge}/{condition}: {lab.shape} labels for {tgt.shape} pairs")
        frames.append(pd.DataFrame({"source": source, "label": label, "target": tgt, "success": success,
                                    "judge": judge, "condition": condition, "judge_label": lab,
                                    "judged_target": (lab == tgt) & (tgt != own), "variant": variant}))
    return pd.concat(frames, ignore_index=True)[PANEL_COLUMNS]


def excess(shares: NDArray[np.float64]) -> NDArray[np.float64]:
    """``shares[..., 0] - max(shares[..., 1], shares[..., 2])``: the share of large-eps examples
    labelled as their target (condition order :data:`CONDITIONS`) over the larger control share.
    Vectorised over leading axes (bootstrap resamples)."""
    s = np.asarray(shares, dtype=np.float64)
    if s.shape[-1] != len(CONDITIONS):
        raise ValueError(f"need {len(CONDITIONS)} shares (target, small_eps, random), got {s.shape[-1]}")
    return s[..., 0] - np.maximum(s[..., 1], s[..., 2])


def path_labels(predict: Callable[[NDArray[np.float32]], NDArray[np.int64]], x: ArrayLike, x_adv: ArrayLike,
                n_steps: int) -> NDArray[np.int64]:
    """``(M, n_steps)`` labels ``predict`` gives the points of the straight path from each image ``x[i]``
    to ``x_adv[i]`` (:func:`tradeoff.saliency.rules.interpolate`: ``t_k = k / (n_steps - 1)``, both
    ends included), in one call of ``predict`` on all ``M * n_steps`` points."""
    a, b = as_images(x), as_images(x_adv)
    if a.shape != b.shape:
        raise ValueError(f"x {a.shape} and x_adv {b.shape} differ in shape")
    pts = interpolate(a, b, n_steps)  # (n_steps, M, 1, 28, 28)
    flat = np.ascontiguousarray(pts.transpose(1, 0, 2, 3, 4)).reshape(-1, 1, SIDE, SIDE)
    lab = np.asarray(predict(flat), dtype=np.int64)
    if lab.shape != (len(flat),):
        raise ValueError(f"predict returned {lab.shape} labels for {len(flat)} points")
    return lab.reshape(len(a), n_steps)


def path_target_share(labels: ArrayLike, target: ArrayLike) -> NDArray[np.float64]:
    """Per path (rows of ``labels``, ``(M, K)``, K >= 2, the original first): the share of its K - 1
    points after the original labelled ``target``. 1: the path is the target's from its first step;
    0: never, not even at its end."""
    lab = np.asarray(labels, dtype=np.int64)
    tgt = np.asarray(target, dtype=np.int64)
    if lab.ndim != 2 or lab.shape[1] < 2 or tgt.shape != (lab.shape[0],):
        raise ValueError(f"need labels (M, K >= 2) and targets (M,), got {lab.shape} and {tgt.shape}")
    return (lab[:, 1:] == tgt[:, None]).mean(1)


def path_two_class(labels: ArrayLike, label: ArrayLike, target: ArrayLike) -> NDArray[np.bool_]:
    """Per path: every point is labelled the image's class or the target, and once a point is the
    target's every later one is (at most one switch, from the class to the target): the "smooth
    cross-class interpolation" of Fig. 4, as a judge sees it. A path that never reaches the target
    counts (True) only when every point keeps the image's class."""
    lab = np.asarray(labels, dtype=np.int64)
    src = np.asarray(label, dtype=np.int64)[:, None]
    tgt = np.asarray(target, dtype=np.int64)[:, None]
    is_t = lab == tgt
    only_two = np.all(is_t | (lab == src), axis=1)
    monotone = np.all(np.diff(is_t.astype(np.int8), axis=1) >= 0, axis=1)
    return only_two & monotone


def path_rows(variant: str, source: ArrayLike, label: ArrayLike, target: ArrayLike, success: ArrayLike,
              labels: Mapping[str, ArrayLike]) -> pd.DataFrame:
    """Tidy rows (:data:`PATH_COLUMNS`), one per (judge, pair): ``labels[judge]`` is that judge's
    ``(M, K)`` labels along the pairs' paths (:func:`path_labels`). A pair whose target is the image's
    own class (an untargeted attack that failed) reached no other class: ``path_share`` 0 and
    ``end_is_target`` False, as :func:`panel_rows` counts it."""
    tgt = np.asarray(target, dtype=np.int64)
    lab = np.asarray(label, dtype=np.int64)
    frames = []
    for judge, got in labels.items():
        path = np.asarray(got, dtype=np.int64)
        if path.ndim != 2 or path.shape[0] != len(tgt):
            raise ValueError(f"{judge}: labels {path.shape} for {len(tgt)} paths")
        frames.append(pd.DataFrame({"variant": variant, "source": source, "label": lab, "target": tgt,
                                    "success": success, "judge": judge,
                                    "path_share": np.where(tgt != lab, path_target_share(path, tgt), 0.0),
                                    "two_class": path_two_class(path, lab, tgt),
                                    "end_is_target": (path[:, -1] == tgt) & (tgt != lab)}))
    return pd.concat(frames, ignore_index=True)[PATH_COLUMNS]
