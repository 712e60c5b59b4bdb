"""Clean and robust accuracy over a grid of attacks, and sanity checks against gradient masking.

Robust accuracy counts an example as robust only if it is classified correctly both clean and at
the attack's output; only clean-correct examples are attacked. PGD uses ``keep_best``, so an
example survives only if every iterate of every restart leaves it correct. Each grid entry gets a
fresh generator seeded with ``seed`` and the same batches, so entries that differ only in ``steps``
(with an explicit ``alpha``) or ``restarts`` are nested: more never reports higher accuracy.

``engine`` (auto, eager, graph): PGD runs on :class:`tradeoff.adversarial.engine.FastPGD` (one CUDA graph per
restart, same starts and semantics) when it resolves to ``graph`` (``auto``: on CUDA), else on
:func:`tradeoff.adversarial.attacks.pgd`; the CPU path is unchanged. FGSM and AutoAttack always use their own
code. The fast attack runs at the precision of an enclosing ``torch.autocast`` (fp32 or bf16).

Progress: every attack over a set logs its share done, examples/s and ETA after its first batch, at
most every 30 s after that and at its end (:class:`tradeoff.adversarial.progress.EtaLog`), naming
the grid entry (``PGD linf eps=0.3, 20 steps x 1 restart (3/7)``) or AutoAttack's component.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tradeoff.adversarial.attacks import (
    NORMS,
    Model,
    PGDResult,
    eval_mode,
    fgsm,
    pgd,
    pgd_with_info,
)
from tradeoff.adversarial.engine import EngineOptions, FastPGD, autocast_precision, resolve_engine
from tradeoff.adversarial.progress import EtaLog

__all__ = [
    "ATTACKS",
    "AttackKind",
    "DEFAULT_LARGE_EPS",
    "accuracy",
    "evaluate_grid",
    "evaluate_grid_outcomes",
    "normalize_spec",
    "predict",
    "run_attack",
    "sanity_checks",
    "spec_text",
]

DEFAULT_LARGE_EPS: dict[str, float] = {"linf": 0.5, "l2": 6.0}


def _device_of(model: Model) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


def predict(
    model: Model,
    x: torch.Tensor,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Predicted labels (CPU, int64) of ``model`` in eval mode, batch by batch."""
    dev = torch.device(device) if device is not None else _device_of(model)
    out = []
    with torch.no_grad(), eval_mode(model):
        for sl in _batches(len(x), batch_size):
            out.append(model(x[sl].to(dev)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def accuracy(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> float:
    """Clean accuracy of ``model`` on (x, y)."""
    if len(x) == 0:
        return float("nan")
    pred = predict(model, x, batch_size=batch_size, device=device)
    return (pred == y.cpu()).float().mean().item()


RunFn = Callable[..., torch.Tensor]
Default = Any  # a value, or a function of the spec normalised so far


@dataclass(frozen=True)
class AttackKind:
    """One attack of the evaluation grid, defined once.

    ``defaults``: the keys a spec may set beyond ``attack``, ``norm`` and ``eps``, each with its
    default (a value, or a function of the spec normalised so far, in this order); ``fixed``:
    columns the attack fixes (a spec may still carry them, ignored, as grids are written for
    several attacks at once); ``threat``: the attack needs ``norm`` and ``eps`` (``clean`` does
    not); ``run(model, x, y, spec, generator=, seed=, engine=, fast=)``: the adversarial batch.
    """

    run: RunFn
    defaults: Mapping[str, Default] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    threat: bool = True

    def keys(self) -> set[str]:
        """The keys a spec of this attack may hold."""
        base = {"attack", "norm", "eps"} if self.threat else {"attack"}
        return base | set(self.defaults) | set(self.fixed) | _IGNORED


_CAST: dict[str, Callable[[Any], Any]] = {"steps": int, "restarts": int, "alpha": float,
                                          "random_start": bool, "version": str, "n_queries": int}
# keys every attack accepts and ignores where unused, as before the registry: a config entry
# may carry them for every attack
_IGNORED = {"norm", "eps", "steps", "restarts", "alpha", "random_start"}


def _run_clean(model: Model, x: torch.Tensor, y: torch.Tensor, s: Mapping[str, Any],
               **_: Any) -> torch.Tensor:
    return x.detach().clone()


def _run_fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, s: Mapping[str, Any], *,
              generator: torch.Generator | None = None, **_: Any) -> torch.Tensor:
    return fgsm(model, x, y, norm=s["norm"], eps=s["eps"], alpha=s["alpha"],
                random_start=s["random_start"], generator=generator)


def _run_pgd(model: Model, x: torch.Tensor, y: torch.Tensor, s: Mapping[str, Any], *,
             generator: torch.Generator | None = None, engine: str = "auto",
             fast: FastPGD | None = None, **_: Any) -> torch.Tensor:
    if resolve_engine(engine, x.device) == "graph":
        attack = fast if fast is not None else _fast_pgd(model, s, x.device)
        return attack(x, y, generator).x_adv
    return pgd(model, x, y, norm=s["norm"], eps=s["eps"], alpha=s["alpha"], steps=s["steps"],
               restarts=s["restarts"], random_start=s["random_start"], keep_best=True,
               generator=generator)


def _build_autoattack(model: nn.Module, x: torch.Tensor, s: Mapping[str, Any], seed: int) -> Any:
    """torchattacks' AutoAttack for spec ``s``, its components set to ``s["steps"]`` iterations and
    ``s["n_queries"]`` Square queries (torchattacks builds APGD/APGDT/FAB with steps=10)."""
    import torchattacks

    with torch.no_grad(), eval_mode(model):  # the class count is the model's, not a constant
        n_classes = int(model(x[:1]).shape[1])
    aa = torchattacks.AutoAttack(model, norm={"linf": "Linf", "l2": "L2"}[s["norm"]],
                                 eps=s["eps"], version=s["version"], n_classes=n_classes,
                                 seed=seed)
    for sub in aa._autoattack.attacks:
        if hasattr(sub, "steps"):
            sub.steps = s["steps"]
        if hasattr(sub, "n_queries"):
            sub.n_queries = s["n_queries"]
    return aa


@contextlib.contextmanager
def _contained(model: nn.Module) -> Iterator[None]:
    """torchattacks reseeds the global RNGs and calls .backward() (filling the parameters' .grad):
    contain both so that the caller's state is unchanged."""
    params = list(model.parameters())
    grads = [p.grad for p in params]
    cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        for p, g in zip(params, grads, strict=False):
            p.grad = g


def _run_autoattack(model: Model, x: torch.Tensor, y: torch.Tensor, s: Mapping[str, Any], *,
                    seed: int = 0, **_: Any) -> torch.Tensor:
    if not isinstance(model, nn.Module):
        raise TypeError("autoattack needs an nn.Module")
    aa = _build_autoattack(model, x, s, seed)
    with _contained(model):
        return aa(x, y).detach()


def spec_text(s: Mapping[str, Any]) -> str:
    """A normalised spec in words for progress lines: ``PGD linf eps=0.3, 20 steps x 1 restart``."""
    name = {"pgd": "PGD", "fgsm": "FGSM", "autoattack": "AutoAttack", "clean": "clean"}.get(s["attack"], s["attack"])
    if s["attack"] == "clean":
        return name
    text = f"{name} {s['norm']} eps={s['eps']:g}"
    if s["attack"] == "pgd":
        text += f", {s['steps']} steps x {s['restarts']} restart{'s' if s['restarts'] != 1 else ''}"
    return text


def _component_name(attack: Any) -> str:
    name = type(attack).__name__  # APGD, APGDT, FAB, Square
    if name == "APGD":
        return f"APGD-{str(getattr(attack, 'loss', 'ce')).upper()}"
    if name == "FAB" and getattr(attack, "multi_targeted", False):
        return "FAB-T"
    return {"APGDT": "APGD-T"}.get(name, name)


def autoattack_cascade(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: Mapping[str, Any], *,
                       seed: int = 0, batch_size: int = 500,
                       on_component: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """AutoAttack run component by component over the whole set, as torchattacks' ``MultiAttack``
    runs it on one batch: each component attacks only the examples that every earlier one left
    correctly classified (the first attacks all of them). After each component, ``on_component``
    gets (and the returned list holds) its name, the examples still correct (``robust``, of ``n``:
    AutoAttack's robust accuracy so far) and its seconds, so that a long run is on record
    attack by attack. The final ``robust / n`` is AutoAttack's robust accuracy."""
    s = normalize_spec(spec)
    if s["attack"] != "autoattack":
        raise ValueError(f"autoattack_cascade runs AutoAttack, not {s['attack']!r}")
    aa = _build_autoattack(model, x, s, seed)
    left = torch.arange(len(y))
    rows: list[dict[str, Any]] = []
    components = list(aa._autoattack.attacks)
    for j, attack in enumerate(components, 1):
        t0 = time.perf_counter()
        still = []
        progress = EtaLog(f"{spec_text(s)}, {_component_name(attack)} ({j}/{len(components)})", len(left))
        for i in range(0, len(left), batch_size):
            idx = left[i:i + batch_size]
            with progress.running(len(idx)):  # a line every 30 s even inside one long batch
                with _contained(model):
                    adv = attack(x[idx], y[idx]).detach()
                with torch.no_grad(), eval_mode(model):
                    still.append(idx[model(adv).argmax(1) == y[idx]])
        left = torch.cat(still) if still else left[:0]
        rows.append({"component": _component_name(attack), "robust": int(len(left)), "n": int(len(y)),
                     "seconds": round(time.perf_counter() - t0, 1)})
        if on_component is not None:
            on_component(rows[-1])
        if len(left) == 0:
            break
    return rows


ATTACKS: dict[str, AttackKind] = {
    "clean": AttackKind(_run_clean, threat=False,
                        fixed={"norm": "none", "eps": 0.0, "steps": 0, "restarts": 0,
                               "alpha": 0.0}),
    # FGSM (l_2: the fast gradient method); with random_start and alpha = 1.25 eps: FGSM-RS
    "fgsm": AttackKind(_run_fgsm, fixed={"steps": 1, "restarts": 1},
                       defaults={"alpha": lambda s: s["eps"], "random_start": False}),
    # Madry et al.'s protocol: alpha 0.01 (l_inf 0.3, 40 / 100 steps), random start; TRADES':
    # alpha 0.003, 20 steps; ours by default: 2.5 eps / steps (reaches the boundary from anywhere)
    "pgd": AttackKind(_run_pgd, defaults={
        "steps": 40, "restarts": 1, "alpha": lambda s: 2.5 * s["eps"] / max(s["steps"], 1),
        "random_start": True}),
    # steps: iterations of APGD-CE, APGD-T and FAB-T as in the original AutoAttack (torchattacks'
    # own default is 10); n_queries: Square's budget
    "autoattack": AttackKind(_run_autoattack, fixed={"restarts": 1, "alpha": float("nan")},
                             defaults={"steps": 100, "version": "standard", "n_queries": 5000}),
}


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an attack spec and fill its defaults from :data:`ATTACKS` (idempotent).

    ``attack`` is a key of ATTACKS (case-insensitive); ``norm`` ("linf"/"l2", case-insensitive)
    and ``eps`` unless the attack is ``clean`` (whose other keys are ignored); the attack's own
    keys with their defaults (fgsm: ``alpha`` = eps, ``random_start`` False; pgd: ``steps`` 40,
    ``restarts`` 1, ``alpha`` 2.5 * eps / steps, ``random_start`` True; autoattack: ``steps`` 100,
    ``version`` "standard", ``n_queries`` 5000).
    """
    name = str(spec.get("attack", "")).lower()
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {spec.get('attack')!r}; valid: {', '.join(ATTACKS)}")
    kind = ATTACKS[name]
    extra = set(spec) - kind.keys()
    if extra:
        raise ValueError(f"unknown keys for {name}: {sorted(extra)}")
    if not kind.threat:
        return {"attack": name, **kind.fixed}
    norm = str(spec["norm"]).lower()
    if norm not in NORMS:
        raise ValueError(f"unknown norm {spec['norm']!r}; valid norms: {', '.join(NORMS)}")
    out: dict[str, Any] = {"attack": name, "norm": norm, "eps": float(spec["eps"])}
    for key, default in kind.defaults.items():
        value = spec.get(key)
        if value is None:
            out[key] = default(out) if callable(default) else default
        else:
            out[key] = _CAST[key](value)
    return {**out, **kind.fixed}


def _fast_pgd(model: Model, s: Mapping[str, Any], device: torch.device, *,
              trajectory: bool = False) -> FastPGD:
    """The engine's PGD for a normalised pgd spec, at the enclosing autocast's precision."""
    return FastPGD(model, norm=s["norm"], eps=s["eps"], alpha=s["alpha"], steps=s["steps"],
                   restarts=s["restarts"], random_start=s["random_start"], trajectory=trajectory,
                   options=EngineOptions(precision=autocast_precision(device)))


def run_attack(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    spec: Mapping[str, Any],
    *,
    generator: torch.Generator | None = None,
    seed: int = 0,
    engine: str = "auto",
    fast: FastPGD | None = None,
) -> torch.Tensor:
    """Adversarial examples for one batch under a (normalised or raw) attack spec.

    ``fast``: a :class:`FastPGD` for this spec to reuse (its captured graph) when the engine
    resolves to ``graph``; one is built otherwise.
    """
    s = normalize_spec(spec)
    return ATTACKS[s["attack"]].run(model, x, y, s, generator=generator, seed=seed,
                                    engine=engine, fast=fast)


def _generator(dev: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=dev).manual_seed(seed)


def _precision(precision: str, dev: torch.device) -> AbstractContextManager[Any]:
    """bf16: autocast on ``dev``; fp32: autocast explicitly off (an enclosing one cannot leak in)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"attack precision: valid: fp32, bf16 (got {precision!r})")
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _robust_mask(
    model: Model, x: torch.Tensor, y: torch.Tensor, spec: Mapping[str, Any], clean_ok: torch.Tensor,
    *, batch_size: int, dev: torch.device, seed: int, attack_model: Model | None = None,
    engine: str = "auto", attack_precision: str | None = None, what: str | None = None,
) -> torch.Tensor:
    """Per-example robustness (CPU bool): clean-correct and correct at the attack's output.

    Adversarial examples are crafted on ``attack_model`` (default ``model``: white-box).
    ``attack_precision`` (None: whatever an enclosing autocast says) sets the precision the
    examples are crafted at; the verdict on them is then always fp32. ``what``: the progress lines'
    name of this attack (default: :func:`spec_text`).
    """
    s = normalize_spec(spec)
    ok = clean_ok.clone()
    if s["attack"] == "clean":
        return ok
    src = model if attack_model is None else attack_model
    idx = clean_ok.nonzero().flatten()
    gen = _generator(dev, seed)
    fast = None
    if s["attack"] == "pgd" and resolve_engine(engine, dev) == "graph":
        fast = _fast_pgd(src, s, dev)  # one capture for all batches of this spec
    progress = EtaLog(what or spec_text(s), len(idx), unit="clean-correct examples")
    for sl in _batches(len(idx), batch_size):
        xb, yb = x[idx[sl]].to(dev), y[idx[sl]].to(dev)
        with progress.running(len(xb)):
            with _precision(attack_precision, dev) if attack_precision else nullcontext():
                x_adv = run_attack(src, xb, yb, s, generator=gen, seed=seed, engine=engine, fast=fast)
            with torch.no_grad(), eval_mode(model), (_precision("fp32", dev) if attack_precision
                                                      else nullcontext()):
                ok[idx[sl]] = (model(x_adv).argmax(1) == yb).cpu()
    return ok


def evaluate_grid(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    engine: str = "auto",
) -> pd.DataFrame:
    """Accuracy of ``model`` under each attack spec of ``grid`` (see :func:`normalize_spec`).

    ``device`` defaults to the model's; an ``nn.Module`` is moved there (in place). ``engine``:
    see the module docstring. Returns one
    tidy row per spec: attack, norm, eps, steps, restarts, alpha, random_start, n, n_correct,
    accuracy, seconds. :func:`evaluate_grid_outcomes` also returns the per-example outcomes.
    """
    return evaluate_grid_outcomes(model, x, y, grid, batch_size=batch_size, device=device, seed=seed,
                                  engine=engine)[0]


def evaluate_grid_outcomes(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    engine: str = "auto",
    attack_precision: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`evaluate_grid`'s table and the per-example outcomes: a boolean array of shape
    (len(grid), len(x)), row i True where example j is robust under spec i (clean-correct for
    "clean"); row i's mean is the table's accuracy of row i. ``attack_precision`` "bf16": the
    examples are crafted under bf16 autocast (the costly part), every prediction that decides
    the table is fp32 (None: all at the precision of an enclosing autocast, if any)."""
    dev = torch.device(device) if device is not None else _device_of(model)
    if isinstance(model, nn.Module):
        model.to(dev)
    y = y.cpu().long()
    with _precision("fp32", dev) if attack_precision else nullcontext():
        clean_ok = predict(model, x, batch_size=batch_size, device=dev) == y
    rows = []
    masks = []
    for i, spec in enumerate(grid, 1):
        s = normalize_spec(spec)
        t0 = time.perf_counter()
        ok = _robust_mask(model, x, y, s, clean_ok, batch_size=batch_size, dev=dev, seed=seed,
                          engine=engine, attack_precision=attack_precision,
                          what=f"{spec_text(s)} ({i}/{len(grid)})")
        n = len(ok)
        masks.append(ok.numpy().astype(bool))
        rows.append({
            "attack": s["attack"], "norm": s["norm"], "eps": s["eps"], "steps": s["steps"],
            "restarts": s["restarts"], "alpha": s["alpha"],
            "random_start": s.get("random_start", s["attack"] == "autoattack"),
            "n": n, "n_correct": int(ok.sum()),
            "accuracy": float(ok.float().mean()) if n else float("nan"),
            "seconds": time.perf_counter() - t0,
        })
    outcomes = np.stack(masks) if masks else np.zeros((0, len(y)), dtype=bool)
    return pd.DataFrame(rows), outcomes


def _whitebox_trajectory(
    model: Model, x: torch.Tensor, y: torch.Tensor, clean_ok: torch.Tensor, *, norm: str, eps: float,
    alpha: float, steps: int, batch_size: int, dev: torch.device, seed: int, engine: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """White-box PGD at ``eps`` over all examples: the mean cross-entropy at each iterate (start point
    first; float64) and which examples it leaves correct (of those ``clean_ok``)."""
    n = len(y)
    gen = _generator(dev, seed)
    traj = torch.zeros(steps + 1, dtype=torch.float64)
    wb_ok = clean_ok.clone()
    fast = None
    if resolve_engine(engine, dev) == "graph":
        wb_spec = normalize_spec({"attack": "pgd", "norm": norm, "eps": eps, "steps": steps,
                                  "alpha": alpha})
        fast = _fast_pgd(model, wb_spec, dev, trajectory=True)
    progress = EtaLog(f"sanity check, white-box loss trajectory: PGD {norm} eps={eps:g}, {steps} steps", n)
    for sl in _batches(n, batch_size):
        xb, yb = x[sl].to(dev), y[sl].to(dev)
        res: PGDResult
        if fast is not None:
            res = fast(xb, yb, gen)
        else:
            res = pgd_with_info(model, xb, yb, norm=norm, eps=eps, alpha=alpha, steps=steps,
                                generator=gen)
        traj += res.trajectory[0].double() * len(yb)
        with torch.no_grad(), eval_mode(model):
            wb_ok[sl] &= (model(res.x_adv).argmax(1) == yb).cpu()
        progress.advance(len(yb))
    traj /= max(n, 1)
    return traj, wb_ok


def _trajectory_summary(traj: torch.Tensor, steps: int) -> dict[str, Any]:
    """The loss trajectory's record: every iterate's mean loss, the first and last, and the
    fraction of steps that did not lower it."""
    diffs = traj[1:] - traj[:-1]
    return {
        "loss_trajectory": [float(v) for v in traj],
        "loss_initial": float(traj[0]), "loss_final": float(traj[-1]),
        "loss_increasing_step_fraction": float((diffs >= 0).double().mean()) if steps else 1.0,
    }


def _judged(out: dict[str, Any], max_large_eps_accuracy: float) -> dict[str, Any]:
    """``out`` with each check's flag (``transfer_ok`` None where no transfer was run) and
    ``passed`` (no check failed)."""
    out["large_eps_ok"] = out["large_eps_accuracy"] <= max_large_eps_accuracy
    out["loss_rises_ok"] = out["loss_final"] > out["loss_initial"]
    transfer = out["transfer_accuracy"]
    out["transfer_ok"] = None if transfer is None else transfer >= out["whitebox_accuracy"]
    out["passed"] = all(out[k] is not False for k in ("large_eps_ok", "loss_rises_ok",
                                                        "transfer_ok"))
    return out


def sanity_checks(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    source_model: Model | None = None,
    steps: int = 40,
    alpha: float | None = None,
    large_eps: float | None = None,
    max_large_eps_accuracy: float = 0.05,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    engine: str = "auto",
) -> dict[str, Any]:
    """Checks that PGD robustness at ``eps`` is not an artefact of gradient masking.

    1. ``large_eps`` (default DEFAULT_LARGE_EPS[norm]) PGD accuracy <= ``max_large_eps_accuracy``;
    2. the mean cross-entropy over PGD iterates at ``eps`` rises (``loss_final > loss_initial``;
       ``loss_trajectory`` is the mean over examples at each iterate, start point first);
    3. if ``source_model`` is given: PGD examples crafted on it are no more effective on ``model``
       than white-box PGD (``transfer_accuracy >= whitebox_accuracy``).
    Returns JSON-friendly scalars, the trajectory, per-check ``*_ok`` flags and ``passed``.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid norms: {', '.join(NORMS)}")
    dev = torch.device(device) if device is not None else _device_of(model)
    y = y.cpu().long()
    alpha = 2.5 * eps / max(steps, 1) if alpha is None else alpha
    big = DEFAULT_LARGE_EPS[norm] if large_eps is None else float(large_eps)
    clean_ok = predict(model, x, batch_size=batch_size, device=dev) == y

    # (2) white-box PGD at eps with the loss trajectory, over all examples.
    traj, wb_ok = _whitebox_trajectory(model, x, y, clean_ok, norm=norm, eps=eps, alpha=alpha,
                                       steps=steps, batch_size=batch_size, dev=dev, seed=seed,
                                       engine=engine)

    # (1) large eps.
    big_spec = {"attack": "pgd", "norm": norm, "eps": big, "steps": steps}
    big_ok = _robust_mask(model, x, y, big_spec, clean_ok, batch_size=batch_size, dev=dev,
                          seed=seed, engine=engine, what=f"sanity check, large eps: {spec_text(normalize_spec(big_spec))}")

    # (3) transfer from source_model (same PGD settings, same seed).
    transfer = None
    if source_model is not None:
        spec = {"attack": "pgd", "norm": norm, "eps": eps, "steps": steps, "alpha": alpha}
        transfer = float(_robust_mask(model, x, y, spec, clean_ok, batch_size=batch_size, dev=dev,
                                      seed=seed, attack_model=source_model, engine=engine,
                                      what=f"sanity check, transfer: {spec_text(normalize_spec(spec))}").float().mean())
    out: dict[str, Any] = {
        "norm": norm, "eps": float(eps), "steps": steps, "alpha": float(alpha), "n": len(y),
        "clean_accuracy": float(clean_ok.float().mean()),
        "large_eps": big, "large_eps_accuracy": float(big_ok.float().mean()),
        **_trajectory_summary(traj, steps),
        "whitebox_accuracy": float(wb_ok.float().mean()),
        "transfer_accuracy": transfer,
    }
    return _judged(out, max_large_eps_accuracy)
