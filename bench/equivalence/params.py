"""The training configs and evaluation params a config's rules get, as JSON: a cheap equivalence
check of a refactor of the config path (issue 28), beside run.sh's outputs.

For every MNIST model of the config, the :class:`TrainConfig` that ``mnist_train``'s stage builds from
the rule's params (captured where it calls ``train``, nothing trained), its evaluation params, and
the theory fits; the saliency judges' and the headline trials' :class:`TrainConfig`. Run it with
``PYTHONPATH`` on the tree to check (before and after), then diff; further config files are overlays
(merged as Snakemake's ``--configfile`` merges them, e.g. config/config.yaml config/headline.yaml):

    PYTHONPATH=OLD/src python bench/equivalence/params.py OLD CONFIG.yaml [OVERLAY.yaml] > before.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch


class _Captured(Exception):
    pass


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's overlay of config files: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def main(repo: str, *config_paths: str) -> None:
    try:  # after issue 31
        from tradeoff.workflow import config as config_mod
        from tradeoff.workflow import plan
    except ImportError:  # before
        from tradeoff import config as config_mod  # type: ignore[no-redef]
        from tradeoff import workflow_plan as plan  # type: ignore[no-redef]
    from tradeoff.adversarial.training import TrainConfig

    load_yaml, validate_config = config_mod.load_yaml, config_mod.validate_config
    from tradeoff.datasets.mnist import MnistData
    from tradeoff.stages import mnist_train, saliency

    raw: dict[str, Any] = {}
    for path in config_paths:
        raw = _merge(raw, load_yaml(path))
    config = validate_config(raw, Path(repo) / "workflow/schemas/config.schema.yaml")

    # before issue 28 the grids were derived in the config module
    all_fits = getattr(plan, "all_fits", None) or getattr(config_mod, "all_fits")  # noqa: B009
    mnist_models = getattr(plan, "mnist_models", None) or getattr(config_mod, "mnist_models")  # noqa: B009
    out: dict[str, Any] = {"fits": [f.path for f in all_fits(config)]}
    if "mnist" not in config:
        print(json.dumps(out, indent=1, sort_keys=True))
        return
    labels = np.arange(60_000, dtype=np.int64) % 10
    fake = MnistData(x_train=np.zeros((60_000, 28, 28), np.uint8), y_train=labels,
                     x_val=np.zeros((5000, 28, 28), np.uint8), y_val=labels[:5000], val_index=np.arange(5000),
                     x_test=np.zeros((10, 28, 28), np.uint8), y_test=labels[:10], source="fake", description="fake")
    mnist_train.load_npz = lambda _path: fake  # type: ignore[assignment]

    def capture(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        raise _Captured(json.dumps(cfg.to_dict(), sort_keys=True))

    mnist_train.train = capture  # type: ignore[assignment]
    mnist_train.resolve_device = lambda _device: torch.device("cpu")  # type: ignore[assignment]  # cuda configs
    runtime = getattr(plan, "mnist_train_runtime", plan.mnist_runtime)(config)
    models = {}
    for recipe, size, seed in mnist_models(config):
        try:
            mnist_train.train_model("d", "w", "h", recipe_name=recipe, recipe=plan.recipe_params(config, recipe),
                                    size=size, seed=seed, checkpoint_dir="ck", **runtime)
        except _Captured as c:
            models[f"{recipe}/n~{size}/seed~{seed}"] = {"train": json.loads(str(c)),
                                                        "eval": plan.mnist_eval_params(config, recipe)}
    out["models"] = models
    if "headline" in config:
        out["headline"] = {t: TrainConfig.from_dict(plan.headline_trial_params(config, t)).to_dict()
                           for t in sorted(config["headline"]["trials"])}
    if "saliency" in config:
        sal, rt = config["saliency"], plan.mnist_runtime(config)
        judges = {}
        for role in ("judge", "robust_judge"):
            spec = (plan.saliency_judge_params(config, role) if hasattr(plan, "saliency_judge_params")
                    else {**({"objective": "pgd"} if role == "robust_judge" else {}), **sal[role]})  # before
            for seed in sal["models"]["seeds"]:
                judges[f"{role}/seed~{seed}"] = saliency.judge_config(spec, seed=seed, **rt).to_dict()
        out["judges"] = judges
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
