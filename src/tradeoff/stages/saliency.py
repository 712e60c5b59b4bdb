"""Stage: paper Section 4 on the trained MNIST models: the judge, saliency per model, linear SVMs.

* :func:`train_judge`: a standard model of another architecture, trained on the half of the
  training images that the studied models never saw. The studied models of seed ``s`` were trained
  on the prefix of length ``size`` of the seeded, class-balanced ordering
  ``balanced_subset_indices(y_train, N, s)`` (nested subsets); the judge of seed ``s`` trains on
  the last ``N // 2`` images of that same ordering, so the two sets are disjoint whenever
  ``size <= N - N // 2`` (checked; the config key is named otherwise). No attack ever runs on
  the judge: it only labels the large-eps examples.
* :func:`extract`: one model's loss gradients on fixed test images, their alignment scores, its
  targeted large-eps l2 examples towards every other class with the judge's labels, and its first
  convolution's filters with the thresholding rule. Tables are tidy CSVs, images one ``.npz``.
  Saliency runs in fp32 whatever ``mnist.precision`` says (gradients are the measurement).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from tradeoff import io
from tradeoff.adversarial.training import TrainConfig, train
from tradeoff.datasets.mnist import MnistData, balanced_subset_indices, load_npz
from tradeoff.nets.checkpoints import (
    discarding_corrupt,
    load_weights,
    load_weights_and_metadata,
    save_weights,
)
from tradeoff.nets.device import resolve_device
from tradeoff.saliency import analysis as sal

log = logging.getLogger(__name__)

LARGE_EPS_COLUMNS = ["recipe", "size", "seed", "source", "label", "target", "success", "distance",
                     "judge_label", "judged_target"]


def judge_indices(y_train: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(the studied models' training indices, the judge's): disjoint, or ``ValueError``."""
    n = len(y_train)
    if size > n - n // 2:
        raise ValueError(
            f"config key saliency.models.size: {size} exceeds half of the {n} training images "
            f"({n - n // 2}); the judge trains on the other half"
        )
    order = balanced_subset_indices(y_train, n, seed)
    models, judge = order[:size], order[n - n // 2 :]
    if np.intersect1d(models, judge).size:  # by construction; checked because the claim rests on it
        raise AssertionError("judge and studied models share training images")
    return models, judge


def train_judge(data: str, weights: str, history: str, *, size: int, seed: int, judge: dict[str, Any],
                device: str, precision: str, checkpoint_dir: str | None = None) -> None:
    """Train the judge of seed ``seed`` (see the module docstring) and record its clean accuracy."""
    mnist = load_npz(data)
    _, idx = judge_indices(mnist.y_train, size, seed)
    cfg = TrainConfig(model=judge["model"], objective="standard", lr=float(judge["lr"]),
                      batch_size=int(judge["batch_size"]), iterations=int(judge["iterations"]), seed=seed,
                      device=device, precision=precision)
    log.info("judge %s on %d training images disjoint from the studied models' %d (seed %d)",
             cfg.model, len(idx), size, seed)
    x, y = torch.from_numpy(sal.as_images(mnist.x_train[idx])), torch.from_numpy(mnist.y_train[idx])
    model, records = train(cfg, x, y, checkpoint_dir=checkpoint_dir, log=log)
    clean = float(np.mean(sal.predict(model, mnist.x_test) == mnist.y_test))
    log.info("judge clean test accuracy %.4f", clean)
    dev = resolve_device(device)
    meta = {"architecture": cfg.model, "role": "judge", "size": str(size), "seed": str(seed),
            "device": str(dev), "torch": torch.__version__, "train_config": json.dumps(cfg.to_dict(), sort_keys=True)}
    save_weights(model, weights, meta)
    io.write_json({"role": "judge", "architecture": cfg.model, "seed": seed, "n_train": len(idx),
                   "studied_size": size, "clean_accuracy": clean, "n_test": len(mnist.y_test),
                   "device": str(dev), "torch": torch.__version__, "config": cfg.to_dict(), "epochs": records},
                  history)


def _check_model(weights: str, meta: dict[str, str], recipe: str, size: int, seed: int) -> None:
    got = (meta.get("recipe"), meta.get("size"), meta.get("seed"))
    if got != (recipe, str(size), str(seed)):
        raise ValueError(f"{weights}: holds recipe/size/seed {got}, expected {(recipe, str(size), str(seed))}")


def _tag(df: pd.DataFrame, recipe: str, size: int, seed: int) -> pd.DataFrame:
    df.insert(0, "recipe", recipe)
    df.insert(1, "size", size)
    df.insert(2, "seed", seed)
    return df


def extract(data: str, weights: str, judge_weights: str, out: Any, *, recipe: str, size: int, seed: int,
            examples: dict[str, Any], alignment: dict[str, Any], large_eps: dict[str, Any],
            filters: dict[str, Any], device: str) -> None:
    """Gradients + alignment, large-eps examples + judge, filters of one model; ``out`` has
    ``arrays`` (.npz), ``alignment``, ``large_eps``, ``filters`` (.csv)."""
    dev = resolve_device(device)
    with discarding_corrupt(weights, judge_weights):  # removed if corrupt: the next run rebuilds it
        model, meta = load_weights_and_metadata(None, weights, device=dev)
        judge = load_weights(None, judge_weights, device=dev)
    _check_model(weights, meta, recipe, size, seed)
    mnist: MnistData = load_npz(data)
    train_idx, _ = judge_indices(mnist.y_train, size, seed)
    mean_image = sal.as_images(mnist.x_train[train_idx]).mean(0)

    idx = sal.fixed_examples(mnist.y_test, int(examples["per_class"]), int(examples["seed"]))
    x, y = sal.as_images(mnist.x_test[idx]), mnist.y_test[idx]
    grads = sal.input_gradients(model, x, y)
    table = sal.alignment_table(recipe, grads, x, y, indices=idx, threshold=float(alignment["threshold"]),
                                dilation=int(alignment["dilation"]), mean_image=mean_image)
    table = _tag(table.drop(columns="model"), recipe, size, seed)
    io.write_csv(table, out.alignment)
    means = table.groupby("score")["value"].mean()
    log.info("mean alignment over %d images: %s", len(idx), means.round(4).to_dict())

    lidx = sal.fixed_examples(mnist.y_test, int(large_eps["per_class"]), int(large_eps["seed"]))
    lx, ly = sal.as_images(mnist.x_test[lidx]), mnist.y_test[lidx]
    ex = sal.large_eps_examples(model, lx, ly, eps=float(large_eps["eps"]), steps=int(large_eps["steps"]))
    judged = sal.predict(judge, ex.x_adv)
    le = ex.table()
    le["source"] = lidx[ex.source]
    le["judge_label"] = judged
    le["judged_target"] = judged == ex.target
    le = _tag(le, recipe, size, seed)[LARGE_EPS_COLUMNS]
    io.write_csv(le, out.large_eps)
    log.info("large-eps l2 %.3g: %d examples, success on the model %.4f, judged as the target %.4f",
             ex.eps, len(le), float(ex.success.mean()), float(le["judged_target"].mean()))

    w, b = sal.first_layer_filters(model)
    ft = sal.filter_table(w, b, dominance=float(filters["dominance"]), min_threshold=float(filters["min_threshold"]))
    io.write_csv(_tag(ft, recipe, size, seed), out.filters)
    log.info("thresholding filters: %d of %d", int(ft["thresholding"].sum()), len(ft))

    io.write_npz(out.arrays, example_index=idx, example_x=x, example_y=y, gradients=grads,
                 large_index=lidx, large_x=lx, large_y=ly, pair_row=ex.source, pair_target=ex.target,
                 x_adv=ex.x_adv, pair_success=ex.success, judge_label=judged, filter_w=w, filter_b=b,
                 eps=np.float64(ex.eps), interpolation_steps=np.int64(large_eps["interpolation_steps"]))
