"""Stage: train one model (recipe, training-set size, seed), resuming from its checkpoints."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import torch

from tradeoff import io
from tradeoff.adversarial.stopping import StoppingRule, summary
from tradeoff.adversarial.training import TrainConfig, run_config, train, training_identity
from tradeoff.datasets.mnist import balanced_subset_indices, load_npz
from tradeoff.nets.checkpoints import save_weights
from tradeoff.nets.device import resolve_device
from tradeoff.nets.identity import model_identity

log = logging.getLogger(__name__)


def train_model(data: str, weights: str, history: str, *, recipe_name: str, recipe: dict[str, Any], size: int,
                seed: int, device: str, checkpoint_dir: str) -> None:
    """Train on a class-balanced, seeded, nested subset of ``size`` training images.

    Checkpoints go to ``checkpoint_dir`` (outside the rule's outputs) every epoch; a killed job
    resumes from the newest one and ends with the same weights as an uninterrupted run (CPU).
    A recipe's ``stopping:`` (the training-length rule, :mod:`tradeoff.adversarial.stopping`) scores
    every epoch on the data file's validation split, sets the run's length to the rule's cap for
    ``size`` (in place of the recipe's epochs or iterations) and writes the best epoch's weights;
    history.json says once, under ``stopping``, which epoch that was and why training ended.
    """
    mnist = load_npz(data)
    if size > len(mnist.y_train):
        raise ValueError(f"{data}: training-set size {size} exceeds the {len(mnist.y_train)} training images")
    idx = balanced_subset_indices(mnist.y_train, size, seed)
    x = torch.from_numpy(mnist.x_train[idx]).unsqueeze(1).float().div_(255)
    y = torch.from_numpy(mnist.y_train[idx])
    rule = StoppingRule.from_dict(recipe["stopping"]) if "stopping" in recipe else None
    fields = recipe  # the TrainConfig fields; the model's identity stays the recipe's, rule and all
    if rule is not None:  # the rule's cap is the run's length
        fields = {k: v for k, v in recipe.items() if k not in ("stopping", "epochs", "iterations")}
        fields["epochs"] = rule.cap(size)
    cfg = TrainConfig.from_dict({**fields, "seed": seed, "device": device})  # complete: plan.recipe_params
    dev = resolve_device(device)
    run_cfg, levers = run_config(cfg, dev)  # what train() will run: bf16 only with bf16 hardware
    precision = run_cfg.precision
    log.info("recipe %s, %d images, seed %d, device %s, levers %s, torch %s", recipe_name, size, seed, dev,
             levers.to_dict(), torch.__version__)
    validation = None
    if cfg.guard is not None or rule is not None:  # both attack the validation split, never the test set
        if not len(mnist.y_val):
            what = "a guard" if cfg.guard is not None else "a stopping rule"
            raise ValueError(f"{data}: recipe {recipe_name!r} has {what} but the data has no validation split "
                             "(set mnist.data.validation)")
        validation = (mnist.x_val, mnist.y_val)  # train() prepares them as it does the training images
    model, records = train(cfg, x, y, checkpoint_dir=checkpoint_dir, log=log, progress=sys.stderr.isatty(),
                           validation=validation, stopping=rule)
    # the file says what it is (tradeoff.nets.identity): its readers check recipe, recipe hash, size and seed
    meta = {"architecture": cfg.model, **model_identity(recipe_name, recipe, size, seed),
            "training_code": training_identity()["code"], "device": str(dev), "precision": precision, "torch": torch.__version__,
            "train_config": json.dumps(cfg.to_dict(), sort_keys=True)}
    save_weights(model, weights, meta)
    guard = None
    if cfg.guard is not None:  # said once at the top of history.json: which epoch's weights these are
        last = records[-1]
        guard = {"best_epoch": last["best_epoch"], "collapsed": last["collapsed"],
                 "collapse_epoch": last["collapse_epoch"],
                 "best_val_robust": max(r["val_robust"] for r in records)}
    io.write_json({"recipe": recipe_name, "size": size, "seed": seed, "device": str(dev), "precision": precision,
                   "levers": levers.to_dict(), "torch": torch.__version__, "config": cfg.to_dict(), "guard": guard,
                   **({"stopping": summary(rule, cfg.objective, size, records)} if rule is not None else {}),
                   "epochs": records}, history)
