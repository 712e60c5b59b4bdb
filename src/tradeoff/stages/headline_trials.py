"""Stage: the headline models' validation trials and the written rule that picks each headline model.

A trial (``config/headline.yaml``: ``headline.trials``) trains one complete recipe on the full
training split (in its order as loaded, no subset) with the catastrophic-overfitting guard, and is
judged on the validation split only: clean accuracy on the first ``clean_n`` validation images and
PGD (``steps`` x ``restarts``, every iterate counted) at the test protocol's threat model for the
recipe's norm (:data:`tradeoff.stages.headline.PROTOCOLS`) on the first ``robust_n``. The test set
is never loaded here. :func:`select_headline` applies a headline model's rule (``docs/CLAIMS.md``
4a) to its candidates' validation records and copies the chosen weights for the one test look
(:mod:`tradeoff.stages.headline`).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from typing import Any

import torch

from tradeoff import io
from tradeoff.adversarial.attacks import pgd
from tradeoff.adversarial.robust_eval import predict
from tradeoff.adversarial.training import TrainConfig, run_config, train
from tradeoff.datasets.mnist import load_npz
from tradeoff.nets.checkpoints import load_weights_and_metadata, save_weights
from tradeoff.nets.device import resolve_device
from tradeoff.stages.headline import PROTOCOLS

log = logging.getLogger(__name__)


def train_trial(data: str, weights: str, history: str, *, trial: str, recipe: dict[str, Any],
                checkpoint_dir: str | None = None) -> None:
    """Train ``recipe`` (complete :class:`TrainConfig` fields) on every training image of ``data``
    with its guard on the validation split; write the weights and the per-epoch history."""
    mnist = load_npz(data)
    if not len(mnist.y_val):
        raise ValueError(f"{data}: the headline trials need a validation split (set mnist.data.validation)")
    cfg = TrainConfig.from_dict(recipe)
    dev = resolve_device(cfg.device)
    run_cfg, levers = run_config(cfg, dev)
    log.info("trial %s: %d training images, %d validation, device %s, levers %s, torch %s, %d thread(s)", trial,
             len(mnist.y_train), len(mnist.y_val), dev, levers.to_dict(), torch.__version__, torch.get_num_threads())
    x = torch.from_numpy(mnist.x_train).unsqueeze(1).float().div_(255)
    y = torch.from_numpy(mnist.y_train)
    t0 = time.perf_counter()
    model, records = train(cfg, x, y, validation=(mnist.x_val, mnist.y_val), checkpoint_dir=checkpoint_dir, log=log)
    seconds = time.perf_counter() - t0
    save_weights(model, weights, {"architecture": cfg.model, "recipe": trial, "seed": str(cfg.seed),
                                  "device": str(dev), "precision": run_cfg.precision, "torch": torch.__version__,
                                  "train_config": json.dumps(cfg.to_dict(), sort_keys=True),
                                  "train_seconds": f"{seconds:.1f}"})
    last = records[-1]
    io.write_json({"trial": trial, "config": cfg.to_dict(), "precision": run_cfg.precision,
                   "levers": levers.to_dict(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "train_seconds": round(seconds, 1),
                   "guard": {k: last.get(k) for k in ("best_epoch", "collapsed", "collapse_epoch")},
                   "epochs": records}, history)


def validate_trial(data: str, weights: str, history: str, out: str, *, trial: str, clean_n: int, robust_n: int,
                   steps: int, restarts: int, batch_size: int, seed: int, code: dict[str, str]) -> dict[str, Any]:
    """Judge a trained trial on validation only (module docstring); write and return its record."""
    mnist = load_npz(data)
    for name, n in (("clean_n", clean_n), ("robust_n", robust_n)):
        if n > len(mnist.y_val):
            raise ValueError(f"{data}: headline.validation.{name} = {n} exceeds the {len(mnist.y_val)} validation images")
    model, meta = load_weights_and_metadata(None, weights, device="cpu")
    cfg = json.loads(meta["train_config"])
    model = model.to(memory_format=torch.channels_last)  # the evaluation lever: the same function
    xv = torch.from_numpy(mnist.x_val).unsqueeze(1).float().div_(255)
    yv = torch.from_numpy(mnist.y_val)
    t0 = time.perf_counter()
    clean = int((predict(model, xv[:clean_n], batch_size=1000) == yv[:clean_n]).sum()) / clean_n  # exact fraction
    gen = torch.Generator().manual_seed(seed)
    xa, ya = xv[:robust_n], yv[:robust_n]
    threat = {k: v for k, v in PROTOCOLS[cfg["norm"]][1][0].items() if k in ("norm", "eps", "alpha")}
    x_adv = torch.cat([pgd(model, xa[i:i + batch_size], ya[i:i + batch_size], **threat, steps=steps,
                           restarts=restarts, keep_best=True, generator=gen)
                       for i in range(0, robust_n, batch_size)])
    with torch.no_grad():
        robust = float(((model(xa).argmax(1) == ya) & (model(x_adv).argmax(1) == ya)).float().mean())
    hist = io.read_json(history)
    record = {"trial": trial, "config": cfg, "precision": hist["precision"], "torch": torch.__version__,
              "threads": torch.get_num_threads(), "code": code, "train_seconds": hist["train_seconds"],
              "eval_seconds": round(time.perf_counter() - t0, 1), "val_clean": clean, "val_clean_n": clean_n,
              "val_robust": robust, "val_robust_n": robust_n, "val_attack": {**threat, "steps": steps,
                                                                              "restarts": restarts, "seed": seed},
              "guard": hist["guard"], "val_robust_per_epoch": [round(h["val_robust"], 4) for h in hist["epochs"]],
              "train_adv_acc_per_epoch": [round(h["adv_acc"], 4) for h in hist["epochs"]]}
    log.info("trial %s on validation: clean %.4f (%d), PGD %.4f (%d)", trial, clean, clean_n, robust, robust_n)
    io.write_json(record, out)
    return record


def choose(records: Sequence[dict[str, Any]], *, min_clean: float, min_robust: float, otherwise: str) -> str | None:
    """The written rule of ``docs/CLAIMS.md`` 4a: among the candidates whose validation clean
    accuracy is at least ``min_clean`` and PGD accuracy at least ``min_robust``, the one with the
    highest PGD accuracy (the first listed on a tie); if none passes, the highest PGD accuracy
    overall (``otherwise: best``) or no model (``none``: no test look)."""
    if otherwise not in ("best", "none"):
        raise ValueError(f"otherwise must be best or none, got {otherwise!r}")
    passing = [r for r in records if r["val_clean"] >= min_clean and r["val_robust"] >= min_robust]
    pool = passing or (list(records) if otherwise == "best" else [])
    if not pool:
        return None
    best = max(r["val_robust"] for r in pool)
    return str(next(r["trial"] for r in pool if r["val_robust"] == best))


def select_headline(records: Sequence[str], weights: Sequence[str], out: str, chosen_weights: str, *, model: str,
                    rule: dict[str, Any]) -> str | None:
    """Apply ``rule`` to the candidates' validation records (in ``rule['trials']`` order, ``records``
    and ``weights`` alike); write the decision to ``out`` and the chosen trial's weights to
    ``chosen_weights`` (an empty file when no candidate may be tested)."""
    recs = [io.read_json(p) for p in records]
    if [r["trial"] for r in recs] != list(rule["trials"]):
        raise ValueError(f"{model}: records {[r['trial'] for r in recs]} are not the rule's trials {rule['trials']}")
    chosen = choose(recs, min_clean=rule["min_clean"], min_robust=rule["min_robust"], otherwise=rule["otherwise"])
    if chosen is None:
        open(chosen_weights, "wb").close()
    else:
        shutil.copyfile(weights[list(rule["trials"]).index(chosen)], chosen_weights)
    io.write_json({"model": model, "rule": rule, "chosen": chosen,
                   "candidates": [{k: r[k] for k in ("trial", "val_clean", "val_robust", "val_clean_n", "val_robust_n")}
                                  for r in recs]}, out)
    log.info("%s: chose %s by its rule", model, chosen)
    return chosen
