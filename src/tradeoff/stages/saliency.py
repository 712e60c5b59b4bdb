"""Stage: paper Section 4 on the trained MNIST models: the judges, saliency per model, linear SVMs.

* :func:`train_judge`: a judge model (``saliency.judge``: standard, e.g. the Madry CNN;
  ``saliency.robust_judge``: l2-PGD-trained, of an architecture no studied model has), trained on
  the half of the training images that the studied models never saw. The studied models of seed ``s`` were trained
  on the prefix of length ``size`` of the seeded, class-balanced ordering
  ``balanced_subset_indices(y_train, N, s)`` (nested subsets); the judge of seed ``s`` trains on
  the last ``N // 2`` images of that same ordering, so the two sets are disjoint whenever
  ``size <= N - N // 2`` (checked; the config key is named otherwise). No attack ever runs on
  the judges: they only label the large-eps examples.
* :func:`extract`: one model's loss gradients on fixed test images, their alignment scores (and
  their within-stroke nulls), its targeted large-eps l2 examples towards every other class with the
  judge panel's labels of them and of the two controls (:mod:`tradeoff.saliency.panel`; the pixel
  judge is fitted here, on the same held-out half), and its first convolution's filters with the
  thresholding rule; the large-eps variants of ``saliency.large_eps.variants`` (random start,
  untargeted) with the same panel and controls; every judge's labels along the straight path from
  each image to its example (Fig. 4, judged by :func:`tradeoff.saliency.panel.path_target_share`).
  Tables are tidy CSVs, images one ``.npz``.
  Saliency runs in fp32 whatever ``mnist.precision`` says (gradients are the measurement).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
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
from tradeoff.saliency import panel as pnl

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


def judge_config(judge: dict[str, Any], *, seed: int, device: str, precision: str) -> TrainConfig:
    """The judge's :class:`TrainConfig`: ``judge`` is its complete recipe
    (:func:`tradeoff.workflow.plan.saliency_judge_params`: standard, or the robust judge's PGD)."""
    return TrainConfig.from_dict({**judge, "seed": seed, "device": device, "precision": precision})


def train_judge(data: str, weights: str, history: str, *, size: int, seed: int, judge: dict[str, Any],
                device: str, precision: str, checkpoint_dir: str | None = None, role: str = "judge") -> None:
    """Train the judge of seed ``seed`` (see the module docstring) and record its clean accuracy.
    ``role``: ``judge`` (the standard one) or ``robust_judge``."""
    mnist = load_npz(data)
    _, idx = judge_indices(mnist.y_train, size, seed)
    cfg = judge_config(judge, seed=seed, device=device, precision=precision)
    log.info("%s %s (%s) on %d training images disjoint from the studied models' %d (seed %d)",
             role, cfg.model, cfg.objective, len(idx), size, seed)
    x, y = torch.from_numpy(sal.as_images(mnist.x_train[idx])), torch.from_numpy(mnist.y_train[idx])
    model, records = train(cfg, x, y, checkpoint_dir=checkpoint_dir, log=log)
    clean = float(np.mean(sal.predict(model, mnist.x_test) == mnist.y_test))
    log.info("judge clean test accuracy %.4f", clean)
    dev = resolve_device(device)
    meta = {"architecture": cfg.model, "role": role, "size": str(size), "seed": str(seed),
            "device": str(dev), "torch": torch.__version__, "train_config": json.dumps(cfg.to_dict(), sort_keys=True)}
    save_weights(model, weights, meta)
    io.write_json({"role": role, "architecture": cfg.model, "objective": cfg.objective, "seed": seed, "n_train": len(idx),
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


def _predictor(judge: Any) -> Any:
    """The judge as a function images -> labels (a :class:`PixelJudge` or a torch model)."""
    if isinstance(judge, pnl.PixelJudge):
        return judge.predict
    return lambda imgs: sal.predict(judge, imgs)


def _large_eps_panel(model: torch.nn.Module, judges: dict[str, Any], lx: np.ndarray, ly: np.ndarray,
                     large_eps: dict[str, Any], controls: dict[str, Any],
                     variant: str = "targeted") -> tuple[Any, dict[str, np.ndarray], pd.DataFrame]:
    """One variant's large-eps examples (:data:`tradeoff.saliency.analysis.LARGE_EPS_VARIANTS`), the
    two controls on the same pairs (the small-eps one made the same way), and every judge's labels
    of the three: (examples, {condition: images}, panel rows without the source's test-set index).
    Untargeted: each condition's image is claimed to look like the class the model gives it."""
    targeted, random_start = sal.large_eps_variant(variant)
    eps, steps = float(large_eps["eps"]), int(large_eps["steps"])
    seed = int(large_eps.get("random_start_seed", 0))
    ex = sal.large_eps_examples(model, lx, ly, eps=eps, steps=steps, targeted=targeted, random_start=random_start,
                                seed=seed)
    small = sal.large_eps_examples(model, lx, ly, eps=float(controls["small_eps"]), steps=steps, targeted=targeted,
                                   random_start=random_start, seed=seed)
    if not np.array_equal(small.source, ex.source) or (targeted and not np.array_equal(small.target, ex.target)):
        raise AssertionError("the small-eps control must pair with the large-eps examples")
    images = {"target": ex.x_adv, "small_eps": small.x_adv,
              "random": pnl.random_directions(lx[ex.source], eps, int(controls["seed"]))}
    targets = None if targeted else {c: sal.predict(model, imgs) for c, imgs in images.items()}
    labels = {(name, condition): _predictor(judge)(imgs) for name, judge in judges.items()
              for condition, imgs in images.items()}
    rows = pnl.panel_rows(ex.source, ex.label, ex.target, ex.success, labels, variant=variant, targets=targets)
    return ex, images, rows


def _paths(judges: dict[str, Any], lx: np.ndarray, ex: Any, variant: str, n_steps: int) -> pd.DataFrame:
    """Every judge's labels along the straight paths from the images to ``ex``'s examples (Fig. 4)."""
    labels = {name: pnl.path_labels(_predictor(judge), lx[ex.source], ex.x_adv, n_steps)
              for name, judge in judges.items()}
    return pnl.path_rows(variant, ex.source, ex.label, ex.target, ex.success, labels)


def _alignment(model: torch.nn.Module, mnist: MnistData, mean_image: np.ndarray, examples: dict[str, Any],
               alignment: dict[str, Any], path: str, *, recipe: str, size: int, seed: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The gradients' alignment on the fixed examples, written to ``path``; returns the examples'
    indices, images, labels and input gradients."""
    idx = sal.fixed_examples(mnist.y_test, int(examples["per_class"]), int(examples["seed"]))
    x, y = sal.as_images(mnist.x_test[idx]), mnist.y_test[idx]
    grads = sal.input_gradients(model, x, y)
    table = sal.alignment_table(recipe, grads, x, y, indices=idx, threshold=float(alignment["threshold"]),
                                dilation=int(alignment["dilation"]), mean_image=mean_image,
                                null_seed=int(alignment["null_seed"]))
    table = _tag(table.drop(columns="model"), recipe, size, seed)
    io.write_csv(table, path)
    means = table.groupby("score")["value"].mean()
    log.info("mean alignment over %d images: %s", len(idx), means.round(4).to_dict())
    return idx, x, y, grads


def _filters(model: torch.nn.Module, filters: dict[str, Any], path: str, *, recipe: str, size: int,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first layer's filters and which of them threshold, written to ``path``; returns the
    weights and biases."""
    w, b = sal.first_layer_filters(model)
    ft = sal.filter_table(w, b, dominance=float(filters["dominance"]), min_threshold=float(filters["min_threshold"]))
    io.write_csv(_tag(ft, recipe, size, seed), path)
    log.info("thresholding filters: %d of %d (%d inverted)", int(ft["thresholding"].sum()), len(ft),
             int((ft["thresholding"] & ft["inverted"]).sum()))
    return w, b


def extract(data: str, weights: str, judge_weights: str, out: Any, *, recipe: str, size: int, seed: int,
            examples: dict[str, Any], alignment: dict[str, Any], large_eps: dict[str, Any],
            filters: dict[str, Any], device: str, robust_judge_weights: str,
            pixel_judge: dict[str, Any], controls: dict[str, Any],
            expect: Mapping[str, str] | None = None) -> None:
    """Gradients + alignment, large-eps examples (the targeted ones and ``large_eps.variants``) + judge
    panel + controls + every judge's labels along the interpolation paths, filters of one model;
    ``out`` has ``arrays`` (.npz), ``alignment``, ``large_eps``, ``panel``, ``interpolation``, ``filters`` (.csv).
    ``expect``: the identity the model's weights file must state (default: recipe, size and seed)."""
    dev = resolve_device(device)
    # each file must say it is the model asked for (another model's file is refused naming both, and kept)
    expect = dict(expect or {"recipe": recipe, "size": str(size), "seed": str(seed)})
    with discarding_corrupt(weights, judge_weights, robust_judge_weights):  # removed if corrupt: rebuilt
        model, meta = load_weights_and_metadata(None, weights, device=dev, expect=expect)
        judge = load_weights(None, judge_weights, device=dev, expect={"role": "judge", "seed": str(seed)})
        robust_judge = load_weights(None, robust_judge_weights, device=dev,
                                    expect={"role": "robust_judge", "seed": str(seed)})
    _check_model(weights, meta, recipe, size, seed)
    mnist: MnistData = load_npz(data)
    train_idx, judge_idx = judge_indices(mnist.y_train, size, seed)
    mean_image = sal.as_images(mnist.x_train[train_idx]).mean(0)

    idx, x, y, grads = _alignment(model, mnist, mean_image, examples, alignment, out.alignment,
                                  recipe=recipe, size=size, seed=seed)

    pixel = pnl.PixelJudge(str(pixel_judge["method"]), int(pixel_judge["k"]))
    pixel.fit(mnist.x_train[judge_idx], mnist.y_train[judge_idx])
    lidx = sal.fixed_examples(mnist.y_test, int(large_eps["per_class"]), int(large_eps["seed"]))
    lx, ly = sal.as_images(mnist.x_test[lidx]), mnist.y_test[lidx]
    judges = {"standard": judge, "robust": robust_judge, "pixel": pixel}
    n_steps = int(large_eps["interpolation_steps"])
    ex, images, panel = _large_eps_panel(model, judges, lx, ly, large_eps, controls)
    judged = panel.loc[(panel["judge"] == "standard") & (panel["condition"] == "target"), "judge_label"].to_numpy()
    le = ex.table()
    le["source"] = lidx[ex.source]
    le["judge_label"] = judged
    le["judged_target"] = judged == ex.target
    le = _tag(le, recipe, size, seed)[LARGE_EPS_COLUMNS]
    io.write_csv(le, out.large_eps)
    panels, paths = [panel], [_paths(judges, lx, ex, "targeted", n_steps)]
    variants: dict[str, np.ndarray] = {}
    for variant in large_eps.get("variants", []):
        vex, _, vpanel = _large_eps_panel(model, judges, lx, ly, large_eps, controls, variant)
        panels.append(vpanel)
        paths.append(_paths(judges, lx, vex, variant, n_steps))
        variants.update({f"x_adv_{variant}": vex.x_adv, f"pair_row_{variant}": vex.source,
                         f"pair_target_{variant}": vex.target})
        log.info("large-eps %s: success on the model %.4f", variant, float(vex.success.mean()))
    panel = pd.concat(panels, ignore_index=True)
    panel["source"] = lidx[panel["source"].to_numpy()]
    panel = _tag(panel, recipe, size, seed)
    io.write_csv(panel, out.panel)
    path = pd.concat(paths, ignore_index=True)
    path["source"] = lidx[path["source"].to_numpy()]
    path = _tag(path, recipe, size, seed)
    io.write_csv(path, out.interpolation)
    shares = panel.groupby(["variant", "judge", "condition"])["judged_target"].mean().round(4).to_dict()
    log.info("large-eps l2 %.3g: %d examples, success on the model %.4f; judged as the target: %s",
             ex.eps, len(le), float(ex.success.mean()), shares)
    log.info("interpolation: mean share of the path judged as the target: %s",
             path.groupby(["variant", "judge"])["path_share"].mean().round(4).to_dict())

    w, b = _filters(model, filters, out.filters, recipe=recipe, size=size, seed=seed)

    io.write_npz(out.arrays, example_index=idx, example_x=x, example_y=y, gradients=grads,
                 large_index=lidx, large_x=lx, large_y=ly, pair_row=ex.source, pair_target=ex.target,
                 x_adv=ex.x_adv, x_small_eps=images["small_eps"], x_random=images["random"],
                 pair_success=ex.success, judge_label=judged, filter_w=w, filter_b=b,
                 eps=np.float64(ex.eps), interpolation_steps=np.int64(n_steps), **variants)
