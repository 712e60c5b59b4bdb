"""Stage: draw the training and test samples of one point of D(p, eta, d), for every seed."""

from __future__ import annotations

import logging
import zlib

import numpy as np

from tradeoff import io
from tradeoff.theory import model as theory

log = logging.getLogger(__name__)


def point_rng(seed: int, slug: str) -> np.random.Generator:
    """The generator of one (seed, data point): independent streams for different points."""
    return np.random.default_rng([seed, zlib.crc32(slug.encode())])


def sample_point(output: str, *, slug: str, p: float, d: int, eta: float, n_train: int, n_test: int,
                 seeds: list[int]) -> None:
    """Write ``X_train_<seed>``, ``y_train_<seed>``, ``X_test_<seed>``, ``y_test_<seed>`` to ``output``.

    ``eta`` is in units of 1/sqrt(d). Features are stored as float32 (column 0 is x1).
    """
    eta_abs = theory.eta_abs(eta, d)
    arrays: dict[str, np.ndarray] = {"seeds": np.asarray(seeds, dtype=np.int64)}
    for seed in seeds:
        rng = point_rng(seed, slug)
        X, y = theory.sample(p, eta_abs, d, n_train + n_test, rng)
        arrays[f"X_train_{seed}"] = X[:n_train].astype(np.float32)
        arrays[f"y_train_{seed}"] = y[:n_train].astype(np.int8)
        arrays[f"X_test_{seed}"] = X[n_train:].astype(np.float32)
        arrays[f"y_test_{seed}"] = y[n_train:].astype(np.int8)
        log.info("seed %d: %d train, %d test examples, d=%d, p=%g, eta=%g/sqrt(d)", seed, n_train, n_test, d, p, eta)
    io.write_npz(output, **arrays)
