"""CPU speed levers against the eager fp32 NCHW step, in one process, on the same data and recipe.

Issue 14's benchmark. For each net (Madry CNN, SmallCNN, Wong et al.'s net) and each lever set it
times, interleaved round-robin so that background load hits every lever alike:

* ``train``: one optimizer step of the FGSM-with-random-start recipe (eps 0.3, step 0.375), the
  production code path: ``tradeoff.adversarial.training.EagerStep`` built by ``train()``'s own
  ``_build`` (seeded model, Adam, attack generator), lever set as TrainConfig fields;
* ``attack``: PGD evaluation (``attacks.pgd``, l_inf 0.3, 10 steps, one restart, every iterate
  scored); examples x steps per second, one "attack step" = a forward and an input gradient.
  Levers here are the evaluation's: precision under an enclosing autocast, the model NHWC.

Medians of ``--repeats`` (>= 5) timings of ``--iters`` calls each; the ratio is to the baseline's
median of the same net and kind. FLOPs per example come from ``torch.utils.flop_counter``
(matmul/convolution FLOPs, forward and backward, as that counter defines them; :func:`net_flops`).
The peak:

* nominal: cores x clock (``cpu MHz`` of /proc/cpuinfo) x FLOP/cycle/core; AMD Zen 4 (family 25,
  model >= 0x10, AVX-512 on two 256-bit FMA pipes): 32 fp32 FLOP/cycle, 64 bf16 (VDPBF16PS: two
  products per 32-bit lane); Intel with two 512-bit FMA units: 64 fp32, AMX-BF16 far more (not
  tabled: the nominal peak is then reported as unknown);
* measured: the best of 5 fp32 4096^2 GEMMs (``torch.mm``) and bf16 ones, in this process.

The share of peak uses the nominal peak of the lever's precision (fp32 or bf16).

    OMP_NUM_THREADS=2 .venv/bin/python bench/cpu_levers/cpu_levers.py [--repeats 7] [--out bench/cpu_levers/cpu_levers.csv]

``tradeoff.workflow.costing`` prices work with the package's copy, ``src/tradeoff/cpu_levers.csv``: copy a new
table there too (``tests/test_package.py`` checks the two are equal).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from tradeoff.adversarial.attacks import pgd  # noqa: E402
from tradeoff.adversarial.training import EagerStep, TrainConfig, _build  # noqa: E402
from tradeoff.datasets.spec import MNIST  # noqa: E402
from tradeoff.nets.models import build_model  # noqa: E402
from tradeoff.runtime import available_cpus, cpu_capabilities  # noqa: E402
from tradeoff.workflow.config import recipe_defaults  # noqa: E402

NETS = ("madry", "small", "wong")
# lever sets: (name, precision, channels_last, compile, batch multiple); the first is the baseline;
# the batch lever is the attack's only (a training batch size is a hyperparameter, not a lever)
LEVERS: tuple[tuple[str, str, bool, bool, int], ...] = (
    ("eager fp32 NCHW", "fp32", False, False, 1),
    ("channels_last", "fp32", True, False, 1),
    ("channels_last, batch x5", "fp32", True, False, 5),
    ("bf16", "bf16", False, False, 1),
    ("channels_last + bf16", "bf16", True, False, 1),
    ("channels_last + compile", "fp32", True, True, 1),
    ("channels_last + bf16 + compile", "bf16", True, True, 1),
)
RECIPE = dict(objective="fgsm", norm="linf", eps=0.3, alpha=0.375, steps=1, random_start=True,
              lr=1e-3, epochs=1, device="cpu")
PGD_STEPS = 10


def nominal_peak(precision: str, cores: int, cpuinfo: str | None = None) -> float | None:
    """FLOP/s the cores can do at ``precision`` (module docstring), or None where not tabled."""
    text = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        fields.setdefault(k.strip(), v.strip())
    try:
        mhz, family, model = float(fields["cpu MHz"]), int(fields["cpu family"]), int(fields["model"])
    except (KeyError, ValueError):
        return None
    if fields.get("vendor_id") == "AuthenticAMD" and family == 25 and model >= 0x10:
        per_cycle = {"fp32": 32, "bf16": 64}[precision]
    else:
        return None
    return cores * mhz * 1e6 * per_cycle


def gemm_peak(dtype: torch.dtype, n: int = 4096) -> float:
    """Best of 5 n x n GEMMs, FLOP/s."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def _train_call(net: str, precision: str, cl: bool, comp: bool, x: torch.Tensor,
                y: torch.Tensor, batch: int) -> Callable[[], None]:
    cfg = TrainConfig.from_dict({**recipe_defaults(), **RECIPE, "seed": 0, "model": net, "batch_size": batch,
                                 "precision": precision, "channels_last": cl, "compile": comp})
    run = _build(cfg, torch.device("cpu"), "eager", 1, MNIST)
    step = EagerStep(cfg, run.model, run.optimizer, x, y, run.generators["attack"])
    idx = torch.arange(batch)
    return lambda: step.step(idx)


def _attack_call(net: str, precision: str, cl: bool, comp: bool, x: torch.Tensor,
                 y: torch.Tensor, batch: int) -> Callable[[], None]:
    torch.manual_seed(0)
    model = build_model(net).eval()
    if cl:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model, dynamic=False) if comp else model
    xb, yb = x[:batch], y[:batch]
    gen = torch.Generator().manual_seed(0)

    def call() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            pgd(fwd, xb, yb, norm="linf", eps=0.3, alpha=0.01, steps=PGD_STEPS, generator=gen)
    return call


def _count(fn: Callable[[], None]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def net_flops(net: str, batch: int = 10) -> dict[str, float]:
    """FLOPs per example of one ``train`` call and one ``attack`` step (module docstring), from
    three counted passes (the counter cannot see inside ``autograd.grad``, so they are composed):
    F, a forward; F + B_in, a forward and the input gradient (weights frozen); F + B_w, a forward
    and the weight gradients. FGSM-RS training = a clean forward + (F + B_in) + (F + B_w); a PGD
    attack step = (F + B_in) + F / steps (the last iterate's scoring pass, spread over the steps)."""
    model = build_model(net)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    loss = torch.nn.functional.cross_entropy
    fwd = _count(lambda: model(x))
    model.requires_grad_(False)
    xg = x.clone().requires_grad_(True)
    f_bin = _count(lambda: loss(model(xg), y).backward())
    model.requires_grad_(True)
    f_bw = _count(lambda: loss(model(x), y).backward())
    return {"train": (fwd + f_bin + f_bw) / batch, "attack": (f_bin + fwd / PGD_STEPS) / batch}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=available_cpus())
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile levers")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.repeats < 5:
        ap.error("--repeats: at least 5")
    torch.set_num_threads(args.threads)
    # every compiled lever shares the nets' forward code; dynamo's default limit of 8 compiled
    # variants per code object would send the later levers back to eager mid-run
    torch._dynamo.config.recompile_limit = 256
    caps = cpu_capabilities()
    levers = [lv for lv in LEVERS if not (args.no_compile and lv[3])
              and not (lv[1] == "bf16" and not caps["bf16"])]
    gen = torch.Generator().manual_seed(0)
    big = args.batch * max(lv[4] for lv in LEVERS)
    x = torch.rand(big, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (big,), generator=gen)
    peaks = {p: nominal_peak(p, args.threads) for p in ("fp32", "bf16")}
    measured = {"fp32": gemm_peak(torch.float32), "bf16": gemm_peak(torch.bfloat16)}
    print(f"# torch {torch.__version__}, {args.threads} threads, caps {caps}", flush=True)
    print(f"# nominal peak GFLOP/s: { {k: v and round(v / 1e9, 1) for k, v in peaks.items()} }; "
          f"GEMM 4096: { {k: round(v / 1e9, 1) for k, v in measured.items()} }", flush=True)
    rows = []
    for net in args.nets:
        for kind, make, per_example in (("train", _train_call, 1), ("attack", _attack_call, PGD_STEPS)):
            kind_levers = [lv for lv in levers if kind == "attack" or lv[4] == 1]
            calls = {lv[0]: make(net, lv[1], lv[2], lv[3], x, y, args.batch * lv[4])
                     for lv in kind_levers}
            per_call = {lv[0]: args.batch * lv[4] * per_example for lv in kind_levers}
            for call in calls.values():  # warm-up (compiles), untimed
                call()
                call()
            flop = net_flops(net)[kind]
            times: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(args.repeats):  # round-robin: background load hits every lever alike
                for name, call in calls.items():
                    t = time.perf_counter()
                    for _ in range(args.iters):
                        call()
                    times[name].append(time.perf_counter() - t)
            base = args.iters * per_call[levers[0][0]] / statistics.median(times[levers[0][0]])
            for name, prec, *_ in kind_levers:
                rate = args.iters * per_call[name] / statistics.median(times[name])
                peak = peaks[prec]
                rows.append({"net": net, "kind": kind, "lever": name, "precision": prec,
                             "examples_per_s": round(rate), "ratio": round(rate / base, 2),
                             "mflop_per_example": round(flop / 1e6, 1),
                             "gflop_per_s": round(rate * flop / 1e9, 1),
                             "share_of_peak": None if peak is None else round(rate * flop / peak, 3)})
                print(rows[-1], flush=True)
    if args.out:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
