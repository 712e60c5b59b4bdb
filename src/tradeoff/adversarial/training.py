"""Standard, PGD (Madry et al. 2018) and TRADES (Zhang et al. 2019) training with exact resume.

Choices, stated once:

* **Length.** A config fixes either ``epochs`` or ``iterations`` (optimizer steps), never both.
  With ``iterations`` the number of steps is held fixed whatever the training-set size (Madry:
  100,000 steps of batch 50) and the last epoch may be partial; with ``epochs`` a run takes
  ``epochs * ceil(n / batch_size)`` steps. Each epoch is a fresh permutation; its last batch may be
  smaller.
* **Attack mode.** Adversarial examples are computed with the model in eval mode (what the TRADES
  reference code does; the ``attacks.pgd`` default), the update in train mode. Our models have no
  batch-norm or dropout, so this is identical to Madry's train-mode attack.
* **Madry PGD.** Inner ``attacks.pgd(..., keep_best=False)``: the last iterate of one start.
* **TRADES** (l_inf only, as in the reference ``trades.py``): start ``x + 0.001 * N(0, I)``
  (unclipped), ``steps`` ascent steps of size ``alpha`` on ``KL(f(x) || f(x'))`` (summed over the
  batch), each projected to the eps-ball and [0, 1]; loss ``CE(f(x), y) + beta * KL(f(x) ||
  f(x_adv))`` (batch mean, gradient through both arms). Needs ``random_start=True`` (at ``x`` itself
  the KL gradient is exactly zero).
* **Levers** (speed, not science; :func:`tradeoff.runtime.resolve_levers`). ``precision: bf16``
  is autocast of the forward passes of both the attack and the update, on CUDA or on a CPU with
  bf16 hardware (AVX512-BF16 or AMX-BF16); a CPU without it runs fp32 and says so in the log and
  the provenance (emulated bf16 is slower than fp32). ``channels_last`` stores the model's
  weights and activations NHWC (the same arithmetic in another order); ``compile`` runs the
  forward passes through ``torch.compile``. bf16 is opt-in per recipe: a recipe uses it only
  where the acceptance run of ``bench/RESULTS.md`` found it keeps the recipe's robustness. The
  levers actually used enter the config hash when they are not the defaults, so old hashes stay.
* **Randomness.** The seed is expanded (``numpy.random.SeedSequence``) into three streams: the
  torch global RNG (model initialisation), the data-order generator and the attack generator
  (random starts; a CPU generator, so starts do not depend on the device). These, plus numpy's and
  Python's global RNGs, are checkpointed, so a run killed and resumed equals an uninterrupted one
  bit for bit on the CPU for a fixed thread count (set by the caller, e.g.
  ``runtime.limit_threads``). With ``deterministic`` (default) torch's deterministic algorithms are
  on for the run (warn-only; on CUDA also cuDNN deterministic and ``CUBLAS_WORKSPACE_CONFIG``).
* **One loop, two steps.** :func:`train` reads: build (seeded model, optimizer, generators),
  resume or start, run epochs, checkpoint, report. Each iteration calls ``step.step(idx, scale)``
  of a :class:`tradeoff.adversarial.objectives.Step`; the loss of every objective is defined once
  in :mod:`tradeoff.adversarial.objectives`. ``engine`` picks the step: ``eager`` is
  :class:`EagerStep` (``attacks.pgd`` as the inner attack, a CPU attack generator), ``graph`` is
  :class:`tradeoff.adversarial.engine.TrainStep` (device-resident data, device attack generator,
  one CUDA graph per iteration, capturable fused Adam; on the CPU the same body runs eagerly),
  ``auto`` (default) is ``graph`` on CUDA and ``eager`` on the CPU, so CPU runs are unchanged.
  The two draw their random starts from different generators, so their runs differ like two
  seeds do; the resolved engine is part of the config hash when it is not ``eager``
  (checkpoints of one never resume the other). With ``deterministic=False`` the graph engine
  also turns on cuDNN autotuning.
* **Checkpoints** go to ``checkpoint_dir/<config hash[:16]>/epoch-NNNNNN.safetensors`` (see
  :mod:`tradeoff.nets.checkpoints`) at the end of every epoch (or at most every
  ``checkpoint_interval_s``); the newest ``keep_checkpoints`` are kept.
  The hash covers the config (device resolved) and a fingerprint of the training data, so a run
  resumes only from its own checkpoints; a different config or dataset starts fresh in its own
  subdirectory and leaves the others alone. An unreadable newest checkpoint is an error, not a
  silent restart; a sound checkpoint in an older checkpoint format is not damage: the run starts
  fresh with one log line saying why, and the run's old-format checkpoints are removed.
  Each checkpoint also records its *identity* beyond config and data: the hash of the training
  code (this module and every package module it imports, :func:`training_identity`) and the torch
  version. A checkpoint whose identity differs from the running code's is not resumed (it would
  hand back what the other code computed): the run starts fresh with one log line naming what
  changed, and removes that folder's checkpoints. The CPU is recorded in each checkpoint, not keyed
  (it changes from machine to machine).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tradeoff.adversarial.attacks import NORMS, fgsm_rs, nfgsm, pgd
from tradeoff.adversarial.engine import (
    ENGINES,
    EngineOptions,
    TrainStep,
    make_fast_optimizer,
    resolve_engine,
)
from tradeoff.adversarial.guard import Guard, GuardSpec
from tradeoff.adversarial.objectives import (
    OBJECTIVES,
    Outcome,
    Parts,
    Step,
    trades_attack,
    update,
)
from tradeoff.adversarial.progress import ProgressLog
from tradeoff.adversarial.schedules import check_schedule, lr_at
from tradeoff.adversarial.stopping import EarlyStopping, StoppingRule, stopping_hash
from tradeoff.datasets.spec import MNIST, ImageSpec
from tradeoff.nets.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointFormatError,
    CheckpointIdentityError,
    load_checkpoint,
    save_checkpoint,
)
from tradeoff.nets.device import resolve_device
from tradeoff.nets.models import INITS, MODEL_NAMES, build_model
from tradeoff.runtime import Levers, cpu_capabilities, resolve_levers

__all__ = ["OBJECTIVES", "EagerStep", "TrainConfig", "config_hash", "run_config", "trades_attack", "train",
           "training_identity"]

_CKPT_GLOB = "epoch-*.safetensors"
EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model besides the data: a complete recipe, no defaults
    of its own (the schema's ``$defs/recipe_base`` holds every default:
    :func:`tradeoff.workflow.config.recipe_defaults`; the planner fills them in, :func:`from_dict` refuses a
    mapping that lacks a field).

    ``alpha`` is the attack step size, ``trades_beta`` TRADES' beta (1/lambda), ``momentum`` is for
    SGD only. Set exactly one of ``epochs`` / ``iterations``. ``device``: auto, cpu, cuda, cuda:N.
    ``eps_warmup``: the training attack's eps and step size ramp linearly from 1/eps_warmup of their
    values to their full values over the first ``eps_warmup`` iterations (0: no ramp); short runs at
    large eps otherwise stall at chance accuracy. ``engine``: auto, eager or graph (module
    docstring). ``nfgsm_noise``: N-FGSM's noise, in multiples of eps. ``lr_schedule``: a
    :mod:`tradeoff.adversarial.schedules` mapping (None: constant). ``guard``: a
    :class:`tradeoff.adversarial.guard.GuardSpec` mapping (None: no guard; needs validation data).
    ``init``: the model's initialisation, ``torch`` or ``madry`` (truncated normal std 0.1,
    bias 0.1: :func:`tradeoff.nets.models.madry_init`); it enters the config hash only when not
    ``torch``, so existing checkpoints keep their hashes.
    """

    model: str
    objective: str
    norm: str
    eps: float
    alpha: float
    steps: int
    random_start: bool
    trades_beta: float
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int | None
    iterations: int | None
    seed: int
    device: str
    precision: str
    deterministic: bool
    eps_warmup: int
    engine: str
    nfgsm_noise: float
    lr_schedule: Mapping[str, Any] | None
    guard: Mapping[str, Any] | None
    channels_last: bool
    compile: bool
    init: str

    def __post_init__(self) -> None:
        def bad(field: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{field}: {why} (got {getattr(self, field)!r})")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.model not in MODEL_NAMES:
            raise bad("model", f"unknown model; valid: {', '.join(MODEL_NAMES)}")
        if self.objective not in OBJECTIVES:
            raise bad("objective", f"valid: {', '.join(OBJECTIVES)}")
        if self.norm not in NORMS:
            raise bad("norm", f"valid: {', '.join(NORMS)}")
        objective = OBJECTIVES[self.objective]
        if self.norm not in objective.norms:
            raise bad("norm", f"{self.objective.upper()} is implemented for "
                      f"{', '.join(objective.norms)} only (as in the reference code)")
        if objective.needs_random_start and not self.random_start:
            raise bad("random_start", f"{self.objective.upper()} needs its random start")
        if objective.max_steps is not None and self.steps > objective.max_steps:
            raise bad("steps", f"objective {self.objective!r} takes at most {objective.max_steps}")
        if not (isinstance(self.nfgsm_noise, (int, float)) and math.isfinite(self.nfgsm_noise)
                and self.nfgsm_noise >= 0):
            raise bad("nfgsm_noise", "must be a finite number >= 0")
        if self.lr_schedule is not None:
            try:
                check_schedule(self.lr_schedule)
            except ValueError as err:
                raise bad("lr_schedule", str(err)) from None
        if self.guard is not None:
            try:
                GuardSpec.from_dict(self.guard)
            except (TypeError, ValueError) as err:
                raise bad("guard", str(err)) from None
        for f in ("eps", "alpha", "trades_beta", "weight_decay", "momentum", "lr"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise bad(f, "must be a finite number >= 0")
        if self.lr == 0:
            raise bad("lr", "must be > 0")
        if not is_int(self.steps) or self.steps < 0:
            raise bad("steps", "must be an int >= 0")
        if self.objective != "standard" and (self.eps <= 0 or self.steps < 1 or self.alpha <= 0):
            raise bad("eps", f"objective {self.objective!r} needs eps, alpha > 0 and steps >= 1")
        if self.optimizer not in ("adam", "sgd"):
            raise bad("optimizer", "valid: adam, sgd")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise bad("batch_size", "must be an int >= 1")
        if (self.epochs is None) == (self.iterations is None):
            raise ValueError(
                "TrainConfig: set exactly one of epochs / iterations "
                f"(got epochs={self.epochs}, iterations={self.iterations})"
            )
        for f in ("epochs", "iterations"):
            v = getattr(self, f)
            if v is not None and (not is_int(v) or v < 1):
                raise bad(f, "must be an int >= 1")
        if not is_int(self.eps_warmup) or self.eps_warmup < 0:
            raise bad("eps_warmup", "must be an int >= 0")
        if not is_int(self.seed) or self.seed < 0:
            raise bad("seed", "must be an int >= 0")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise bad("device", "valid: auto, cpu, cuda, cuda:N")
        if self.precision not in ("fp32", "bf16"):
            raise bad("precision", "valid: fp32, bf16")
        for f in ("channels_last", "compile"):
            if not isinstance(getattr(self, f), bool):
                raise bad(f, "must be true or false")
        if self.engine not in ENGINES:
            raise bad("engine", f"valid: {', '.join(ENGINES)}")
        if self.init not in INITS:
            raise bad("init", f"valid: {', '.join(INITS)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build from a complete recipe: every field, except that the one of ``epochs`` /
        ``iterations`` a recipe does not set may be absent (it is None). Unknown or missing keys
        are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}; valid: {sorted(known)}")
        length = dict.fromkeys({"epochs", "iterations"} - set(d))  # a recipe sets one (checked below)
        missing = sorted(known - set(d) - set(length))
        if missing:
            raise ValueError(f"TrainConfig: missing keys {missing}; a recipe is complete "
                             "(tradeoff.workflow.config.recipe_defaults: the schema's default of every recipe key)")
        return cls(**{**length, **d})


def _prepare_data(
    x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, spec: ImageSpec = MNIST
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of ``spec``'s shape ((N,H,W) for one channel, or (N,C,H,W)), uint8 or float in
    [0,1] -> float32 (N,C,H,W); labels -> int64 (N,) in 0..n_classes-1."""
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    if x.dim() == 3 and spec.channels == 1:
        x = x.unsqueeze(1)
    if x.dim() != 4 or tuple(x.shape[1:]) != spec.shape or x.shape[0] == 0:
        c, h, w = spec.shape
        one = f"(N, {h}, {w}) or " if c == 1 else ""
        raise ValueError(f"x_train must be {one}(N, {c}, {h}, {w}), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    elif x.is_floating_point():
        x = x.to(torch.float32)
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise ValueError("float x_train must lie in [0, 1]")
    else:
        raise ValueError(f"x_train must be uint8 or floating point, got {x.dtype}")
    if y.dim() != 1 or y.shape[0] != x.shape[0] or y.is_floating_point():
        raise ValueError(
            f"y_train must be integer labels of shape ({x.shape[0]},), "
            f"got {y.dtype} {tuple(y.shape)}"
        )
    y = y.to(torch.int64)
    if y.min() < 0 or y.max() >= spec.n_classes:
        raise ValueError(f"y_train labels must lie in 0..{spec.n_classes - 1}")
    return x.contiguous(), y.contiguous()


def config_hash(cfg: TrainConfig, device: torch.device, x: torch.Tensor, y: torch.Tensor) -> str:
    """sha256 of the config (device and engine resolved) and of the prepared (CPU) data.

    The engine enters the hash only when it resolves to ``graph``, and the ``channels_last`` and
    ``compile`` levers only when on, so runs keep the hashes (and checkpoint folders) they had
    before these existed. ``cfg.precision`` must be the precision the run uses
    (:func:`run_config`).
    """
    h = hashlib.sha256()
    d = cfg.to_dict()
    d["device"] = device.type
    engine = resolve_engine(d.pop("engine"), device)
    if engine != "eager":
        d["engine"] = engine
    for lever in ("channels_last", "compile"):  # in the hash only when on: old hashes stay
        if not d[lever]:
            del d[lever]
    if d["init"] == "torch":  # the default before the field existed: hashes (checkpoint folders) unchanged
        del d["init"]
    h.update(json.dumps({"format": 1, "config": d}, sort_keys=True).encode())
    h.update(x.numpy().tobytes())
    h.update(y.numpy().tobytes())
    return h.hexdigest()


def training_identity() -> dict[str, str]:
    """What besides config and data decides a run's weights: the training code's hash (this module
    and every package module it imports, :func:`tradeoff.provenance.code_hash`) and the torch
    version. A checkpoint resumes only under the same identity (module docstring)."""
    # imported by name, not by an import statement: the hashing code is not training code, and an
    # import statement would put it into the hash of every rule that trains
    provenance = importlib.import_module("tradeoff.provenance")
    return {"code": provenance.code_hash(__name__), "torch": torch.__version__}


@contextmanager
def _determinism(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels for the block (warn-only where none exists); flags restored after."""
    prev = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    prev_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if enabled:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev_cudnn


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _autocast(precision: str, device: torch.device) -> Callable[[], AbstractContextManager[Any]]:
    """bf16: autocast on the run's device (CUDA or a CPU with bf16 hardware); fp32: nothing."""
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext


def run_config(cfg: TrainConfig, device: torch.device,
               caps: Mapping[str, bool] | None = None) -> tuple[TrainConfig, Levers]:
    """The config as it runs on ``device`` (its precision resolved by the capability check of
    :func:`tradeoff.runtime.resolve_levers`) and the levers it uses (for the provenance)."""
    levers = resolve_levers(cfg.precision, device.type, channels_last=cfg.channels_last,
                            compile=cfg.compile, caps=caps)
    return dataclasses.replace(cfg, precision=levers.precision), levers


def _eager_step(
    cfg: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    attack_gen: torch.Generator | None,
    autocast: Callable[[], AbstractContextManager[Any]],
    scale: float = 1.0,
) -> Outcome:
    """One eager optimizer step on the batch. The loss is the objective's
    (:mod:`tradeoff.adversarial.objectives`); the inner maximisation is the reference code:
    ``attacks.pgd`` for PGD, :func:`trades_attack` drawing its start from ``attack_gen`` for
    TRADES. ``scale`` multiplies the attack's eps and step size (the eps warm-up)."""
    eps, alpha = cfg.eps * scale, cfg.alpha * scale
    objective = OBJECTIVES[cfg.objective]

    def inner(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast():
            if objective.inner == "kl":
                return trades_attack(model, x, eps=eps, alpha=alpha, steps=cfg.steps,
                                     generator=attack_gen)
            if objective.inner == "nfgsm":
                return nfgsm(model, x, y, eps=eps, alpha=alpha, noise_mult=cfg.nfgsm_noise,
                             generator=attack_gen)
            if objective.inner == "fgsm_rs":
                return fgsm_rs(model, x, y, eps=eps, alpha=alpha, random_start=cfg.random_start,
                               generator=attack_gen)
            return pgd(model, x, y, norm=cfg.norm, eps=eps, alpha=alpha, steps=cfg.steps,
                       random_start=cfg.random_start, restarts=1, keep_best=False,
                       generator=attack_gen)

    out = objective.loss(Parts(model, model, autocast, inner, cfg.trades_beta), xb, yb)
    update(optimizer, out.loss)
    return out


def _train_step(
    cfg: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    attack_gen: torch.Generator | None,
    autocast: Callable[[], AbstractContextManager[Any]],
    scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`_eager_step`, returning (summed loss, #clean correct, #adversarial correct or
    None) (the reference the engine's tests and benchmarks compare with)."""
    out = _eager_step(cfg, model, optimizer, xb, yb, attack_gen, autocast, scale)
    return out.loss.detach() * xb.shape[0], out.clean_correct, out.adv_correct


class EagerStep(Step):
    """The reference training step (:class:`tradeoff.adversarial.objectives.Step` interface):
    :func:`_eager_step` on ``x[idx]``, one op at a time, random starts from ``generator``."""

    def __init__(self, recipe: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                 x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> None:
        super().__init__(recipe, model, optimizer, x, y, generator)
        self._autocast = _autocast(recipe.precision, x.device)
        # compile: the forward passes (attack and update) go through the compiled module, which
        # shares the model's parameters (the optimizer's) and its train/eval flag
        self._forward: nn.Module = (torch.compile(model, dynamic=False)  # type: ignore[assignment]
                                    if recipe.compile else model)

    def step(self, idx: torch.Tensor, scale: float = 1.0) -> None:
        """One optimizer step on the examples ``idx``, the attack at ``scale``."""
        assert isinstance(self.recipe, TrainConfig)
        out = _eager_step(self.recipe, self._forward, self.optimizer, self.x[idx], self.y[idx],
                          self.generator, self._autocast, scale)
        self._totals.add(out, idx.numel())


@dataclass
class _Run:
    """The state train() carries from epoch to epoch."""

    cfg: TrainConfig
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    generators: dict[str, torch.Generator]
    total: int
    epoch: int = 0
    iteration: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _build(cfg: TrainConfig, device: torch.device, engine: str, total: int,
           spec: ImageSpec) -> _Run:
    """Seed, build the model, its optimizer and the data-order and attack generators."""
    seeds = np.random.SeedSequence(cfg.seed).generate_state(3)
    torch.manual_seed(int(seeds[0]))
    model = build_model(cfg.model, spec, init=cfg.init).to(device)
    if cfg.channels_last:  # in place: the parameters (and so the optimizer's) stay the same objects
        model = model.to(memory_format=torch.channels_last)
    if engine == "eager":
        optimizer = _make_optimizer(cfg, model)
        attack_gen = torch.Generator().manual_seed(int(seeds[2]))
    else:
        optimizer = make_fast_optimizer(cfg.optimizer, model, lr=cfg.lr, momentum=cfg.momentum,
                                        weight_decay=cfg.weight_decay, device=device)
        attack_gen = torch.Generator(device=device).manual_seed(int(seeds[2]))
    data_gen = torch.Generator().manual_seed(int(seeds[1]))
    return _Run(cfg, device, model, optimizer, {"data": data_gen, "attack": attack_gen}, total)


def _resume_or_start(run: _Run, run_dir: Path, run_hash: str, log: logging.Logger,
                     identity: Mapping[str, str] | None = None) -> None:
    """Resume ``run`` from the newest checkpoint in ``run_dir``, if any (module docstring)."""
    for stale in run_dir.glob(".epoch-*.tmp"):  # left by a writer killed mid-write
        stale.unlink(missing_ok=True)
    found = sorted(run_dir.glob(_CKPT_GLOB))
    if found:
        try:
            state = load_checkpoint(found[-1], model=run.model, optimizer=run.optimizer,
                                    generators=run.generators, model_name=run.cfg.model,
                                    config_hash=run_hash, identity=identity)
        except CheckpointIdentityError as err:
            for old in found:
                old.unlink(missing_ok=True)
            log.info("starting fresh: %s was %s (%d checkpoint(s) of the other code removed)",
                     found[-1], err.problem, len(found))
            return
        except CheckpointFormatError as err:
            for old in found:
                old.unlink(missing_ok=True)
            log.info("starting fresh: %s is in checkpoint format %r, this version writes %r "
                     "(%d old checkpoint(s) removed)", found[-1], err.found, CHECKPOINT_FORMAT,
                     len(found))
            return
        run.epoch, run.iteration, run.history = state.epoch, state.iteration, list(state.metrics)
        log.info("resuming from %s (epoch %d, iteration %d of %d)", found[-1], run.epoch,
                 run.iteration, run.total)
        return
    others = sorted(p.name for p in run_dir.parent.glob("*/") if p != run_dir)
    if others:
        log.info("checkpoints of other configurations in %s ignored: %s", run_dir.parent,
                 ", ".join(others))
    log.info("starting fresh; checkpoints go to %s", run_dir)


def _make_step(run: _Run, engine: str, x: torch.Tensor, y: torch.Tensor,
               log: logging.Logger) -> Step:
    """The run's training step: the eager reference or the engine's (module docstring)."""
    attack_gen = run.generators["attack"]
    if engine == "eager":
        return EagerStep(run.cfg, run.model, run.optimizer, x, y, attack_gen)
    log.info("engine: graph (%s)", "one CUDA graph per iteration" if run.device.type == "cuda"
             else "the engine's step, eagerly: no CUDA")
    return TrainStep(run.cfg, run.model, run.optimizer, x, y, attack_gen,
                     EngineOptions(precision=run.cfg.precision))


def _run_epoch(run: _Run, step: Step, n: int, bar: Any, ticker: ProgressLog | None = None) -> dict[str, Any]:
    """One epoch (or what is left of the run's iterations); returns its history record."""
    cfg = run.cfg
    run.epoch += 1
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=run.generators["data"]).to(run.device)
    step.reset_totals()
    seen = 0
    for start in range(0, n, cfg.batch_size):
        if run.iteration >= run.total:
            break
        idx = perm[start : start + cfg.batch_size]
        if cfg.lr_schedule is not None:
            _set_lr(run.optimizer, lr_at(cfg.lr_schedule, cfg.lr, run.iteration, run.total))
        scale = min(1.0, (run.iteration + 1) / cfg.eps_warmup) if cfg.eps_warmup else 1.0
        step.step(idx, scale)
        seen += idx.numel()
        run.iteration += 1
        if bar is not None:
            bar.update(1)
        if ticker is not None:
            ticker.update(run.iteration, idx.numel())
    loss_sum, clean, adv = step.totals()
    seconds = time.perf_counter() - t0
    return {
        "epoch": run.epoch,
        "iteration": run.iteration,
        "loss": loss_sum.item() / seen,  # .item() waits for the device
        "clean_acc": clean.item() / seen,
        "adv_acc": adv.item() / seen if cfg.objective != "standard" else None,
        "examples_per_s": seen / max(seconds, 1e-9),
        "seconds": seconds,
    }


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@dataclass(frozen=True)
class _Saving:
    """Where and how often train() checkpoints (``run_dir`` None: never)."""

    run_dir: Path | None
    run_hash: str
    keep: int
    interval_s: float
    identity: Mapping[str, str] | None = None
    recorded: Mapping[str, Any] | None = None


def _checkpoint(run: _Run, saving: _Saving) -> None:
    """Write this epoch's checkpoint; keep the newest ``saving.keep``."""
    assert saving.run_dir is not None
    save_checkpoint(saving.run_dir / f"epoch-{run.epoch:06d}.safetensors", model=run.model,
                    optimizer=run.optimizer, model_name=run.cfg.model, epoch=run.epoch,
                    iteration=run.iteration, generators=run.generators, metrics=run.history,
                    config=run.cfg.to_dict(), config_hash=saving.run_hash, identity=saving.identity,
                    recorded=saving.recorded)
    for old in sorted(saving.run_dir.glob(_CKPT_GLOB))[: -max(1, saving.keep)]:
        old.unlink(missing_ok=True)


def _run_epochs(run: _Run, step: Step, n: int, saving: _Saving, log: logging.Logger,
                progress: bool, on_epoch_end: EpochCallback | None,
                guard: Guard | None = None, stopper: EarlyStopping | None = None) -> None:
    """Epochs until the run's iterations are done or the stopping rule stops it: train, guard or
    score, checkpoint when due, report."""
    last_saved = time.monotonic()
    bar = _progress_bar(progress, run.total, run.iteration)
    ticker = ProgressLog(run.total, run.iteration, log=log, what="iterations",
                         note="" if stopper is None else " (to the stopping rule's cap; it may stop sooner)")
    try:
        while run.iteration < run.total and not (stopper is not None and stopper.stopped):
            run.history.append(_run_epoch(run, step, n, bar, ticker))
            if guard is not None:
                run.history[-1].update(guard.after_epoch(run.model, run.epoch, log))
            if stopper is not None:
                run.history[-1].update(stopper.after_epoch(run.model, run.epoch, log))
            due = (time.monotonic() - last_saved >= saving.interval_s
                   or run.iteration >= run.total or (stopper is not None and stopper.stopped))
            if saving.run_dir is not None and due:
                _checkpoint(run, saving)
                last_saved = time.monotonic()
                if stopper is not None:
                    stopper.after_checkpoint()
            _report(log, run, run.history[-1])
            if on_epoch_end is not None:
                on_epoch_end(run.epoch, run.history[-1])
    finally:
        if bar is not None:
            bar.close()


def _check_stopping(cfg: TrainConfig, stopping: StoppingRule | None,
                    validation: tuple[Any, Any] | None) -> None:
    """The stopping rule needs validation images and is the only thing that picks the epoch."""
    if stopping is None:
        return
    if validation is None:
        raise ValueError("stopping: the rule scores every epoch on validation data (train(..., validation=(x, y)))")
    if cfg.guard is not None:
        raise ValueError("stopping: not with TrainConfig.guard (both pick the epoch whose weights are returned; "
                         "the rule's own validation score keeps a robust recipe's pre-collapse weights)")


def _report(log: logging.Logger, run: _Run, record: dict[str, Any]) -> None:
    adv_txt = "n/a" if record["adv_acc"] is None else f"{record['adv_acc']:.4f}"
    log.info("epoch %d iteration %d/%d loss %.4f clean_acc %.4f adv_acc %s examples/s %.1f",
             run.epoch, run.iteration, run.total, record["loss"], record["clean_acc"], adv_txt,
             record["examples_per_s"])


def _progress_bar(enabled: bool, total: int, initial: int) -> Any:
    if not (enabled and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="it", file=sys.stderr)


def _run_hash(cfg: TrainConfig, device: torch.device, x: torch.Tensor, y: torch.Tensor,
              val: tuple[torch.Tensor, torch.Tensor] | None, stopping: StoppingRule | None) -> str:
    """The checkpoint key: config, device and data; with the stopping rule, the rule and its
    validation images too."""
    run_hash = config_hash(cfg, device, x, y)
    if stopping is not None and val is not None:
        run_hash = stopping_hash(run_hash, stopping, cfg.objective, *val)
    return run_hash


def _saving(checkpoint_dir: str | os.PathLike[str] | None, run_hash: str, keep: int, interval_s: float) -> _Saving:
    """Where and how often this run's checkpoints go (nowhere without ``checkpoint_dir``), with the
    training code's identity they carry and the machine they record."""
    run_dir = Path(checkpoint_dir) / run_hash[:16] if checkpoint_dir is not None else None
    identity = training_identity() if run_dir is not None else None
    recorded = {"machine": platform.machine(), "cpu": cpu_capabilities()} if run_dir is not None else None
    return _Saving(run_dir, run_hash, keep, interval_s, identity, recorded)


def _validators(cfg: TrainConfig, stopping: StoppingRule | None, val: tuple[torch.Tensor, torch.Tensor] | None,
                device: torch.device, n: int, history: list[dict[str, Any]],
                store: Path | None) -> tuple[Guard | None, EarlyStopping | None]:
    """The guard against catastrophic overfitting (``cfg.guard``) and the stopping rule, each on the
    validation images, where asked for."""
    guard = stopper = None
    if cfg.guard is not None and val is not None:
        guard = Guard(GuardSpec.from_dict(cfg.guard), cfg, val[0].to(device), val[1].to(device), history,
                      store=store)
    if stopping is not None and val is not None:
        stopper = EarlyStopping(stopping, cfg, n, val[0].to(device), val[1].to(device), history, store=store)
    return guard, stopper


def train(
    cfg: TrainConfig,
    x_train: torch.Tensor | np.ndarray,
    y_train: torch.Tensor | np.ndarray,
    *,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    log: logging.Logger | None = None,
    progress: bool = False,
    keep_checkpoints: int = 2,
    checkpoint_interval_s: float = 0.0,
    on_epoch_end: EpochCallback | None = None,
    dataset: ImageSpec = MNIST,
    validation: tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray] | None = None,
    stopping: StoppingRule | None = None,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train per ``cfg``, checkpointing every epoch and resuming from this run's newest checkpoint.

    Returns the model (eval mode, on the training device) and the per-epoch history (``epoch``,
    ``iteration``, ``loss``, ``clean_acc``, ``adv_acc``, ``examples_per_s``, ``seconds``). A checkpoint
    ends every epoch, or with ``checkpoint_interval_s > 0`` the first epoch that long after the last
    (and the last one); resuming is exact from any of them. ``on_epoch_end(epoch, record)`` runs after
    that checkpoint. ``log`` gets a line per epoch and progress lines (percentage, examples/s, ETA) at
    least every 30 s; a tqdm bar only if ``progress`` and stderr is a TTY. Without ``checkpoint_dir``
    nothing is written. Seeds (or restores) the global torch RNG. ``dataset``: image shape and classes.
    ``validation`` (images, labels): attacked after every epoch by the guard (``cfg.guard``,
    :mod:`tradeoff.adversarial.guard`: the best validation-robust epoch's weights are returned;
    records get ``val_clean``, ``val_robust``, ``best_epoch``, ``collapsed``) or scored by the
    ``stopping`` rule (:mod:`tradeoff.adversarial.stopping`, not with the guard: the run ends when it
    says, the best epoch's weights are returned, records get ``val_metric`` and the rule's state; the
    rule and its images enter the checkpoint key, so a killed run resumes exactly).
    """
    log = log or logging.getLogger("tradeoff.adversarial.training")
    device = resolve_device(cfg.device)
    cfg, levers = run_config(cfg, device)
    if levers.dropped:
        log.warning("levers: %s", levers.dropped)
    log.info("levers: %s", levers.to_dict())
    if cfg.guard is not None and validation is None:
        raise ValueError("TrainConfig.guard needs validation data (train(..., validation=(x, y)))")
    _check_stopping(cfg, stopping, validation)
    x_cpu, y_cpu = _prepare_data(x_train, y_train, dataset)
    n = x_cpu.shape[0]
    val_cpu = _prepare_data(*validation, dataset) if validation is not None else None
    run_hash = _run_hash(cfg, device, x_cpu, y_cpu, val_cpu, stopping)
    total = cfg.iterations or cfg.epochs * math.ceil(n / cfg.batch_size)  # type: ignore[operator]
    engine = resolve_engine(cfg.engine, device)
    if cfg.lr_schedule is not None and engine == "graph" and device.type == "cuda":
        raise ValueError("lr_schedule: not supported on the CUDA-graph engine yet (the captured "
                         "optimizer step holds the learning rate); use engine 'eager'")
    saving = _saving(checkpoint_dir, run_hash, keep_checkpoints, checkpoint_interval_s)
    with _determinism(cfg.deterministic, device):
        if engine == "graph" and device.type == "cuda" and not cfg.deterministic:
            torch.backends.cudnn.benchmark = True  # restored by _determinism
        run = _build(cfg, device, engine, total, dataset)
        if saving.run_dir is not None:
            _resume_or_start(run, saving.run_dir, run_hash, log, saving.identity)
        step = _make_step(run, engine, x_cpu.to(device), y_cpu.to(device), log)
        guard, stopper = _validators(cfg, stopping, val_cpu, device, n, run.history, saving.run_dir)
        _run_epochs(run, step, n, saving, log, progress, on_epoch_end, guard, stopper)
        for chosen in (guard, stopper):
            if chosen is not None:
                chosen.restore_best(run.model, log)
    return run.model.to(memory_format=torch.contiguous_format).eval(), run.history
