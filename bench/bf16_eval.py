"""The bf16 evaluation option against fp32 on the same models and images (issue 14: within 0.3 points).

For each weights file: PGD (l_inf 0.3, ``--steps`` steps of 2.5 eps / steps, one seeded restart,
best iterate) on the same ``--n`` validation images of the shipped MNIST (never the test set),
three ways: fp32; bf16-crafted examples judged in fp32 (``attack_precision="bf16"``, what the
pipeline's ``mnist.precision: bf16`` evaluation does); everything under bf16 autocast (for
comparison). Prints one JSON line per model and the largest |difference| in points.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bf16_eval.py W1.safetensors [W2 ...] [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tradeoff.adversarial.robust_eval import evaluate_grid_outcomes  # noqa: E402
from tradeoff.datasets.mnist import balanced_subset_indices, load_mnist  # noqa: E402
from tradeoff.nets.checkpoints import load_weights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist("shipped", path=ROOT / "data" / "mnist", validation=5000, seed=0)
    idx = balanced_subset_indices(data.y_val, args.n, 0)
    x = torch.from_numpy(data.x_val[idx]).unsqueeze(1).float().div_(255)
    y = torch.from_numpy(data.y_val[idx])
    grid = [{"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": args.steps}]
    worst = 0.0
    for w in args.weights:
        model = load_weights(None, w).to(memory_format=torch.channels_last)
        out = {"weights": w}
        for name, kw, ctx in (("fp32", {}, None), ("bf16_attack_fp32_verdict", {"attack_precision": "bf16"}, None),
                              ("all_bf16", {}, "bf16")):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=ctx == "bf16"):
                table, _ = evaluate_grid_outcomes(model, x, y, grid, batch_size=500, device="cpu", **kw)
            out[name] = float(table["accuracy"].iloc[0])
            out[name + "_s"] = round(time.perf_counter() - t, 1)
        out["diff_points"] = round(100 * (out["bf16_attack_fp32_verdict"] - out["fp32"]), 2)
        worst = max(worst, abs(out["diff_points"]))
        print(json.dumps(out), flush=True)
    print(f"largest |bf16 evaluation - fp32| = {worst:.2f} points (criterion: 0.3)")


if __name__ == "__main__":
    main()
