"""Stage: standard and robust-margin l_inf SVMs on one MNIST digit pair (paper App. E)."""

from __future__ import annotations

import logging

import pandas as pd

from tradeoff import io
from tradeoff.datasets.mnist import load_npz
from tradeoff.saliency import linear as lin

log = logging.getLogger(__name__)


def linear_classifiers(data: str, arrays: str, table: str, *, digits: list[int], C: float, eps_train: list[float],
                       eps_test: list[float], tol: float, max_iter: int) -> pd.DataFrame:
    """Standard and robust-margin l_inf SVMs on one digit pair; weights (.npz), exact accuracies (.csv)."""
    mnist = load_npz(data)
    a, b = (int(d) for d in digits)
    X, s = lin.digit_pair(mnist.x_train, mnist.y_train, a, b)
    Xt, st = lin.digit_pair(mnist.x_test, mnist.y_test, a, b)
    log.info("digits %d (+1) vs %d (-1): %d training, %d test images", a, b, len(s), len(st))
    fits = lin.fit_linear_classifiers(X, s, Xt, st, eps_train, eps_test, C=C, tol=tol, max_iter=max_iter)
    acc = fits.accuracy
    acc.insert(0, "digits", f"{a}-vs-{b}")
    acc.insert(1, "C", C)
    for _, r in acc[acc["eps_test"] == 0].iterrows():
        log.info("eps_train %g: clean %.4f, %d non-zero weights, converged %s", r["eps_train"], r["accuracy"],
                 r["n_nonzero"], r["converged"])
    if not acc["converged"].all():
        log.warning("some linear fits did not reach tol=%g within max_iter=%d", tol, max_iter)
    io.write_npz(arrays, weights=fits.weights, intercepts=fits.intercepts, eps_train=fits.eps_train)
    io.write_csv(acc, table)
    return acc
