#!/usr/bin/env python
"""One complete training run of a named recipe, timed start to final checkpoint, then evaluated.

The issue-5 proofs: the 100k-iteration Madry recipe (``linf-0.3``) and the fast recipe
(``madry-fast``) of ``config/paper.yaml``, each trained from scratch on the full MNIST with
``tradeoff.adversarial.training.train`` (engine ``auto``: the CUDA-graph engine on a GPU), checkpointing as
the pipeline does. ``seconds_to_final_checkpoint`` runs from this process's start (imports, data
loading, graph capture included) to ``train`` returning, which is after its final checkpoint is
written. Then the model is evaluated on the test set with ``tradeoff.adversarial.robust_eval.evaluate_grid``
(clean, each ``--pgd STEPSxRESTARTS``, optionally AutoAttack), and with ``--check-eager`` the
same PGD again on the plain fp32 reference (``engine="eager"``) to show the fast attack is not
weaker. Everything lands in ``--out``: ``train.log``, ``weights.safetensors``, ``summary.json``.

Examples::

    python bench/gpu/gpu_run.py --recipe linf-0.3 --mnist-dir .data/mnist --pgd 100x20 \\
        --check-eager --out $OUT/madry-100k
    python bench/gpu/gpu_run.py --recipe madry-fast --mnist-dir .data/mnist --pgd 100x10 \\
        --autoattack --out $OUT/madry-fast
    python bench/gpu/gpu_run.py --recipe linf-0.3 --device cpu --synthetic 256 --model small \\
        --iterations 6 --batch-size 32 --steps 2 --eval-n 64 --pgd 5x2 --out /tmp/run  # smoke
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # before the heavy imports: they count towards the wall clock

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402
import yaml  # noqa: E402

from tradeoff.adversarial.robust_eval import evaluate_grid  # noqa: E402
from tradeoff.adversarial.training import TrainConfig, train  # noqa: E402
from tradeoff.nets.checkpoints import save_weights  # noqa: E402
from tradeoff.nets.device import resolve_device
from tradeoff.workflow.config import recipe_defaults  # noqa: E402
from tradeoff.workflow.plan import mnist_recipes  # noqa: E402


def load(args: argparse.Namespace) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test), images float (N, 1, 28, 28) in [0, 1]."""
    if args.synthetic:
        g = torch.Generator().manual_seed(0)
        templates = torch.randn(10, 1, 28, 28, generator=g)

        def synth(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(0, 10, (n,), generator=g)
            x = 0.5 + 0.15 * templates[y] + 0.3 * torch.randn(n, 1, 28, 28, generator=g)
            return x.clamp(0, 1), y

        return (*synth(args.synthetic), *synth(args.eval_n))
    from tradeoff.datasets.mnist import balanced_subset_indices, load_mnist

    m = load_mnist("local", path=args.mnist_dir)

    def f(a: Any) -> torch.Tensor:
        return torch.from_numpy(a).unsqueeze(1).float().div_(255)

    xte, yte = m.x_test, m.y_test
    if args.eval_n < len(yte):
        idx = balanced_subset_indices(yte, args.eval_n, 0)
        xte, yte = xte[idx], yte[idx]
    return (f(m.x_train), torch.from_numpy(m.y_train).long(), f(xte),
            torch.from_numpy(yte).long())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--config", default=str(REPO / "config" / "paper.yaml"))
    ap.add_argument("--mnist-dir", default=str(REPO / ".data" / "mnist"))
    ap.add_argument("--synthetic", type=int, default=0, help="N synthetic images (smoke test)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="fp32", help="training precision (fp32, bf16)")
    ap.add_argument("--engine", default=None, help="override the recipe's engine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--deterministic", default=None, choices=["true", "false"])
    ap.add_argument("--checkpoint-interval-s", type=float, default=60.0)
    ap.add_argument("--eval-n", type=int, default=10000)
    ap.add_argument("--eval-batch", type=int, default=5000)
    ap.add_argument("--eval-precision", default="fp32", help="attack precision (fp32, bf16)")
    ap.add_argument("--pgd", nargs="*", default=["100x10"], help="STEPSxRESTARTS, l_inf 0.3")
    ap.add_argument("--autoattack", action="store_true")
    ap.add_argument("--check-eager", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("gpu_run")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(out / "train.log"),
                                  logging.StreamHandler(sys.stderr)])

    config = yaml.safe_load(Path(args.config).read_text())
    recipes = mnist_recipes(config)
    if args.recipe not in recipes:
        raise SystemExit(f"recipe {args.recipe!r} not in {args.config} ({', '.join(recipes)})")
    recipe = dict(recipes[args.recipe])
    for key, val in (("model", args.model), ("iterations", args.iterations),
                     ("batch_size", args.batch_size), ("steps", args.steps),
                     ("engine", args.engine)):
        if val is not None:
            recipe[key] = val
    if args.deterministic is not None:
        recipe["deterministic"] = args.deterministic == "true"
    if "iterations" in recipe:
        recipe.pop("epochs", None)
    cfg = TrainConfig.from_dict({**recipe_defaults(), **recipe, "seed": args.seed, "device": args.device,
                                 "precision": args.precision})
    dev = resolve_device(cfg.device)
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "device": str(dev), "commit": os.environ.get("TRADEOFF_COMMIT", "unknown"),
           "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "none"}
    log.info("recipe %s: %s", args.recipe, json.dumps(cfg.to_dict(), sort_keys=True))
    log.info("environment: %s", json.dumps(env))
    xtr, ytr, xte, yte = load(args)
    t_data = time.perf_counter() - T_START
    log.info("data loaded: %d train, %d test images, %.1f s after start", len(ytr), len(yte),
             t_data)
    model, history = train(cfg, xtr, ytr, checkpoint_dir=out / "checkpoints", log=log,
                           checkpoint_interval_s=args.checkpoint_interval_s)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t_train = time.perf_counter() - T_START
    last = history[-1]
    log.info("final checkpoint written %.1f s after start (iteration %d)", t_train,
             last["iteration"])
    save_weights(model, out / "weights.safetensors",
                 {"architecture": cfg.model, "recipe": args.recipe,
                  "train_config": json.dumps(cfg.to_dict(), sort_keys=True)})

    summary: dict[str, Any] = {
        "recipe": args.recipe, "config": cfg.to_dict(), "environment": env,
        "train": {"iterations": last["iteration"], "epochs": last["epoch"],
                  "seconds_to_final_checkpoint": t_train, "seconds_data": t_data,
                  "iterations_per_s": last["iteration"] / t_train,
                  "last_epoch": last},
        "eval": [],
    }

    def write_summary() -> None:  # after every stage: a run cut by a time limit keeps its part
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    write_summary()
    pgd_grid: list[dict[str, Any]] = []
    for text in args.pgd:
        steps, restarts = (int(v) for v in text.lower().split("x"))
        pgd_grid.append({"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": steps,
                         "restarts": restarts})
    stages: list[tuple[list[dict[str, Any]], str, str]] = [
        ([{"attack": "clean"}, *pgd_grid], "auto", args.eval_precision)]
    if args.autoattack:
        stages.append(([{"attack": "autoattack", "norm": "linf", "eps": 0.3}], "auto", "fp32"))
    if args.check_eager and pgd_grid:
        stages.append((pgd_grid, "eager", "fp32"))
    for grid, engine, precision in stages:
        ac = (torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16"
              else nullcontext())
        with ac:
            rows = evaluate_grid(model, xte, yte, grid, batch_size=args.eval_batch, device=dev,
                                 seed=0, engine=engine)
        rows["engine"] = engine
        rows["precision"] = precision
        for r in rows.to_dict(orient="records"):
            log.info("eval %s steps=%s restarts=%s engine=%s %s: %.4f in %.1f s", r["attack"],
                     r["steps"], r["restarts"], engine, precision, r["accuracy"], r["seconds"])
            summary["eval"].append(r)
        write_summary()
    log.info("summary: %s", out / "summary.json")
    return summary


if __name__ == "__main__":
    main()
