"""A guard against catastrophic overfitting: PGD on a fixed validation batch after every epoch.

Single-step adversarial training (FGSM, even from a random start) can collapse within one epoch:
robust accuracy against a multi-step attack falls to near zero while accuracy on the training
attack's own examples stays high (Wong et al. 2020; de Jorge et al. 2022). The guard measures what
the recipe is for, on images the run never trains on and the test set never sees:

* after every epoch, clean accuracy and PGD accuracy (the recipe's norm and eps; ``steps``,
  ``restarts`` and ``alpha`` from the spec; every iterate counted, ``keep_best``) on the first
  ``n`` images of the validation split, with random starts from a generator seeded by ``seed`` and
  the epoch, so an epoch's number does not depend on whether the run was resumed;
* the weights of the epoch with the best validation robust accuracy are kept (ties: the earlier
  epoch), and returned at the end instead of the last epoch's;
* a *collapse* is a validation robust accuracy at least ``collapse_drop`` below the best so far
  (0.2, i.e. 20 points, by default); the first one is logged as a warning and recorded
  (``collapsed``, ``collapse_epoch`` in every later history record).

With a checkpoint folder the best weights are also written there (``best.safetensors``), so a
resumed run returns the same model as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tradeoff.adversarial.attacks import eval_mode, pgd
from tradeoff.adversarial.stopping import from_known_keys

__all__ = ["Guard", "GuardSpec"]


@dataclass(frozen=True)
class GuardSpec:
    """The guard's attack and rule; ``alpha`` None means 2.5 eps / steps."""

    n: int = 1000
    steps: int = 10
    restarts: int = 1
    alpha: float | None = None
    collapse_drop: float = 0.2
    seed: int = 0
    batch_size: int = 500

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GuardSpec:
        spec = from_known_keys(cls, d)
        for name in ("n", "steps", "restarts", "batch_size"):
            v = getattr(spec, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if not 0 < spec.collapse_drop <= 1:
            raise ValueError(f"collapse_drop must lie in (0, 1], got {spec.collapse_drop!r}")
        if spec.alpha is not None and not (math.isfinite(spec.alpha) and spec.alpha > 0):
            raise ValueError(f"alpha must be > 0, got {spec.alpha!r}")
        return spec


class Guard:
    """Evaluates after each epoch, keeps the best weights, records collapses (module docstring).

    ``recipe``: needs ``norm`` and ``eps``; ``history``: the run's records so far (a resumed run's),
    from which the best epoch and any collapse are restored.
    """

    def __init__(self, spec: GuardSpec, recipe: Any, x_val: torch.Tensor, y_val: torch.Tensor,
                 history: list[dict[str, Any]], store: Path | None = None) -> None:
        if len(y_val) == 0:
            raise ValueError("the guard needs a non-empty validation split")
        self.spec, self.norm, self.eps = spec, recipe.norm, float(recipe.eps)
        self.alpha = spec.alpha if spec.alpha is not None else 2.5 * self.eps / spec.steps
        self.x, self.y = x_val[: spec.n], y_val[: spec.n]
        self.store = store
        self.best_epoch: int | None = None
        self.best_robust = -1.0
        self.collapse_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        for record in history:
            if "val_robust" in record:
                self._update_best(record["epoch"], record["val_robust"])
                self.collapse_epoch = record.get("collapse_epoch")
        if self.best_epoch is not None and store is not None and (store / "best.safetensors").is_file():
            state = load_file(store / "best.safetensors")
            if int(state.pop("__epoch__").item()) == self.best_epoch:
                self.best_state = state

    def _update_best(self, epoch: int, robust: float) -> bool:
        if robust > self.best_robust:
            self.best_epoch, self.best_robust = epoch, robust
            return True
        return False

    @torch.no_grad()
    def _accuracy(self, model: nn.Module, epoch: int) -> tuple[float, float]:
        gen = torch.Generator(device=self.x.device).manual_seed(self.spec.seed * 100_003 + epoch)
        clean = robust = 0
        with eval_mode(model):
            for i in range(0, len(self.y), self.spec.batch_size):
                xb, yb = self.x[i : i + self.spec.batch_size], self.y[i : i + self.spec.batch_size]
                ok = model(xb).argmax(1) == yb
                with torch.enable_grad():
                    x_adv = pgd(model, xb, yb, norm=self.norm, eps=self.eps, alpha=self.alpha,
                                steps=self.spec.steps, restarts=self.spec.restarts,
                                keep_best=True, generator=gen)
                clean += int(ok.sum())
                robust += int((ok & (model(x_adv).argmax(1) == yb)).sum())
        return clean / len(self.y), robust / len(self.y)

    def after_epoch(self, model: nn.Module, epoch: int, log: logging.Logger) -> dict[str, Any]:
        """Evaluate this epoch's weights; the fields it adds to the epoch's history record."""
        clean, robust = self._accuracy(model, epoch)
        if self._update_best(epoch, robust):
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self._save_best()
        if self.collapse_epoch is None and self.best_robust - robust >= self.spec.collapse_drop:
            self.collapse_epoch = epoch
            log.warning("guard: catastrophic overfitting at epoch %d: validation robust accuracy "
                        "%.4f, %.4f below the best (epoch %d, %.4f); the best weights are kept",
                        epoch, robust, self.best_robust - robust, self.best_epoch, self.best_robust)
        log.info("guard: epoch %d validation clean %.4f robust %.4f (PGD-%d x %d, %s eps %g, %d "
                 "images); best epoch %s", epoch, clean, robust, self.spec.steps,
                 self.spec.restarts, self.norm, self.eps, len(self.y), self.best_epoch)
        return {"val_clean": clean, "val_robust": robust, "best_epoch": self.best_epoch,
                "collapsed": self.collapse_epoch is not None, "collapse_epoch": self.collapse_epoch}

    def _save_best(self) -> None:
        if self.store is None or self.best_state is None:
            return
        self.store.mkdir(parents=True, exist_ok=True)
        tmp = self.store / ".best.safetensors.tmp"
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.best_state.items()}
        tensors["__epoch__"] = torch.tensor(int(self.best_epoch or 0))
        save_file(tensors, str(tmp))
        os.replace(tmp, self.store / "best.safetensors")

    def restore_best(self, model: nn.Module, log: logging.Logger) -> None:
        """Load the best epoch's weights into ``model`` (a no-op when the last epoch is best)."""
        if self.best_state is None:
            if self.best_epoch is not None:
                log.warning("guard: the best epoch's (%d) weights are not available (resumed without "
                            "them); the last epoch's are returned", self.best_epoch)
            return
        model.load_state_dict(self.best_state)
        log.info("guard: returning epoch %d's weights (validation robust accuracy %.4f)",
                 self.best_epoch, self.best_robust)
