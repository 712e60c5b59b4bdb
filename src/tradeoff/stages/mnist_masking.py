"""Stage: masking ruled out (docs/CLAIMS.md 5.8; issue 30 item 3).

Each model of ``mnist.masking.models`` is attacked at its recipe's own threat model on the same first
``n`` test images of the evaluation's seeded class-balanced subset, by PGD (default PGD-50 x 10, the
headline protocol's step: eps / 30 at l_inf, eps / 20 at l2) and by AutoAttack (standard: APGD-CE,
APGD-T, FAB-T, Square, run component by component on the clean-correct images,
:func:`tradeoff.adversarial.robust_eval.autoattack_cascade`). A model's *gap* is PGD's robust accuracy
minus AutoAttack's. A recipe is marked "gradient attacks overstate" when the gap exceeds ``margin``
(2 points by default) on **any** of its checked models; the tables then quote AutoAttack's robust
accuracy for it (:mod:`tradeoff.claims.masking`, the torch-free table). Clean accuracy is not touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import torch

from tradeoff import io
from tradeoff.adversarial.robust_eval import autoattack_cascade, evaluate_grid_outcomes, predict
from tradeoff.nets.device import resolve_device
from tradeoff.stages.mnist_eval import _load, eval_subset_indices, weights_record

log = logging.getLogger(__name__)


def masking_specs(norm: str, eps: float, pgd: Mapping[str, Any],
                  autoattack: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PGD and the AutoAttack spec at (``norm``, ``eps``) from ``mnist.masking``'s ``pgd`` and
    ``autoattack`` settings: PGD's step is eps / ``step_divisor[norm]``."""
    divisor = float(pgd["step_divisor"][norm])
    p = {"attack": "pgd", "norm": norm, "eps": float(eps), "steps": int(pgd["steps"]),
         "restarts": int(pgd["restarts"]), "alpha": float(eps) / divisor, "random_start": True}
    a = {"attack": "autoattack", "norm": norm, "eps": float(eps), "version": str(autoattack["version"]),
         "steps": int(autoattack["steps"]), "n_queries": int(autoattack["n_queries"])}
    return p, a


def compare_attacks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, norm: str, eps: float,
                    pgd: Mapping[str, Any], autoattack: Mapping[str, Any], batch_size: int = 500,
                    device: str | torch.device = "cpu", seed: int = 0) -> dict[str, Any]:
    """PGD and AutoAttack robust accuracy of ``model`` on (x, y) at (``norm``, ``eps``), on the same
    images: both count an image robust only if it is clean-correct and survives the attack. Returns
    the specs, the accuracies, AutoAttack's components (images still robust after each) and the gap
    (PGD minus AutoAttack)."""
    dev = torch.device(device)
    model.to(dev)
    y = y.cpu().long()
    n = len(y)
    pgd_spec, aa_spec = masking_specs(norm, eps, pgd, autoattack)
    clean_ok = predict(model, x, batch_size=batch_size, device=dev) == y
    t0 = time.perf_counter()
    table, _ = evaluate_grid_outcomes(model, x, y, [pgd_spec], batch_size=batch_size, device=dev, seed=seed)
    pgd_seconds = time.perf_counter() - t0
    idx = clean_ok.nonzero().flatten()
    t0 = time.perf_counter()
    components = (autoattack_cascade(model, x[idx].to(dev), y[idx].to(dev), aa_spec, seed=seed,
                                     batch_size=batch_size) if len(idx) else [])
    aa_seconds = time.perf_counter() - t0
    robust_aa = components[-1]["robust"] if components else 0
    pgd_acc = int(table["n_correct"].iloc[0]) / n if n else float("nan")  # exact: a count over n
    aa_acc = robust_aa / n if n else float("nan")
    for c in components:  # of all n images, not only the clean-correct ones attacked
        c["accuracy"] = c["robust"] / n
        c["n"] = n
    clean = int(clean_ok.sum()) / n if n else float("nan")
    log.info("%s %s eps=%g on %d images: clean %.4f, PGD %.4f (%.0f s), AutoAttack %.4f (%.0f s), gap %+.4f",
             norm, "masking", eps, n, clean, pgd_acc, pgd_seconds, aa_acc, aa_seconds,
             pgd_acc - aa_acc)
    return {"norm": norm, "eps": float(eps), "n": n, "clean": clean,
            "pgd": {"spec": pgd_spec, "accuracy": pgd_acc},
            "autoattack": {"spec": aa_spec, "accuracy": aa_acc, "components": components},
            "gap": pgd_acc - aa_acc}


def evaluate_masking(data: str, weights: str, out: str, *, recipe_name: str, size: int, seed: int, norm: str,
                     eps: float, n: int, eval_seed: int, batch_size: int, pgd: Mapping[str, Any],
                     autoattack: Mapping[str, Any], device: str, channels_last: bool = False,
                     expect: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Attack the model in ``weights`` by PGD and AutoAttack at (``norm``, ``eps``) on the first ``n``
    images of the evaluation's subset (seed ``eval_seed``) and write the record (JSON) to ``out``.
    ``expect``: the identity the weights must state (as :func:`tradeoff.stages.mnist_eval.evaluate_model`);
    ``channels_last``: the evaluation's speed lever (NHWC, the same function). fp32 throughout."""
    dev = resolve_device(device)
    x, y, _ = eval_subset_indices(data, n, eval_seed)
    model = _load(weights, dev, expect)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    record = weights_record(weights)
    result = compare_attacks(model, x, y, norm=norm, eps=eps, pgd=pgd, autoattack=autoattack,
                             batch_size=batch_size, device=dev, seed=eval_seed)
    doc = {"recipe": recipe_name, "size": size, "seed": seed, "device": str(dev), "precision": "fp32",
           "channels_last": bool(channels_last), "torch": torch.__version__,
           "eval_seed": eval_seed, "weights": {"path": weights, **record,
                                               "recipe_hash": (expect or {}).get("recipe_hash")}, **result}
    io.write_json(doc, out)
    return doc
