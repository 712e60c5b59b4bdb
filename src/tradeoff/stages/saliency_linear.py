"""Stage: standard and robust-margin l_inf SVMs on one MNIST digit pair (paper App. E)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.datasets.mnist import load_npz
from tradeoff.saliency import linear as lin

log = logging.getLogger(__name__)


def linear_classifiers(data: str, arrays: str, table: str, *, digits: list[int], C: float, eps_train: list[float],
                       eps_test: list[float], tol: float, max_iter: int, weak_corr: float = 0.1) -> pd.DataFrame:
    """Standard and robust-margin l_inf SVMs on one digit pair; weights and per-test-image exact robust
    outcomes ``correct`` (fits x eps_test x images, with ``eps_test``) (.npz), exact accuracies (.csv)."""
    mnist = load_npz(data)
    a, b = (int(d) for d in digits)
    X, s = lin.digit_pair(mnist.x_train, mnist.y_train, a, b)
    Xt, st = lin.digit_pair(mnist.x_test, mnist.y_test, a, b)
    log.info("digits %d (+1) vs %d (-1): %d training, %d test images", a, b, len(s), len(st))
    fits = lin.fit_linear_classifiers(X, s, Xt, st, eps_train, eps_test, C=C, tol=tol, max_iter=max_iter,
                                      weak_corr=weak_corr)
    acc = fits.accuracy
    acc.insert(0, "digits", f"{a}-vs-{b}")
    acc.insert(1, "C", C)
    for _, r in acc[acc["eps_test"] == 0].iterrows():
        log.info("eps_train %g: clean %.4f, %d non-zero weights, %.3f of the l1 weight on |corr| < %g, converged %s",
                 r["eps_train"], r["accuracy"], r["n_nonzero"], r["weak_weight_share"], weak_corr, r["converged"])
    if not acc["converged"].all():
        log.warning("some linear fits did not reach tol=%g within max_iter=%d", tol, max_iter)
    eps_test_all = sorted({0.0, *map(float, eps_test)})
    # per test image: exact (box-aware) robust correctness of each fit at each test eps, for paired claims
    correct = np.array([[lin.box_robust_margins(w.ravel(), b, Xt, st, t) > 0 for t in eps_test_all]
                        for w, b in zip(fits.weights, fits.intercepts, strict=True)])
    io.write_npz(arrays, weights=fits.weights, intercepts=fits.intercepts, eps_train=fits.eps_train,
                 eps_test=np.asarray(eps_test_all), correct=correct)
    io.write_csv(acc, table)
    return acc
