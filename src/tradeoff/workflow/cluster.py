"""Where GPU rules run and how long their jobs may take: GPU requests, conda env, SLURM runtimes.

Pure Python (no torch at import): the workflow calls these while it is parsed. Only
``require_gpus`` imports torch, inside a job that asked for a GPU.

- GPU requests follow ``mnist.device`` explicitly: ``cuda`` requests one GPU per GPU-rule job;
  ``auto`` and ``cpu`` request none (a profile may still add ``gpu`` per rule with set-resources).
  So the default config on a CPU-only cluster submits no ``--gpus``.
- The conda env of those rules follows the same setting: ``cuda`` -> ``envs/torch-gpu.yaml``
  (``pytorch-gpu``, a CUDA build or nothing), otherwise ``envs/torch.yaml`` (``pytorch-cpu``).
- A job whose resources ask for a GPU and that finds none stops (``require_gpus``) instead of
  training on the CPU.
- Runtimes (SLURM ``-t``, minutes) of the torch rules come from the config's amount of work, in
  forward+backward passes of one example, divided by a measured CPU throughput
  (``CPU_EXAMPLES_PER_S``), times a safety factor. GPU jobs get ``GPU_MINUTES_PROVISIONAL``: no
  GPU has been measured yet (bench/RESULTS.md), so that number is a guess, marked as such.
"""

from __future__ import annotations

import math
import os
from typing import Any

from tradeoff.workflow.config import recipe_defaults

#: the rules whose jobs may run on a GPU (training and attacks)
GPU_RULES = ("mnist_train", "mnist_eval", "saliency_judge", "saliency_robust_judge", "saliency_extract")

#: forward+backward passes of one 28x28 example per second, one CPU thread, batch 64: measured with
#: `OMP_NUM_THREADS=1 python bench/throughput_cpu/throughput_cpu.py` on the 2-core development machine while it was
#: shared (load average 6.7 on 2 cores, 2026-12-02): small 919, mlp 12700, madry 339. A loaded
#: machine's figure makes the limits generous rather than tight.
CPU_EXAMPLES_PER_S = {"small": 919.0, "mlp": 12700.0, "madry": 339.0}
#: SLURM time limit = SAFETY x estimated compute + START_MINUTES (Python, torch and data start-up)
SAFETY = 3.0
START_MINUTES = 5
MIN_MINUTES = 10
#: PROVISIONAL, not measured: the time limit of a GPU job (no GPU measurement exists yet)
GPU_MINUTES_PROVISIONAL = 720
#: passes per example of one AutoAttack run (APGD-CE 100 + APGD-T 9 x 100 + FAB-T 9 x 100 +
#: Square 5000 queries, the standard version's budgets): an upper estimate
AUTOATTACK_PASSES = 7000


class GpuMissingError(RuntimeError):
    pass


def gpu_request(device: str) -> int:
    """GPUs one GPU-rule job requests: 1 for ``mnist.device: cuda``, none for ``auto`` or ``cpu``."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"mnist.device {device!r} is not auto, cpu or cuda")
    return 1 if device == "cuda" else 0


def torch_env(device: str) -> str:
    """The GPU rules' conda env (relative to workflow/rules/): a CUDA build only for ``cuda``."""
    return "../../envs/torch-gpu.yaml" if gpu_request(device) else "../../envs/torch.yaml"


def require_gpus(n: int, rule: str) -> None:
    """Stop a job that requested ``n`` GPUs unless torch sees at least ``n`` CUDA devices."""
    if n <= 0:
        return
    import torch

    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if found >= n:
        return
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    raise GpuMissingError(
        f"rule {rule}: the job requested {n} GPU(s) (resources gpu={n}) but torch {torch.__version__} "
        f"({build}) sees {found} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); "
        "stopping instead of training on the CPU. Check the node's GPU allocation (--gpus/--gres) and "
        "driver; with --use-conda set mnist.device: cuda so that GPU rules use envs/torch-gpu.yaml; "
        "or request no GPU (mnist.device: auto or cpu, and no gpu in the profile's set-resources)."
    )


def _train_passes(recipe: dict[str, Any], size: int) -> float:
    """Forward+backward passes of one example over a training run on ``size`` images."""
    r = {**recipe_defaults(), **recipe}  # the schema's default of each key the recipe leaves out
    per_example = {"standard": 1, "pgd": 1 + r["steps"], "trades": 2 + r["steps"]}
    examples = r["epochs"] * size if r.get("epochs") else r["iterations"] * r["batch_size"]
    if r.get("stopping"):  # the training-length rule: its cap, and its validation score every epoch
        from tradeoff.adversarial.stopping import StoppingRule

        rule = StoppingRule.from_dict(r["stopping"])
        scored = rule.clean_n if r["objective"] == "standard" else rule.robust_n * (rule.robust_steps + 1)
        return rule.cap(size) * (size * per_example.get(r["objective"], 1) + scored)
    return examples * per_example.get(r["objective"], 1)


def _model(recipe: dict[str, Any]) -> str:
    return str({**recipe_defaults(), **recipe}["model"])


def _attack_passes(spec: dict[str, Any]) -> float:
    """Passes per attacked example of one attack spec of the evaluation grid."""
    kind = spec["attack"]
    if kind == "clean":
        return 1
    if kind == "fgsm":
        return 2
    if kind == "autoattack":
        return AUTOATTACK_PASSES
    return spec.get("restarts", 1) * (spec.get("steps", 1) + 1)


def _minutes(passes: float, model: str) -> int:
    seconds = passes / CPU_EXAMPLES_PER_S.get(model, min(CPU_EXAMPLES_PER_S.values()))
    return max(MIN_MINUTES, math.ceil(SAFETY * seconds / 60) + START_MINUTES)


def cpu_minutes(config: dict[str, Any], recipes: dict[str, dict[str, Any]],
                models: list[tuple[str, int, int]], grid: list[dict[str, Any]]) -> dict[str, int]:
    """Rule -> time limit in minutes of its longest job on one CPU thread (the torch rules).

    ``recipes``, ``models`` and ``grid`` are tradeoff.workflow.plan's mnist_recipes, mnist_models and
    attack_grid of ``config``.
    """
    mn = config["mnist"]
    trained = {r for r, _, _ in models}
    out = {"mnist_train": max(_minutes(_train_passes(recipes[r], n), _model(recipes[r])) for r, n, _ in models)}
    ev = mn["evaluation"]
    sanity = ev["sanity"]
    per_example = sum(_attack_passes(s) for s in grid) + 2 * (sanity["steps"] + 1) + 2
    out["mnist_eval"] = max(_minutes(ev["n"] * per_example, _model(recipes[r])) for r in trained)
    if "masking" in mn:  # PGD (steps + 1 passes a restart) and AutoAttack on each of the first n images
        pgd = mn["masking"]["pgd"]
        passes = mn["masking"]["n"] * (pgd["restarts"] * (pgd["steps"] + 1) + AUTOATTACK_PASSES + 1)
        out["mnist_masking"] = max(_minutes(passes, _model(recipes[r])) for r in {r for r, _, _ in models})
    sal = config.get("saliency")
    if sal:
        judge = sal["judge"]
        out["saliency_judge"] = _minutes(judge["iterations"] * judge["batch_size"], judge["model"])
        rj = sal["robust_judge"]  # PGD training: (1 + steps) passes per example
        out["saliency_robust_judge"] = _minutes(rj["iterations"] * rj["batch_size"] * (rj["steps"] + 1), rj["model"])
        le = sal["large_eps"]  # the large-eps examples and the small-eps control: two targeted attacks per pair
        passes = 2 * 10 * le["per_class"] * 9 * (le["steps"] + 1) + 10 * sal["examples"]["per_class"] * 2
        out["saliency_extract"] = max(
            _minutes(passes, _model(recipes[r])) for r in sal["models"]["recipes"]
        )
    return out


def job_minutes(rule: str, device: str, cpu: dict[str, int]) -> int:
    """The time limit of a job of ``rule``: provisional for GPU jobs, else the CPU estimate."""
    if gpu_request(device) and rule in GPU_RULES:
        return GPU_MINUTES_PROVISIONAL
    return cpu[rule]
