"""Training length by a rule fixed before the run (``docs/CLAIMS.md`` 4c): early stopping on the
validation split.

The rule (:class:`StoppingRule`; its defaults are the written rule):

* after every epoch the model is scored on the **validation split** (images held out of the training
  file, never the test set): a standard recipe by its clean accuracy on the first ``clean_n``
  (5,000) validation images, a robust recipe by its PGD-``robust_steps`` (10) accuracy at its own
  threat model (its norm and eps, step 2.5 eps / steps, one random start, every iterate counted) on
  the first ``robust_n`` (1,000), the random starts drawn from a generator seeded by ``seed`` and
  the epoch, so an epoch's score does not depend on whether the run was resumed;
* an epoch is a **gain** when its score is at least ``min_delta`` (0.001: 0.1 point) above the score
  of the last epoch that was a gain (the first epoch always is); a difference that equals
  ``min_delta`` up to floating-point rounding (1e-9) counts as a gain;
* training **stops** after ``patience`` (3) consecutive epochs without a gain, or at the **cap**:
  ``max_epochs`` (30) epochs, ``max_epochs_small`` (300) when the training set has at most
  ``small_n`` (3,000) images; there the patience is ``patience_small`` (30), scaled with the cap
  (``docs/CLAIMS.md`` 5.7: three epochs of ten steps stopped standard models a point below their plateau);
* a robust recipe's epochs that end inside its **eps warm-up** (the training eps still ramping) are
  scored and recorded but not judged: no gain, no epoch without a gain, not kept (5.7: at 1,000 images
  the warm-up lasts 30 epochs, in which PGD at the full eps finds every model non-robust);
* the weights **kept** are those of the judged epoch with the highest score (the earliest on a tie),
  which need not be the last gain.

The decision is a pure function of the scores (:func:`decide`), so a resumed run rebuilds its state
(reference, best epoch, epochs without a gain, whether it stopped) from the history its checkpoint
carries. The best epoch's weights go to the run's checkpoint folder as
``stopping-best-NNNNNN.safetensors`` before the checkpoint that records that epoch as the best is
written; older ones are removed only after a newer checkpoint is in place, so the newest checkpoint's
best weights always exist (:class:`EarlyStopping`). The rule, its decision and its cap import no
torch (:mod:`tradeoff.workflow.costing` prices a run at the cap).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # torch only where a model is scored: the rule and its cap are priced without it
    import torch
    from torch import nn

__all__ = ["REASONS", "Decision", "EarlyStopping", "StoppingRule", "decide", "stopping_hash", "summary",
           "warmup_epochs"]

_D = TypeVar("_D")


def from_known_keys(cls: type[_D], d: Mapping[str, Any], prefix: str = "") -> _D:
    """``cls(**d)`` for a dataclass ``cls``, a key of ``d`` that is not one of its fields an error naming
    the unknown and the valid keys (``prefix``: what the mapping is, e.g. ``"stopping: "``)."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{prefix}unknown keys {unknown}; valid: {sorted(known)}")
    return cls(**d)


#: Why a run stopped: ``patience`` (no gain for ``patience`` epochs), ``cap`` (the rule's epoch
#: cap), ``length`` (the config's own epochs or iterations ran out first).
REASONS = ("patience", "cap", "length")
_TOLERANCE = 1e-9  # a gain of exactly min_delta counts, whatever the float rounding of the scores
_BEST_GLOB = "stopping-best-*.safetensors"


@dataclass(frozen=True)
class StoppingRule:
    """The written rule's parameters (module docstring); the defaults are ``docs/CLAIMS.md`` 4c."""

    patience: int = 3
    patience_small: int = 30
    min_delta: float = 0.001
    max_epochs: int = 30
    small_n: int = 3000
    max_epochs_small: int = 300
    clean_n: int = 5000
    robust_n: int = 1000
    robust_steps: int = 10
    seed: int = 0
    batch_size: int = 500

    def __post_init__(self) -> None:
        for name in ("patience", "patience_small", "max_epochs", "max_epochs_small", "clean_n", "robust_n", "robust_steps",
                     "batch_size", "small_n"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"stopping.{name}: must be an int >= 1 (got {v!r})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"stopping.seed: must be an int >= 0 (got {self.seed!r})")
        if (isinstance(self.min_delta, bool) or not isinstance(self.min_delta, (int, float))
                or not math.isfinite(self.min_delta) or not 0 <= self.min_delta < 1):
            raise ValueError(f"stopping.min_delta: must be a number in [0, 1) (a fraction: 0.001 is 0.1 point; "
                             f"got {self.min_delta!r})")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StoppingRule:
        """Build from a mapping (a config's ``stopping:``); unknown keys are an error."""
        return from_known_keys(cls, d, "stopping: ")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def cap(self, n_train: int) -> int:
        """The most epochs a run on ``n_train`` training images may take."""
        return self.max_epochs_small if n_train <= self.small_n else self.max_epochs

    def patience_for(self, n_train: int) -> int:
        """Epochs without a gain that stop a run on ``n_train`` training images."""
        return self.patience_small if n_train <= self.small_n else self.patience

    def metric(self, objective: str) -> str:
        """``clean`` for a standard recipe, ``robust`` (PGD at its own threat model) otherwise."""
        return "clean" if objective == "standard" else "robust"

    def images(self, objective: str) -> int:
        """Validation images the score of a recipe of ``objective`` is computed on."""
        return self.clean_n if self.metric(objective) == "clean" else self.robust_n


@dataclass(frozen=True)
class Decision:
    """The rule's state after some epochs' scores (:func:`decide`)."""

    epoch: int
    gain: bool
    reference: float
    best_epoch: int
    best_score: float
    epochs_without_gain: int
    reason: str | None

    @property
    def stop(self) -> bool:
        return self.reason is not None


def warmup_epochs(objective: str, eps_warmup: int, n_train: int, batch_size: int) -> int:
    """Epochs of a run that end inside its eps warm-up (their last step still below the full eps): 0
    for a standard recipe (no attack) or no warm-up. Step ``i`` (0-based) trains at eps scaled by
    ``min(1, (i + 1) / eps_warmup)``, so epoch ``e`` ends at the full eps once ``e * steps >= eps_warmup``."""
    if objective == "standard" or eps_warmup <= 0:
        return 0
    steps = -(-n_train // batch_size)
    return (eps_warmup - 1) // steps


def decide(scores: Sequence[float], rule: StoppingRule, cap: int, *, patience: int | None = None,
           skip: int = 0) -> Decision:
    """The rule applied to the scores of epochs 1, 2, ... (at least one): the state after the last.
    ``patience``: the run's (:meth:`StoppingRule.patience_for`; default ``rule.patience``); ``skip``:
    the first epochs, inside the eps warm-up (:func:`warmup_epochs`), are not judged; while only they
    are scored, the best epoch is the last of them (a placeholder: a judged epoch replaces it).

    Pure: the same scores give the same decision, which is how a resumed run rebuilds it.
    """
    if not scores:
        raise ValueError("decide: needs the score of at least one epoch")
    if skip >= cap:
        raise ValueError(f"decide: the eps warm-up's {skip} epochs leave none to judge under the cap of {cap}")
    patience = rule.patience if patience is None else patience
    reference = -math.inf
    best_epoch, best = 0, -math.inf
    without = 0
    gain = False
    for epoch, score in enumerate(scores, start=1):
        if not (isinstance(score, (int, float)) and math.isfinite(score)):
            raise ValueError(f"decide: epoch {epoch}'s score is not a finite number ({score!r})")
        if epoch <= skip:
            best_epoch, best, gain = epoch, score, False
            continue
        if epoch == skip + 1:
            best = -math.inf  # the warm-up's placeholder gives way to the first judged epoch
        gain = score - reference >= rule.min_delta - _TOLERANCE
        if gain:
            reference, without = score, 0
        else:
            without += 1
        if score > best:
            best_epoch, best = epoch, score
    epoch = len(scores)
    reason = "patience" if without >= patience else "cap" if epoch >= cap else None
    return Decision(epoch, gain, reference, best_epoch, best, without, reason)


def stopping_hash(run_hash: str, rule: StoppingRule, objective: str, x_val: torch.Tensor,
                  y_val: torch.Tensor) -> str:
    """The checkpoint key of a run under ``rule``: the run's own hash, the rule and the validation
    images it scores on, so that no run resumes another's checkpoints (with another rule, none, or
    another validation split)."""
    n = rule.images(objective)
    h = hashlib.sha256()
    h.update(json.dumps({"run": run_hash, "stopping": rule.to_dict()}, sort_keys=True).encode())
    h.update(x_val[:n].contiguous().numpy().tobytes())  # the prepared CPU tensors
    h.update(y_val[:n].contiguous().numpy().tobytes())
    return h.hexdigest()


class EarlyStopping:
    """Scores each epoch, decides, keeps the best epoch's weights (module docstring).

    ``recipe``: needs ``objective``, ``norm`` and ``eps``; ``history``: the run's records so far (a
    resumed run's), from which the rule's state is rebuilt; ``store``: the run's checkpoint folder
    (None: the best weights are kept in memory only).
    """

    def __init__(self, rule: StoppingRule, recipe: Any, n_train: int, x_val: torch.Tensor, y_val: torch.Tensor,
                 history: Sequence[Mapping[str, Any]], store: Path | None = None) -> None:
        self.rule = rule
        self.kind = rule.metric(recipe.objective)
        n = rule.images(recipe.objective)
        if n > len(y_val):
            key = "clean_n" if self.kind == "clean" else "robust_n"
            raise ValueError(f"stopping.{key} = {n} exceeds the {len(y_val)} validation images")
        self.x, self.y = x_val[:n], y_val[:n]
        self.norm, self.eps = recipe.norm, float(recipe.eps)
        self.alpha = 2.5 * self.eps / rule.robust_steps
        self.cap = rule.cap(n_train)
        self.patience = rule.patience_for(n_train)
        self.skip = warmup_epochs(recipe.objective, int(getattr(recipe, "eps_warmup", 0)), n_train,
                                  int(getattr(recipe, "batch_size", 1)))
        self.store = store
        self.scores = [float(r["val_metric"]) for r in history]
        self.decision = self._decide() if self.scores else None
        self.best_state: dict[str, torch.Tensor] | None = None
        if store is not None and self.decision is None:  # a fresh run: anything here is another run's
            for old in store.glob(_BEST_GLOB):
                old.unlink(missing_ok=True)
        if self.decision is not None and store is not None:
            path = self._path(self.decision.best_epoch)
            if not path.is_file():
                raise ValueError(f"{store}: the stopping rule's best weights (epoch {self.decision.best_epoch}, "
                                 f"{path.name}) are missing, and the newest checkpoint needs them; remove {store} "
                                 "to train this model afresh")
            self.best_state = _load(path, self.decision.best_epoch)

    def _decide(self) -> Decision:
        return decide(self.scores, self.rule, self.cap, patience=self.patience, skip=self.skip)

    @property
    def stopped(self) -> bool:
        return self.decision is not None and self.decision.stop

    def _path(self, epoch: int) -> Path:
        assert self.store is not None
        return self.store / f"stopping-best-{epoch:06d}.safetensors"

    def score(self, model: nn.Module, epoch: int) -> float:
        """This epoch's score on the validation images (module docstring)."""
        import torch

        from tradeoff.adversarial.attacks import eval_mode, pgd

        gen = torch.Generator(device=self.x.device).manual_seed(self.rule.seed * 100_003 + epoch)
        right = 0
        bs = self.rule.batch_size
        with eval_mode(model), torch.no_grad():
            for i in range(0, len(self.y), bs):
                xb, yb = self.x[i : i + bs], self.y[i : i + bs]
                ok = model(xb).argmax(1) == yb
                if self.kind == "robust":
                    with torch.enable_grad():
                        x_adv = pgd(model, xb, yb, norm=self.norm, eps=self.eps, alpha=self.alpha,
                                    steps=self.rule.robust_steps, restarts=1, keep_best=True, generator=gen)
                    ok &= model(x_adv).argmax(1) == yb
                right += int(ok.sum())
        return right / len(self.y)

    def after_epoch(self, model: nn.Module, epoch: int, log: logging.Logger) -> dict[str, Any]:
        """Score and decide after ``epoch``; the fields it adds to the epoch's history record."""
        if epoch != len(self.scores) + 1:
            raise ValueError(f"stopping: epoch {epoch} follows {len(self.scores)} scored epochs")
        score = self.score(model, epoch)
        self.scores.append(score)
        d = self._decide()
        self.decision = d
        if d.best_epoch == epoch:
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if self.store is not None:
                _save(self._path(epoch), self.best_state, epoch)
        what = "clean" if self.kind == "clean" else f"PGD-{self.rule.robust_steps} {self.norm} eps {self.eps:g}"
        log.info("stopping: epoch %d validation %s %.4f (%d images)%s; best epoch %d (%.4f); %d epoch(s) "
                 "without a gain of %g%s%s", epoch, what, score, len(self.y), " gain" if d.gain else "",
                 d.best_epoch, d.best_score, d.epochs_without_gain, self.rule.min_delta,
                 f" (eps warm-up: not judged, {self.skip} epochs)" if epoch <= self.skip else "",
                 f"; stops: {d.reason}" if d.stop else "")
        return {"val_metric": score, "val_metric_kind": self.kind, "val_metric_n": len(self.y),
                "stopping_gain": d.gain, "stopping_best_epoch": d.best_epoch,
                "stopping_epochs_without_gain": d.epochs_without_gain, "stopping_reason": d.reason}

    def after_checkpoint(self) -> None:
        """A checkpoint is in place: the best weights of earlier epochs are no longer needed."""
        if self.store is None or self.decision is None:
            return
        keep = self._path(self.decision.best_epoch).name
        for old in self.store.glob(_BEST_GLOB):
            if old.name != keep:
                old.unlink(missing_ok=True)

    def restore_best(self, model: nn.Module, log: logging.Logger) -> None:
        """Load the best epoch's weights into ``model``."""
        if self.decision is None or self.best_state is None:
            return
        model.load_state_dict(self.best_state)
        log.info("stopping: returning epoch %d's weights (validation %s %.4f) after %d epoch(s)%s",
                 self.decision.best_epoch, self.kind, self.decision.best_score, self.decision.epoch,
                 f", stopped by {self.decision.reason}" if self.decision.stop else "")


def summary(rule: StoppingRule, objective: str, n_train: int, history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``history.json`` says once, at its top: the rule, its cap for this run, the metric, the
    epochs trained, the best epoch and its score, and why training ended."""
    if not history:
        raise ValueError("stopping.summary: empty history")
    last = history[-1]
    return {"rule": rule.to_dict(), "cap": rule.cap(n_train), "patience": rule.patience_for(n_train),
            "metric": rule.metric(objective),
            "metric_n": rule.images(objective), "epochs_trained": int(last["epoch"]),
            "best_epoch": int(last["stopping_best_epoch"]),
            "best_score": float(history[int(last["stopping_best_epoch"]) - 1]["val_metric"]),
            "reason": last["stopping_reason"] or "length",
            "scores": [float(r["val_metric"]) for r in history]}


def _save(path: Path, state: Mapping[str, torch.Tensor], epoch: int) -> None:
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    tensors["__epoch__"] = torch.tensor(int(epoch))
    save_file(tensors, str(tmp))
    os.replace(tmp, path)


def _load(path: Path, epoch: int) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = load_file(str(path))
    found = int(state.pop("__epoch__").item())
    if found != epoch:
        raise ValueError(f"{path}: holds epoch {found}'s weights, not epoch {epoch}'s")
    return state
