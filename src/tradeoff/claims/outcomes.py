"""Per-example outcomes of the attack evaluation: one boolean per (grid entry, test image) of a model,
stored beside its eval CSV so that any two models can be compared on the same images.

numpy and pandas only (the tables stage reads these without torch)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeoff import io

__all__ = ["OUTCOME_KEYS", "read_outcomes", "write_outcomes"]

OUTCOME_KEYS = ["attack", "norm", "eps", "steps", "restarts", "alpha"]
"""The spec columns stored beside each row of an outcomes file (in the CSV's row order)."""


def write_outcomes(path: str, rows: pd.DataFrame, outcomes: np.ndarray, index: np.ndarray, *,
                   weights_sha256: str | None = None) -> None:
    """Per-example outcomes beside the eval CSV: ``correct`` (entries x images, bool; row i belongs to
    the CSV's row i; an attack row evaluated on the first ``n`` images only, ``attack_n``, is False
    past them), ``index`` (the images' test-set indices, the pairing key across models), ``n`` (each
    row's images, the CSV's column), the
    spec columns OUTCOME_KEYS of each row and the model's ``recipe``, ``size`` and ``seed`` (and, when
    given, ``weights_sha256``: the SHA-256 of the weights file the outcomes came from)."""
    if outcomes.shape != (len(rows), len(index)):
        raise ValueError(f"outcomes of shape {outcomes.shape} do not match {len(rows)} rows x {len(index)} images")
    first = rows.iloc[0]
    extra = {"weights_sha256": np.array(weights_sha256)} if weights_sha256 else {}
    io.write_npz(path, **extra, correct=outcomes.astype(bool), index=index.astype(np.int64), n=(rows["n"].to_numpy(np.int64) if "n" in rows else np.full(len(rows), len(index), dtype=np.int64)),
                 recipe=np.array(str(first["recipe"])), size=np.int64(first["size"]), seed=np.int64(first["seed"]),
                 **{k: rows[k].to_numpy(dtype=str if k in ("attack", "norm") else np.float64)
                    for k in OUTCOME_KEYS})


def read_outcomes(path: str) -> tuple[tuple[str, int, int], pd.DataFrame, np.ndarray, np.ndarray]:
    """((recipe, size, seed), specs, correct, index) of a file written by :func:`write_outcomes`."""
    with np.load(path) as z:
        specs = pd.DataFrame({k: z[k] for k in OUTCOME_KEYS})
        # images each row was evaluated on: the first n (files before attack_n: all of them)
        specs["n"] = z["n"] if "n" in z else len(z["index"])
        model = (str(z["recipe"]), int(z["size"]), int(z["seed"]))
        return model, specs, z["correct"].astype(bool), z["index"]
