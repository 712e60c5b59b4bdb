#!/usr/bin/env python
"""Plain eager PGD training vs the engine (:mod:`tradeoff.adversarial.engine`) on one device, in one run.

Training: the Madry MNIST recipe's iteration (PGD-``--steps`` l_inf ``--eps``, step ``--alpha``,
Adam 1e-4, batch ``--batch``), timed for

* ``eager`` -- the plain eager loop: ``tradeoff.adversarial.training._train_step`` on device-resident data
  with the CPU attack generator, exactly what ``train(engine="eager")`` runs (the baseline);
* ``engine-eager`` -- the engine's body without a graph (device generator, fused projection);
* ``graph`` -- the engine, one CUDA graph per iteration, fp32; ``graph-det`` the same under
  ``TrainConfig(deterministic=True)``'s flags; ``graph-unfused`` with the reference projection;
  ``graph-bf16`` with bf16 autocast; ``graph-bf16-cl`` bf16 and channels_last; ``graph-compile``
  (``--compile``) with ``torch.compile``'d forward passes (experimental).

Each variant: a fresh model, ``--warmup`` iterations (capture included), then ``--repeats`` timed
blocks of ``--iters`` iterations (device synchronised around each block); the median block gives
ms per iteration. Also reported: analytic FLOPs and bytes per iteration, kernels per iteration
(torch.profiler: CUDA kernels, memcpys and memsets on CUDA; on the CPU the aten ops that would
launch one: no views or no-ops, composites counted through their parts), the measured per-launch cost (eager op, graph node), the launch-latency
floor (kernels x per-launch cost) and each variant's gap to it.

Evaluation: PGD-``--eval-steps`` x ``--eval-restarts`` restarts over ``--eval-n`` test images:
the reference (``evaluate_grid(engine="eager")``, fp32) against the engine (fp32 and bf16, at each
``--eval-batch``), with robust accuracy and its difference from the fp32 reference in points
(issue 5: within 0.3). The model attacked is ``--weights`` or one trained here for
``--eval-train-iters`` engine iterations (a partly robust model: the most sensitive comparison).

Examples::

    python bench/gpu/bench_gpu.py --mnist-dir .data/mnist --json $OUT/bench.json \\
        --markdown $OUT/bench.md                                   # one GPU, defaults
    python bench/gpu/bench_gpu.py --device cpu --tiny --json /tmp/b.json   # CPU smoke test
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from tradeoff.adversarial.attacks import eval_mode  # noqa: E402
from tradeoff.adversarial.engine import (  # noqa: E402
    EngineOptions,
    FastPGD,
    TrainStep,
    make_fast_optimizer,
)
from tradeoff.adversarial.robust_eval import evaluate_grid, normalize_spec, predict  # noqa: E402
from tradeoff.adversarial.training import TrainConfig, _determinism, _train_step  # noqa: E402
from tradeoff.nets.models import build_model  # noqa: E402
from tradeoff.workflow.config import recipe_defaults  # noqa: E402

VIEW_OPS = {
    "aten::view", "aten::_unsafe_view", "aten::as_strided", "aten::expand", "aten::t",
    "aten::transpose", "aten::unsqueeze", "aten::squeeze", "aten::reshape", "aten::detach",
    "aten::detach_", "aten::alias", "aten::slice", "aten::select", "aten::empty",
    "aten::empty_strided", "aten::empty_like", "aten::resize_", "aten::lift_fresh",
    "aten::flatten", "aten::permute", "aten::numpy_T", "aten::requires_grad_", "aten::set_",
    "aten::result_type", "aten::is_nonzero", "aten::_local_scalar_dense", "aten::item",
    "aten::size", "aten::stride", "aten::contiguous", "aten::_reshape_alias",
    "aten::resolve_conj", "aten::resolve_neg", "aten::as_strided_", "aten::to",
    "aten::_has_compatible_shallow_copy_type", "aten::conj", "aten::zeros_like",
    "aten::ones_like", "aten::full_like", "aten::new_empty", "aten::new_empty_strided",
}


def _kernel_ops(events: Any) -> int:
    """aten ops that launch work: not a view/no-op, and no descendant that does (a composite op
    such as ``aten::linear`` counts through its ``addmm``; a no-op ``aten::to`` not at all)."""
    from torch.autograd import DeviceType

    memo: dict[int, bool] = {}

    def below(e: Any) -> bool:  # e, or something under it, launches work
        if id(e) not in memo:
            memo[id(e)] = is_kernel(e) or any(below(c) for c in e.cpu_children)
        return memo[id(e)]

    def is_kernel(e: Any) -> bool:
        return (e.name.startswith("aten::") and e.name not in VIEW_OPS
                and not any(below(c) for c in e.cpu_children))

    return sum(1 for e in events if e.device_type == DeviceType.CPU and is_kernel(e))
VARIANTS = ("eager", "engine-eager", "graph", "graph-det", "graph-unfused", "graph-bf16",
            "graph-bf16-cl")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def commit() -> str:
    if os.environ.get("TRADEOFF_COMMIT"):
        return os.environ["TRADEOFF_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(dev: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "torch": torch.__version__,
        "commit": commit(), "device": str(dev), "host_cpus": os.cpu_count(),
    }
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        env |= {"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1),
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    else:
        env["gpu"] = "none (CPU)"
    return env


# --------------------------------------------------------------------------- data and counting


def load_data(args: argparse.Namespace) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test) float in [0, 1] (N, 1, 28, 28); synthetic without MNIST."""
    if args.mnist_dir:
        from tradeoff.datasets.mnist import load_mnist

        m = load_mnist("local", path=args.mnist_dir)
        def f(a: Any) -> torch.Tensor:
            return torch.from_numpy(a).unsqueeze(1).float().div_(255)
        return (f(m.x_train), torch.from_numpy(m.y_train).long(), f(m.x_test),
                torch.from_numpy(m.y_test).long())
    g = torch.Generator().manual_seed(0)
    templates = torch.randn(10, 1, 28, 28, generator=g)

    def synth(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        x = (0.5 + 0.15 * templates[y] + 0.3 * torch.randn(n, 1, 28, 28, generator=g))
        return x.clamp(0, 1), y

    n_train = args.train_n or (512 if args.tiny else 60000)
    xtr, ytr = synth(n_train)
    xte, yte = synth(max(args.eval_n, 1))
    return xtr, ytr, xte, yte


def iteration_counts(model: nn.Module, batch: int, steps: int) -> dict[str, float]:
    """FLOPs and bytes of one PGD-``steps`` training iteration of any conv/linear ReLU model.

    Forward FLOPs from the conv/linear shapes (hooks); the same accounting as
    :func:`tradeoff.adversarial.engine.madry_flops` (which it equals for the Madry CNN; tested).
    """
    flops, act = 0.0, 0

    def hook(mod: nn.Module, inp: Any, out: torch.Tensor) -> None:
        nonlocal flops, act
        if isinstance(mod, nn.Conv2d):
            k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            flops += 2.0 * out[0].numel() * k
        elif isinstance(mod, nn.Linear):
            flops += 2.0 * mod.in_features * mod.out_features
        if isinstance(mod, (nn.Conv2d, nn.Linear, nn.MaxPool2d)):
            act += out[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    p = next(model.parameters())
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28, device=p.device, dtype=p.dtype))
    for h in handles:
        h.remove()
    params = sum(q.numel() for q in model.parameters())
    passes = 1 + 2 * steps + 3
    return {"forward_flops_per_example": flops, "flops": flops * passes * batch,
            "bytes": 4.0 * (params * passes + batch * act * 3 * passes + 7 * params),
            "params": float(params), "weight_bytes": 4.0 * params}


def count_launches(fn: Callable[[], None], dev: torch.device) -> dict[str, int]:
    """Kernels (+ memcpy/memset) on CUDA, and leaf non-view aten ops, of one call of ``fn``."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU]
    if dev.type == "cuda":
        acts.append(ProfilerActivity.CUDA)
    sync(dev)
    with profile(activities=acts) as prof:
        fn()
        sync(dev)
    events = prof.events()
    out = {"aten_kernel_ops": _kernel_ops(events)}
    if dev.type == "cuda":
        out["cuda_kernels"] = sum(1 for e in events if e.device_type == DeviceType.CUDA)
    return out


def launch_costs(dev: torch.device, k: int = 2000) -> dict[str, float]:
    """Measured cost of one tiny eager op and of one CUDA-graph node, in microseconds."""
    t = torch.zeros(1, device=dev)
    for _ in range(100):
        t.add_(1)
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(k):
        t.add_(1)
    sync(dev)
    out = {"eager_op_us": (time.perf_counter() - t0) / k * 1e6}
    if dev.type == "cuda":
        s = torch.cuda.Stream(device=dev)
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(s):
            t.add_(1)
        torch.cuda.current_stream(dev).wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(k):
                t.add_(1)
        g.replay()
        sync(dev)
        reps = 5
        t0 = time.perf_counter()
        for _ in range(reps):
            g.replay()
        sync(dev)
        out["graph_node_us"] = (time.perf_counter() - t0) / (reps * k) * 1e6
    return out


# --------------------------------------------------------------------------- training variants


def variant_options(name: str) -> tuple[EngineOptions | None, bool]:
    """(engine options or None for the reference loop, deterministic flags on)."""
    if name == "eager":
        return None, False
    opts = {
        "engine-eager": EngineOptions(capture=False),
        "graph": EngineOptions(),
        "graph-det": EngineOptions(),
        "graph-unfused": EngineOptions(fused_projection=False),
        "graph-bf16": EngineOptions(precision="bf16"),
        "graph-bf16-cl": EngineOptions(precision="bf16", channels_last=True),
        "graph-compile": EngineOptions(compile=True),
    }[name]
    return opts, name == "graph-det"


def time_training(name: str, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
                  args: argparse.Namespace, dev: torch.device) -> dict[str, Any]:
    opts, det = variant_options(name)
    with _determinism(det, dev):
        if not det and dev.type == "cuda":
            torch.backends.cudnn.benchmark = args.cudnn_benchmark
        torch.manual_seed(0)
        model = build_model(cfg.model).to(dev)
        n, b = x.shape[0], cfg.batch_size
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(1)).to(dev)
        per_epoch = n // b
        t_setup = time.perf_counter()
        if opts is None:
            opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            gen = torch.Generator().manual_seed(2)

            def one(i: int) -> None:
                j = (i % per_epoch) * b
                idx = perm[j : j + b]
                _train_step(cfg, model, opt, x[idx], y[idx], gen, nullcontext, 1.0)
        else:
            opt = make_fast_optimizer(cfg.optimizer, model, lr=cfg.lr, momentum=cfg.momentum,
                                      weight_decay=cfg.weight_decay, device=dev)
            gen = torch.Generator(device=dev).manual_seed(2)
            ts = TrainStep(cfg, model, opt, x, y, gen, opts)

            def one(i: int) -> None:
                j = (i % per_epoch) * b
                ts.step(perm[j : j + b], 1.0)

        it = 0
        for _ in range(args.warmup):
            one(it)
            it += 1
        sync(dev)
        first_s = time.perf_counter() - t_setup  # warm-up iterations, capture included
        blocks = []
        for _ in range(args.repeats):
            sync(dev)
            t0 = time.perf_counter()
            for _ in range(args.iters):
                one(it)
                it += 1
            sync(dev)
            blocks.append((time.perf_counter() - t0) / args.iters * 1e3)
        launches = count_launches(lambda: one(it), dev)
        body = None
        if opts is not None and opts.capture and dev.type == "cuda":
            # the kernels inside the graph: the same body, uncaptured
            m2 = copy.deepcopy(model)
            o2 = make_fast_optimizer(cfg.optimizer, m2, lr=cfg.lr, momentum=cfg.momentum,
                                     weight_decay=cfg.weight_decay, device=dev)
            plain = EngineOptions(precision=opts.precision, channels_last=opts.channels_last,
                                  fused_projection=opts.fused_projection, capture=False,
                                  compile=opts.compile)
            t2 = TrainStep(cfg, m2, o2, x, y, torch.Generator(device=dev).manual_seed(3), plain)
            t2.step(perm[:b])
            body = count_launches(lambda: t2.step(perm[:b]), dev)
    med = statistics.median(blocks)
    return {"variant": name, "ms_per_iter": med, "blocks_ms": blocks,
            "examples_per_s": b / med * 1e3, "warmup_s": first_s,
            "recipe_100k_min": med * 100_000 / 1e3 / 60, "launches": launches,
            "launches_in_graph": body}


def count_table(args: argparse.Namespace, dev: torch.device, x: torch.Tensor,
                y: torch.Tensor) -> list[dict[str, Any]]:
    """Launches per training iteration and per PGD step, per implementation (no timing).

    Counted at ``steps`` = 1 and 2 (one iteration each, uncaptured): per step = the difference,
    fixed = the rest; per iteration at the recipe's steps = fixed + steps x per step.
    """
    rows = []
    impls: list[tuple[str, EngineOptions | None]] = [
        ("eager (training._train_step)", None),
        ("engine, reference projection", EngineOptions(capture=False, fused_projection=False)),
        ("engine, fused projection", EngineOptions(capture=False)),
    ]
    if dev.type == "cuda":
        impls.append(("engine, fused, bf16", EngineOptions(capture=False, precision="bf16")))
    b = args.batch
    idx = torch.arange(b, device=dev)
    for name, opts in impls:
        counts = {}
        for steps in (1, 2):
            cfg = TrainConfig.from_dict({**recipe_defaults(), "precision": "fp32", "seed": 0, "model": args.model,
                                         "objective": "pgd", "eps": args.eps, "alpha": args.alpha, "steps": steps,
                                         "lr": 1e-4, "batch_size": b, "iterations": 1, "device": str(dev)})
            torch.manual_seed(0)
            m = build_model(args.model).to(dev)
            if opts is None:
                o = torch.optim.Adam(m.parameters(), lr=1e-4)
                g = torch.Generator().manual_seed(0)

                def one(cfg: TrainConfig = cfg, m: nn.Module = m, o: Any = o,
                        g: torch.Generator = g) -> None:
                    _train_step(cfg, m, o, x[idx], y[idx], g, nullcontext, 1.0)
            else:
                o = make_fast_optimizer("adam", m, lr=1e-4, momentum=0.9, weight_decay=0.0,
                                        device=dev)
                ts = TrainStep(cfg, m, o, x, y, torch.Generator(device=dev).manual_seed(0),
                               opts)

                def one(ts: TrainStep = ts) -> None:
                    ts.step(idx)
            one()  # lazy optimizer state
            counts[steps] = count_launches(one, dev)
        for key in counts[1]:
            per_step = counts[2][key] - counts[1][key]
            fixed = counts[1][key] - per_step
            rows.append({"implementation": name, "counter": key, "per_pgd_step": per_step,
                         "fixed": fixed, "per_iteration": fixed + args.steps * per_step})
    return rows


# --------------------------------------------------------------------------- evaluation


def quick_model(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, iters: int,
                dev: torch.device) -> nn.Module:
    """A partly robust model: ``iters`` engine iterations of the recipe (fp32; without the
    graph if capturing fails, so that the evaluation part still runs)."""
    for capture in (True, False):
        torch.manual_seed(0)
        model = build_model(cfg.model).to(dev)
        opt = make_fast_optimizer(cfg.optimizer, model, lr=cfg.lr, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay, device=dev)
        ts = TrainStep(cfg, model, opt, x, y, torch.Generator(device=dev).manual_seed(4),
                       EngineOptions(capture=capture))
        perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(5)).to(dev)
        b, per_epoch = cfg.batch_size, x.shape[0] // cfg.batch_size
        try:
            for i in range(iters):
                j = (i % per_epoch) * b
                ts.step(perm[j : j + b], min(1.0, (i + 1) / max(iters // 3, 1)))
            sync(dev)
        except Exception as err:
            if not capture:
                raise
            print(f"quick_model: graph failed ({type(err).__name__}: {err}); eager instead",
                  file=sys.stderr)
            continue
        break
    return model.eval()


def eval_engine(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: dict[str, Any],
                batch: int, opts: EngineOptions, dev: torch.device, seed: int) -> dict[str, Any]:
    """Robust accuracy under FastPGD (``_robust_mask``'s protocol), checked in the attack's
    precision and in fp32; seconds include the capture."""
    s = normalize_spec(spec)
    m = model
    if opts.channels_last:
        m = copy.deepcopy(model).to(memory_format=torch.channels_last)
    sync(dev)
    t0 = time.perf_counter()
    clean_ok = predict(m, x, batch_size=batch, device=dev) == y
    idx = clean_ok.nonzero().flatten()
    fast = FastPGD(m, norm=s["norm"], eps=s["eps"], alpha=s["alpha"], steps=s["steps"],
                   restarts=s["restarts"], random_start=s["random_start"], options=opts)
    gen = torch.Generator(device=dev).manual_seed(seed)
    ok, ok32 = clean_ok.clone(), clean_ok.clone()
    ac = (torch.autocast("cuda", dtype=torch.bfloat16) if opts.precision == "bf16"
          else nullcontext())
    for i in range(0, len(idx), batch):
        sl = idx[i : i + batch]
        xb, yb = x[sl].to(dev), y[sl].to(dev)
        x_adv = fast(xb, yb, gen).x_adv
        with torch.no_grad(), eval_mode(m):
            with ac:
                ok[sl] = (m(x_adv).argmax(1) == yb).cpu()
            ok32[sl] = (model(x_adv).argmax(1) == yb).cpu()
    sync(dev)
    return {"seconds": time.perf_counter() - t0, "robust": float(ok.float().mean()),
            "robust_fp32_check": float(ok32.float().mean()), "captures": fast.captures}


def evaluation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace,
               dev: torch.device) -> list[dict[str, Any]]:
    spec = {"attack": "pgd", "norm": "linf", "eps": args.eps, "steps": args.eval_steps,
            "restarts": args.eval_restarts}
    rows: list[dict[str, Any]] = []
    ref = None
    if not args.skip_eager_eval:
        sync(dev)
        t0 = time.perf_counter()
        df = evaluate_grid(model, x, y, [spec], batch_size=args.eval_batch[0], device=dev,
                           seed=0, engine="eager")
        sync(dev)
        ref = float(df["accuracy"].iloc[0])
        rows.append({"what": "eager reference (attacks.pgd), fp32", "batch": args.eval_batch[0],
                     "seconds": time.perf_counter() - t0, "robust": ref,
                     "robust_fp32_check": ref})
    sync(dev)
    t0 = time.perf_counter()
    try:
        df = evaluate_grid(model, x, y, [spec], batch_size=args.eval_batch[0], device=dev,
                           seed=0, engine="graph")
        sync(dev)
        acc = float(df["accuracy"].iloc[0])
        rows.append({"what": "engine via evaluate_grid(engine='graph'), fp32",
                     "batch": args.eval_batch[0], "seconds": time.perf_counter() - t0,
                     "robust": acc, "robust_fp32_check": acc})
    except Exception as err:
        print(f"evaluate_grid(engine='graph') failed: {type(err).__name__}: {err}",
              file=sys.stderr)
    precisions = ["fp32"] + (["bf16"] if dev.type == "cuda" else [])
    for batch in args.eval_batch:
        for prec in precisions:
            for cl in ([False, True] if prec == "bf16" else [False]):
                opts = EngineOptions(precision=prec, channels_last=cl)
                what = f"engine FastPGD, {prec}{', channels_last' if cl else ''}"
                try:
                    r = eval_engine(model, x, y, spec, batch, opts, dev, seed=0)
                except Exception as err:  # reported; the other rows still run
                    print(f"{what} failed: {type(err).__name__}: {err}", file=sys.stderr)
                    continue
                rows.append({"what": what, "batch": batch, **r})
    for r in rows:
        r["diff_points_vs_fp32_ref"] = (None if ref is None
                                        else 100 * (r["robust"] - ref))
        r["fp32_check_diff_points"] = (None if ref is None
                                       else 100 * (r["robust_fp32_check"] - ref))
    return rows


# --------------------------------------------------------------------------- report


def markdown(res: dict[str, Any]) -> str:
    env, c = res["environment"], res["counting"]
    lines = [f"Device: {env['gpu']} ({env['device']}), torch {env['torch']}, python "
             f"{env['python']}, commit {env['commit']}, {env['date']}.", "",
             f"Recipe iteration: {res['recipe']}.", "",
             f"Per iteration (analytic): {c['flops'] / 1e9:.1f} GFLOP, "
             f"{c['bytes'] / 1e9:.2f} GB moved (weights {c['weight_bytes'] / 1e6:.1f} MB per "
             f"pass), forward {c['forward_flops_per_example'] / 1e6:.2f} MFLOP per example. "
             f"Per-launch cost measured: eager op {c['launch']['eager_op_us']:.1f} us"
             + (f", graph node {c['launch']['graph_node_us']:.2f} us"
                if "graph_node_us" in c["launch"] else "") + ".", "",
             "| variant | ms/iter (median) | examples/s | vs eager | 100k iters (min) | "
             "kernels/iter | floor ms | gap x |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = next((r["ms_per_iter"] for r in res["training"] if r["variant"] == "eager"), None)
    for r in res["training"]:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | | | |")
            continue
        lau = r["launches_in_graph"] or r["launches"]
        k = lau.get("cuda_kernels", lau["aten_kernel_ops"])
        graph = r["variant"].startswith("graph")
        per = c["launch"].get("graph_node_us" if graph else "eager_op_us",
                              c["launch"]["eager_op_us"])
        floor = k * per / 1e3
        ratio = f"{base / r['ms_per_iter']:.2f}x" if base else "n/a"
        lines.append(f"| {r['variant']} | {r['ms_per_iter']:.3f} | {r['examples_per_s']:.0f} | "
                     f"{ratio} | {r['recipe_100k_min']:.1f} | {k} | {floor:.2f} | "
                     f"{r['ms_per_iter'] / floor:.2f} |")
    if res.get("evaluation"):
        e = res["eval_spec"]
        lines += ["", f"Evaluation: PGD-{e['steps']} x {e['restarts']} restarts, l_inf "
                  f"{e['eps']}, {e['n']} images.", "",
                  "| what | batch | seconds | robust | fp32 re-check | diff vs fp32 ref (points) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for r in res["evaluation"]:
            d = r["diff_points_vs_fp32_ref"]
            lines.append(f"| {r['what']} | {r['batch']} | {r['seconds']:.2f} | "
                         f"{100 * r['robust']:.2f}% | {100 * r['robust_fp32_check']:.2f}% | "
                         f"{'n/a' if d is None else f'{d:+.2f}'} |")
    if "speedup" in res:
        s = res["speedup"]
        lines += ["", f"Best engine variant: {s['best']} at {s['ratio']:.2f}x the plain eager "
                  "loop (same run, same device)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (CPU smoke test)")
    ap.add_argument("--model", default=None, help="madry (default) or small (--tiny default)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--iters", type=int, default=None, help="iterations per timed block")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--variants", nargs="+", default=None)
    ap.add_argument("--compile", action="store_true", help="also time graph-compile")
    ap.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false")
    ap.add_argument("--mnist-dir", default=None)
    ap.add_argument("--train-n", type=int, default=None)
    ap.add_argument("--eval-n", type=int, default=None)
    ap.add_argument("--eval-batch", type=int, nargs="+", default=None)
    ap.add_argument("--eval-steps", type=int, default=None)
    ap.add_argument("--eval-restarts", type=int, default=None)
    ap.add_argument("--eval-train-iters", type=int, default=None)
    ap.add_argument("--weights", default=None, help="model to attack (safetensors weights)")
    ap.add_argument("--skip-eager-eval", action="store_true")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--count-only", action="store_true",
                    help="only count launches per iteration and per PGD step (no timing)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)
    tiny = args.tiny
    defaults = {"model": "small" if tiny else "madry", "batch": 8 if tiny else 50,
                "steps": 2 if tiny else 40, "iters": 2 if tiny else 50,
                "repeats": 2 if tiny else 5, "warmup": 2 if tiny else 10,
                "eval_n": 48 if tiny else 10000, "eval_batch": [32] if tiny else [2000, 10000],
                "eval_steps": 3 if tiny else 100, "eval_restarts": 2 if tiny else 10,
                "eval_train_iters": 3 if tiny else 1500}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available (use --device cpu --tiny)")
    variants = list(args.variants or VARIANTS) + (["graph-compile"] if args.compile else [])
    if dev.type != "cuda":
        variants = [v for v in variants if "bf16" not in v]  # bf16 autocast is CUDA-only

    cfg = TrainConfig.from_dict({**recipe_defaults(), "precision": "fp32", "seed": 0, "model": args.model,
                                 "objective": "pgd", "norm": "linf", "eps": args.eps, "alpha": args.alpha,
                                 "steps": args.steps, "lr": 1e-4, "batch_size": args.batch, "iterations": 1,
                                 "device": str(dev)})
    xtr, ytr, xte, yte = load_data(args)
    xtr, ytr = xtr.to(dev), ytr.to(dev)
    if args.count_only:
        rows = count_table(args, dev, xtr, ytr)
        md = ["| implementation | counter | per PGD step | fixed | per iteration (PGD-"
              f"{args.steps}) |", "| --- | --- | --- | --- | --- |"]
        md += [f"| {r['implementation']} | {r['counter']} | {r['per_pgd_step']} | {r['fixed']} "
               f"| {r['per_iteration']} |" for r in rows]
        print("\n".join(md))
        if args.json:
            Path(args.json).write_text(json.dumps({"environment": environment(dev),
                                                   "counts": rows}, indent=2) + "\n")
        return {"counts": rows}
    counting: dict[str, Any] = {"launch": launch_costs(dev),
                                **iteration_counts(build_model(args.model), args.batch,
                                                   args.steps)}
    res: dict[str, Any] = {
        "environment": environment(dev), "argv": sys.argv[1:] if argv is None else argv,
        "recipe": (f"{args.model} CNN, PGD-{args.steps} l_inf eps {args.eps} alpha "
                   f"{args.alpha}, Adam 1e-4, batch {args.batch}"),
        "counting": counting, "training": [],
    }
    for v in variants:
        try:
            row = time_training(v, cfg, xtr, ytr, args, dev)
        except Exception as err:  # a failing variant is reported, the others still run
            row = {"variant": v, "error": f"{type(err).__name__}: {err}"[:300]}
        res["training"].append(row)
        print(json.dumps({k: row.get(k) for k in ("variant", "ms_per_iter", "error")}),
              file=sys.stderr, flush=True)
    ok = [r for r in res["training"] if "error" not in r]
    base = next((r for r in ok if r["variant"] == "eager"), None)
    eng = [r for r in ok if r["variant"] != "eager"]
    if base and eng:
        best = min(eng, key=lambda r: r["ms_per_iter"])
        res["speedup"] = {"best": best["variant"],
                          "ratio": base["ms_per_iter"] / best["ms_per_iter"]}
    if not args.skip_eval:
        if args.weights:
            from tradeoff.nets.checkpoints import load_weights

            model = load_weights(None, args.weights, device=dev).eval()
        else:
            model = quick_model(cfg, xtr, ytr, args.eval_train_iters, dev)
        xe, ye = xte[: args.eval_n], yte[: args.eval_n]
        res["eval_spec"] = {"steps": args.eval_steps, "restarts": args.eval_restarts,
                            "eps": args.eps, "n": len(ye),
                            "model": args.weights or f"{args.eval_train_iters} engine iterations"}
        res["evaluation"] = evaluation(model, xe, ye, args, dev)
    md = markdown(res)
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(md)
    return res


if __name__ == "__main__":
    main()
