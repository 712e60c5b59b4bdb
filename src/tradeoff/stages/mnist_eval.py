"""Stage: attack one trained model over the configured grid, plus gradient-masking sanity checks."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tradeoff import io
from tradeoff.adversarial.robust_eval import evaluate_grid_outcomes, sanity_checks
from tradeoff.claims.outcomes import write_outcomes
from tradeoff.datasets.mnist import balanced_subset_indices, load_npz
from tradeoff.nets.checkpoints import discarding_corrupt, load_weights, weights_digest
from tradeoff.nets.device import resolve_device
from tradeoff.runtime import resolve_levers

log = logging.getLogger(__name__)

EVAL_COLUMNS = ["recipe", "size", "seed", "attack", "norm", "eps", "steps", "restarts", "n", "accuracy",
                "device", "precision"]


def eval_subset_indices(data: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A seeded, class-balanced subset of ``n`` test images (all of them if fewer), in [0, 1], with
    the images' indices in the test set."""
    mnist = load_npz(data)
    idx = balanced_subset_indices(mnist.y_test, min(n, len(mnist.y_test)), seed)
    x = torch.from_numpy(mnist.x_test[idx]).unsqueeze(1).float().div_(255)
    return x, torch.from_numpy(mnist.y_test[idx]), np.asarray(idx, dtype=np.int64)


def test_subset(data: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded, class-balanced subset of ``n`` test images (all of them if fewer), in [0, 1]."""
    x, y, _ = eval_subset_indices(data, n, seed)
    return x, y


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 (an evaluation option; fp32 is the default): autocast on CUDA or a CPU with bf16
    hardware. Asked for on a CPU without it, evaluation refuses rather than change precision
    silently: the table's ``precision`` column must say what ran."""
    levers = resolve_levers(precision, device.type)
    if levers.dropped:
        raise ValueError(f"mnist.precision: {levers.dropped.split(':')[0]}; set it to fp32")
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _load(path: str, device: torch.device, expect: Mapping[str, str] | None = None) -> torch.nn.Module:
    """The model in ``path``; a corrupt file is removed (so the next run retrains it), one whose
    metadata is not ``expect`` (another model's file) is refused naming both and left alone."""
    with discarding_corrupt(path):
        return load_weights(None, path, device=device, expect=expect)


def weights_record(path: str) -> dict[str, str]:
    """What an evaluation output records of the weights it came from: the file's SHA-256 and the
    digest over its tensors that its header stores (what the workflow's model check compares)."""
    return {"weights_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "weights_digest": weights_digest(path)}


def _grid_outcomes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, grid: list[dict[str, Any]], m: int, *,
                   batch_size: int, device: torch.device, seed: int, precision: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The grid's rows and outcomes (grid order): clean entries on all images, the others on the
    first ``m``; an attack row's outcomes past its ``n`` are False (not evaluated)."""
    def run(specs: list[dict[str, Any]], k: int) -> tuple[pd.DataFrame, np.ndarray]:
        return evaluate_grid_outcomes(model, x[:k], y[:k], specs, batch_size=batch_size, device=device, seed=seed,
                                      attack_precision=precision)

    if m >= len(y):
        return run(grid, len(y))
    clean = [i for i, s in enumerate(grid) if str(s["attack"]).lower() == "clean"]
    other = [i for i in range(len(grid)) if i not in clean]
    parts = [(clean, *run([grid[i] for i in clean], len(y))), (other, *run([grid[i] for i in other], m))]
    rows: list[pd.Series] = [pd.Series(dtype=object)] * len(grid)
    correct = np.zeros((len(grid), len(y)), dtype=bool)
    for positions, table, ok in parts:
        for j, i in enumerate(positions):
            rows[i] = table.iloc[j]
            correct[i, :ok.shape[1]] = ok[j]
    return pd.DataFrame(rows).reset_index(drop=True), correct


def evaluate_model(data: str, weights: str, source_weights: str, table: str, sanity: str, *, recipe_name: str,
                   size: int, seed: int, grid: list[dict[str, Any]], n: int, batch_size: int, eval_seed: int,
                   sanity_spec: dict[str, Any], device: str, precision: str,
                   outcomes: str | None = None, channels_last: bool = False,
                   attack_n: int | None = None, expect: Mapping[str, str] | None = None,
                   source_expect: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Write the model's tidy accuracy table (EVAL_COLUMNS first), its sanity-check JSON and (when
    ``outcomes`` is given) its per-example outcomes (:func:`write_outcomes`). ``channels_last``:
    the models run NHWC (a speed lever; the same function up to fp32 rounding). ``attack_n``: the
    attacks and the sanity checks run on the first ``attack_n`` of the ``n`` images (the subsets
    are nested), clean accuracy on all ``n``; each row's ``n`` says which. ``expect`` and
    ``source_expect``: the identity (:func:`tradeoff.nets.identity.model_identity`) the weights and
    the transfer source's weights must state; the sanity JSON records both files' SHA-256."""
    dev = resolve_device(device)
    x, y, index = eval_subset_indices(data, n, eval_seed)
    m = len(y) if attack_n is None else min(int(attack_n), len(y))
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = _load(weights, dev, expect).to(memory_format=memory)
    record = weights_record(weights)  # the file just loaded (validated: its digest matched)
    _autocast(precision, dev)  # refuses bf16 where the CPU cannot
    # bf16: the examples are crafted under autocast, every prediction that decides the table is fp32
    rows, correct = _grid_outcomes(model, x, y, grid, m, batch_size=batch_size, device=dev, seed=eval_seed,
                                   precision=precision)
    with _autocast(precision, dev):
        source = (_load(source_weights, dev, source_expect).to(memory_format=memory)
                  if source_weights != weights else None)
        checks = sanity_checks(model, x[:m], y[:m], norm=sanity_spec["norm"], eps=sanity_spec["eps"],
                               steps=sanity_spec["steps"], source_model=source, batch_size=batch_size,
                               device=dev, seed=eval_seed)
    rows.insert(0, "recipe", recipe_name)
    rows.insert(1, "size", size)
    rows.insert(2, "seed", seed)
    rows["device"] = str(dev)
    rows["precision"] = precision
    for _, r in rows.iterrows():
        log.info("%s %s eps=%s steps=%s restarts=%s: %.4f in %.1f s", r["attack"], r["norm"], r["eps"], r["steps"],
                 r["restarts"], r["accuracy"], r["seconds"])
    # wall-clock time goes to the log, not the table: the same seed and threads give byte-identical tables
    rows = rows.drop(columns=["seconds"])
    rows = rows[EVAL_COLUMNS + [c for c in rows.columns if c not in EVAL_COLUMNS]]
    io.write_csv(rows, table)
    if outcomes is not None:
        write_outcomes(outcomes, rows, correct, index, weights_sha256=record["weights_sha256"])
    checks = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in checks.items()}
    io.write_json({"recipe": recipe_name, "size": size, "seed": seed, "device": str(dev), "precision": precision,
                   "torch": torch.__version__, "source": source_weights if source is not None else None,
                   "weights": {"path": weights, **record, "recipe_hash": (expect or {}).get("recipe_hash")},
                   "source_weights": {"path": source_weights, **weights_record(source_weights)}
                   if source is not None else None, **checks}, sanity)
    return rows
