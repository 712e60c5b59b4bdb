"""Acceptance of the bf16 training lever per objective, on the VALIDATION split (issue 14).

For each objective's recipe (``RECIPES``) and each seed, trains the same recipe twice on the same
images, fp32 NCHW (the reference) and with the lever set ``channels_last + bf16``, then attacks
both with the same fp32 PGD on the same validation images. The decision rule, fixed in
``bench/RESULTS.md`` before the first run, is :func:`accept`. The fp32 models are also attacked
under bf16 autocast (the bf16 *evaluation* option), on the same images, to measure how far it
moves robust accuracy.

The shipped MNIST (55,000 training / 5,000 validation images, split seed 0); the test set is
never loaded. Training images: the first ``--size`` of the seeded, class-balanced ordering.

    OMP_NUM_THREADS=2 .venv/bin/python bench/lever_acceptance.py [--objectives fgsm pgd trades]
        [--seeds 0 1 2] [--size 10000] [--out bench/lever_acceptance.csv]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tradeoff.adversarial.attacks import pgd  # noqa: E402
from tradeoff.adversarial.training import TrainConfig, train  # noqa: E402
from tradeoff.config import recipe_defaults  # noqa: E402
from tradeoff.datasets.mnist import balanced_subset_indices, load_mnist  # noqa: E402

CYCLIC = {"kind": "cyclic", "peak_at": 0.4}
RECIPES: dict[str, dict[str, Any]] = {
    # Wong et al.'s FGSM with a random start (the fast headline recipe), 8 epochs (3 gave an fp32
    # reference of 9% robust accuracy: no test of anything; RESULTS.md)
    "fgsm": dict(model="wong", objective="fgsm", norm="linf", eps=0.3, alpha=0.375, steps=1,
                 lr=5e-3, lr_schedule=CYCLIC, batch_size=100, epochs=8),
    # the same on all 55,000 training images for 10 epochs (run with --size 55000): the fast
    # headline trial fgsm-rs of config/headline.yaml, whose fp32 reference is robust (RESULTS.md)
    "fgsm-55k": dict(model="wong", objective="fgsm", norm="linf", eps=0.3, alpha=0.375, steps=1,
                     lr=5e-3, lr_schedule=CYCLIC, batch_size=100, epochs=10),
    # the default config's linf-0.3 recipe (Madry's PGD, 5 steps, the small CNN), 600 steps
    "pgd": dict(model="small", objective="pgd", norm="linf", eps=0.3, alpha=0.15, steps=5,
                lr=1e-3, batch_size=64, iterations=600, eps_warmup=100),
    # the default config's trades-1 recipe, 600 steps
    "trades": dict(model="small", objective="trades", norm="linf", eps=0.3, alpha=0.15, steps=5,
                   trades_beta=1.0, lr=1e-3, batch_size=64, iterations=600, eps_warmup=100),
}
LEVER = {"precision": "bf16", "channels_last": True}
TOLERANCE = 1.5  # points: the lever's mean may fall at most this far below fp32's (RESULTS.md)
COLLAPSE = 0.5  # a lever seed below half of fp32's mean robust accuracy is a collapse
MEANINGFUL = 0.5  # an fp32 reference below this mean robust accuracy decides nothing


def accept(fp32: list[float], lever: list[float]) -> tuple[bool, str]:
    """The rule fixed before the run: accepted iff mean(lever) >= mean(fp32) - TOLERANCE points
    and no lever seed collapses (robust accuracy < COLLAPSE x mean(fp32)); accuracies in [0, 1].
    ``ValueError`` (undecided) when the fp32 reference's mean is below MEANINGFUL."""
    mf, ml = statistics.mean(fp32), statistics.mean(lever)
    if mf < MEANINGFUL:
        raise ValueError(f"undecided: the fp32 reference is not robust (mean {mf:.3f} < {MEANINGFUL})")
    if min(lever) < COLLAPSE * mf:
        return False, f"a seed collapsed ({min(lever):.3f} < {COLLAPSE} x {mf:.3f})"
    if ml < mf - TOLERANCE / 100:
        return False, f"mean {ml:.4f} more than {TOLERANCE} points below fp32's {mf:.4f}"
    return True, f"mean {ml:.4f} vs fp32 {mf:.4f} (difference {100 * (ml - mf):+.2f} points)"


def robust(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, bf16: bool,
           steps: int = 20) -> tuple[float, float]:
    """(clean, PGD-``steps`` l_inf 0.3 accuracy, step 2.5 eps / steps, one seeded restart)."""
    gen = torch.Generator().manual_seed(0)
    correct = clean = 0
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(y), 500):
            xb, yb = x[i:i + 500], y[i:i + 500]
            with torch.no_grad():
                clean += int((model(xb).argmax(1) == yb).sum())
            xa = pgd(model, xb, yb, norm="linf", eps=0.3, alpha=2.5 * 0.3 / steps, steps=steps,
                     generator=gen)
            with torch.no_grad():
                correct += int((model(xa).argmax(1) == yb).sum())
    return clean / len(y), correct / len(y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objectives", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist("shipped", path=ROOT / "data" / "mnist", validation=5000, seed=0)
    idx = balanced_subset_indices(data.y_train, args.size, 0)
    x = torch.from_numpy(data.x_train[idx]).unsqueeze(1).float().div_(255)
    y = torch.from_numpy(data.y_train[idx])
    vidx = balanced_subset_indices(data.y_val, args.n_val, 0)
    xv = torch.from_numpy(data.x_val[vidx]).unsqueeze(1).float().div_(255)
    yv = torch.from_numpy(data.y_val[vidx])
    rows = []
    for obj in args.objectives:
        for seed in args.seeds:
            for lever in ("fp32", "channels_last+bf16"):
                extra = LEVER if lever != "fp32" else {}
                cfg = TrainConfig.from_dict({**recipe_defaults(), "precision": "fp32", **RECIPES[obj], **extra,
                                             "seed": seed, "device": "cpu"})
                t = time.perf_counter()
                model, _ = train(cfg, x, y)
                seconds = time.perf_counter() - t
                clean, rob = robust(model, xv, yv, bf16=False)
                row = {"objective": obj, "seed": seed, "lever": lever, "train_s": round(seconds, 1),
                       "val_clean": clean, "val_pgd20": rob}
                if lever == "fp32":  # the bf16 evaluation option, same model and images
                    row["val_pgd20_bf16_eval"] = robust(model, xv, yv, bf16=True)[1]
                rows.append(row)
                print(json.dumps(row), flush=True)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    for obj, g in df.groupby("objective"):
        fp = g[g.lever == "fp32"].sort_values("seed")
        lv = g[g.lever != "fp32"].sort_values("seed")
        try:
            ok, why = accept(list(fp.val_pgd20), list(lv.val_pgd20))
        except ValueError as err:
            print(f"{obj}: {err}", flush=True)
            continue
        gap = 100 * (fp.val_pgd20_bf16_eval - fp.val_pgd20).abs().max()
        print(f"{obj}: {'ACCEPTED' if ok else 'REJECTED'}: {why}; speed-up "
              f"{fp.train_s.median() / lv.train_s.median():.2f}x (median train s); bf16 evaluation "
              f"max |difference| {gap:.2f} points", flush=True)


if __name__ == "__main__":
    main()
