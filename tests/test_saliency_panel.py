"""The judge panel's controls on synthetic worlds where the answer is known.

Ten class prototypes (random images with pixels in [0.2, 0.8], pairwise l2 distance about 7) and two
studied models: ``Prototype`` classifies by the nearest prototype (its large-eps examples must move
towards the target's prototype: they *look like* the target), ``NonRobust`` reads ten random unit
directions orthogonal to the prototypes with weight 100 (an l2 step of 0.5 flips it: its examples
look like nothing). A judge that
copies the non-robust model is fooled by the small-eps control as often as by the large-eps examples,
so it must show no excess; the pixel judge (nearest class mean: it sees the true target) must show
the prototype model's excess and none for the non-robust model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tradeoff.saliency import analysis as sal
from tradeoff.saliency import panel as pnl
from tradeoff.stages.saliency_tables import combine, panel_claims

EPS, SMALL = 4.0, 0.5


class Prototype(nn.Module):
    def __init__(self, protos: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mu", torch.from_numpy(protos.reshape(10, -1)).float())
        self.dummy = nn.Parameter(torch.zeros(1))  # a parameter, so the helpers find the device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(x.flatten(1), self.mu) ** 2 / 10 + 0 * self.dummy


class NonRobust(nn.Module):
    """3 x the prototype logits plus 100 x ten unit directions orthogonal to every prototype (centred
    at 0.5): right on the test images (the directions read 0 there), flipped by an l2 step of 0.5
    along them, which leaves the image's resemblance to every prototype unchanged."""

    def __init__(self, protos: np.ndarray, seed: int) -> None:
        super().__init__()
        self.proto = Prototype(protos)
        basis = np.linalg.qr((protos.reshape(10, -1) - 0.5).T)[0]  # (784, 10): the prototypes' span
        v = np.random.default_rng(seed).standard_normal((10, 784))
        v -= (v @ basis) @ basis.T
        self.register_buffer("v", torch.from_numpy(v / np.linalg.norm(v, axis=1, keepdims=True)).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3 * self.proto(x) + 100 * (x.flatten(1) - 0.5) @ self.v.T


def prototype_world() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The synthetic world of the panel tests (and test_saliency_variants): ten class prototypes, 20
    noisy training copies of each with their labels, and one noisy source image per class."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    protos = (0.2 + 0.6 * rng.random((10, 1, 28, 28))).astype(np.float32)
    x_train = np.clip(np.repeat(protos, 20, 0) + 0.02 * rng.standard_normal((200, 1, 28, 28)), 0, 1).astype(np.float32)
    y_train = np.repeat(np.arange(10), 20)
    src = np.clip(protos + 0.02 * rng.standard_normal(protos.shape), 0, 1).astype(np.float32)
    return protos, x_train, y_train, src


@pytest.fixture(scope="module")
def world() -> dict:
    protos, x_train, y_train, src = prototype_world()
    nonrobust = NonRobust(protos, 1)
    y_src = np.arange(10)
    assert (sal.predict(nonrobust, src) == y_src).all() and (sal.predict(Prototype(protos), src) == y_src).all()
    return {"protos": protos, "x_train": x_train, "y_train": y_train, "src": src, "y_src": y_src,
            "models": {"proto": Prototype(protos), "nonrobust": nonrobust}}


def _panel(world: dict, name: str, judges: dict) -> pd.DataFrame:
    model, x, y = world["models"][name], world["src"], world["y_src"]
    ex = sal.large_eps_examples(model, x, y, eps=EPS, steps=20)
    small = sal.large_eps_examples(model, x, y, eps=SMALL, steps=20)
    images = {"target": ex.x_adv, "small_eps": small.x_adv, "random": pnl.random_directions(x[ex.source], EPS, 0)}
    labels = {(j, c): (judge.predict(img) if isinstance(judge, pnl.PixelJudge) else sal.predict(judge, img))
              for j, judge in judges.items() for c, img in images.items()}
    rows = pnl.panel_rows(ex.source, ex.label, ex.target, ex.success, labels)
    rows.insert(0, "recipe", name)
    rows.insert(1, "size", 10)
    rows.insert(2, "seed", 0)
    return rows


def _shares(rows: pd.DataFrame, judge: str) -> np.ndarray:
    s = rows[rows["judge"] == judge].groupby("condition")["judged_target"].mean()
    return s.reindex(list(pnl.CONDITIONS)).to_numpy()


def test_copy_judge_shows_no_excess_true_target_judge_does(world: dict) -> None:
    pixel = pnl.PixelJudge("nearest_mean").fit(world["x_train"], world["y_train"])
    np.testing.assert_array_equal(pixel.predict(world["protos"]), np.arange(10))
    judges = {"copy": NonRobust(world["protos"], 1), "pixel": pixel}
    nonrobust, proto = _panel(world, "nonrobust", judges), _panel(world, "proto", judges)
    copy_nr = _shares(nonrobust, "copy")
    assert copy_nr[0] == 1.0 and copy_nr[1] >= 0.98  # fooled at eps 4 and already at eps 0.5
    assert abs(pnl.excess(copy_nr)) <= 0.02  # pure transfer: no excess
    pix_nr, pix_proto = _shares(nonrobust, "pixel"), _shares(proto, "pixel")
    assert pix_nr[0] <= 0.05 and pnl.excess(pix_nr) <= 0.05  # the non-robust examples look like nothing
    assert pix_proto[0] >= 0.95 and pix_proto[1] == 0.0 and pix_proto[2] == 0.0  # they look like the target
    assert pnl.excess(pix_proto) >= 0.95
    # the claim: robust minus standard excess, per judge, on the same (image, target) pairs
    table = pd.concat([nonrobust, proto], ignore_index=True)
    comps = {c.metric.split(" ")[0]: c for c in panel_claims(table, {"nonrobust": "standard", "proto": "pgd"},
                                                              n_resamples=300) if c.level == "models"}
    pix_test = comps["pixel"].test
    assert pix_test is not None and pix_test.interval is not None
    assert comps["pixel"].estimate >= 0.9 and pix_test.interval(0.02)[0] > 0.8
    assert comps["pixel"].standard == pytest.approx(pnl.excess(pix_nr))
    assert comps["pixel"].robust == pytest.approx(pnl.excess(pix_proto))
    assert abs(comps["copy"].standard) <= 0.02


def test_excess_and_random_directions() -> None:
    assert pnl.excess(np.array([0.7, 0.2, 0.5])) == pytest.approx(0.2)
    np.testing.assert_allclose(pnl.excess(np.array([[0.7, 0.2, 0.5], [0.1, 0.3, 0.0]])), [0.2, -0.2])
    with pytest.raises(ValueError, match="need 3 shares"):
        pnl.excess(np.zeros(2))
    x = np.full((5, 1, 28, 28), 0.5, dtype=np.float32)
    x[0] = 0.0  # at the box edge: the clip shortens the step
    r = pnl.random_directions(x, 2.0, seed=2)
    d = np.linalg.norm((r - x).reshape(5, -1), axis=1)
    assert r.min() >= 0 and r.max() <= 1
    np.testing.assert_allclose(d[1:], 2.0, rtol=1e-5)  # |step| <= 2 * 4.5 / 28 < 0.5: never clipped from 0.5
    assert d[0] < 2.0 / np.sqrt(2) * 1.1  # from 0 about half the coordinates are clipped away
    np.testing.assert_array_equal(r, pnl.random_directions(x, 2.0, seed=2))
    assert not np.array_equal(r, pnl.random_directions(x, 2.0, seed=3))


def test_pixel_judge_knn_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    x = rng.random((60, 28, 28)).astype(np.float32)
    y = np.repeat(np.arange(10), 6)
    q = rng.random((7, 28, 28)).astype(np.float32)
    got = pnl.PixelJudge("knn", k=1).fit(x, y).predict(q)
    d = ((q.reshape(7, 1, -1) - x.reshape(1, 60, -1)) ** 2).sum(-1)
    np.testing.assert_array_equal(got, y[d.argmin(1)])
    means = np.stack([x[y == c].reshape(6, -1).mean(0) for c in range(10)])
    dm = ((q.reshape(7, 1, -1) - means[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(pnl.PixelJudge("nearest_mean").fit(x, y).predict(q), dm.argmin(1))
    with pytest.raises(ValueError, match="saliency.pixel_judge.method"):
        pnl.PixelJudge("svm")
    with pytest.raises(ValueError, match="missing"):
        pnl.PixelJudge("nearest_mean").fit(x[:12], y[:12])


def test_panel_row_combines_verdicts() -> None:
    base = {"paper": "Figs. 3-4", "size": 10, "n_seeds": 1, "n_images": 300, "n_resamples": 2000}
    rows = [{**base, "claim": "large_eps_look_like_target", "metric": m, "recipe": r, "verdict": v}
            for r, vs in (("a", ["holds", "holds", "does not hold"]), ("b", ["holds", "inconclusive", "does not hold"]),
                          ("c", ["does not hold", "does not hold", "holds"]))
            for m, v in zip(("x", "y", "z"), vs, strict=True)]
    out = combine(pd.DataFrame(rows), "large_eps_look_like_target", need=2, label="2 of 3")
    panel = out[out["metric"].str.startswith("panel")].set_index("recipe")
    assert panel["verdict"].to_dict() == {"a": "holds", "b": "inconclusive", "c": "does not hold"}
    assert panel.loc["a", "difference"] == 2 and panel.loc["a", "n_images"] == 300
    every = combine(pd.DataFrame(rows), "large_eps_look_like_target", need=None, label="all")
    panel = every[every["metric"].str.startswith("panel")].set_index("recipe")
    assert panel["verdict"].to_dict() == {"a": "does not hold", "b": "does not hold", "c": "does not hold"}
    assert combine(pd.DataFrame(rows[:3]).assign(verdict="holds"), "large_eps_look_like_target", need=None,
                   label="all")["verdict"].iloc[-1] == "holds"
