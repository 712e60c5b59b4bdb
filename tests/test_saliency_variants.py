"""Issue 26, item 3: the large-eps variants (random start, untargeted) and the interpolation rule.

On the synthetic world of ``test_saliency_panel.py`` (ten prototypes; ``Prototype`` classifies by the
nearest one, so its large-eps examples move towards a prototype; ``NonRobust`` is flipped by an l2 step
of 0.5 along directions orthogonal to every prototype, so its examples look like nothing), where the
answer is known:

* random-start examples stay in the l2 ball and the [0, 1] box, start elsewhere than the image, and
  repeat with the seed; untargeted examples raise the true label's loss and report the class reached;
* the interpolation share (:func:`tradeoff.saliency.panel.path_target_share`) equals an independent
  closed-form count on a linear judge, and the two-class rule flags a path through a third class;
* the stage's variant panel and the tables' claims decide the known answers: the pixel judge sees the
  prototype model's examples (targeted from a random start, untargeted) and paths as the target, and
  the non-robust model's as nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from test_saliency_panel import EPS, NonRobust, Prototype, prototype_world

from tradeoff.saliency import analysis as sal
from tradeoff.saliency import panel as pnl
from tradeoff.stages.saliency import _large_eps_panel, _paths
from tradeoff.stages.saliency_tables import interpolation_claims, panel_claims

SMALL = 0.5


@pytest.fixture(scope="module")
def world() -> dict:
    protos, x_train, y_train, src = prototype_world()
    pixel = pnl.PixelJudge("nearest_mean").fit(x_train, y_train)
    return {"protos": protos, "src": src, "y_src": np.arange(10), "pixel": pixel,
            "models": {"proto": Prototype(protos), "nonrobust": NonRobust(protos, 1)}}


def _ce(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return F.cross_entropy(model(torch.from_numpy(np.asarray(x, dtype=np.float32))),
                               torch.from_numpy(y), reduction="none").numpy()


def test_large_eps_variant_names() -> None:
    assert sal.large_eps_variant("targeted") == (True, False)
    assert sal.large_eps_variant("untargeted_random_start") == (False, True)
    with pytest.raises(ValueError, match="unknown large-eps variant"):
        sal.large_eps_variant("random")


@pytest.mark.parametrize("targeted", [True, False])
def test_random_start_examples_stay_in_ball_and_box(world: dict, targeted: bool) -> None:
    x, y = world["src"], world["y_src"]
    for model in world["models"].values():
        ex = sal.large_eps_examples(model, x, y, eps=EPS, steps=10, targeted=targeted, random_start=True, seed=3)
        assert ex.random_start and ex.targeted == targeted
        d = np.linalg.norm((ex.x_adv.astype(np.float64) - x[ex.source]).reshape(len(ex.source), -1), axis=1)
        assert d.max() <= EPS * (1 + 1e-5) and ex.x_adv.min() >= 0.0 and ex.x_adv.max() <= 1.0
        np.testing.assert_allclose(ex.distance, d, rtol=1e-6)
        again = sal.large_eps_examples(model, x, y, eps=EPS, steps=10, targeted=targeted, random_start=True, seed=3)
        np.testing.assert_array_equal(ex.x_adv, again.x_adv)  # seeded
        # a zero-step run returns its start: a random point of the ball, not the image
        start = sal.large_eps_examples(model, x, y, eps=EPS, steps=0, alpha=1.0, targeted=targeted,
                                       random_start=True, seed=3)
        moved = np.linalg.norm((start.x_adv - x[start.source]).reshape(len(start.source), -1), axis=1)
        assert moved.min() > 0.5 and moved.max() <= EPS * (1 + 1e-5)
        other = sal.large_eps_examples(model, x, y, eps=EPS, steps=0, alpha=1.0, targeted=targeted,
                                       random_start=True, seed=4)
        assert not np.array_equal(start.x_adv, other.x_adv)


def test_untargeted_examples_raise_the_loss(world: dict) -> None:
    """Untargeted PGD ascends the true label's loss. On the non-robust model it leaves the class at once;
    on the prototype model the ascent heads for the softmax-weighted mean of the other prototypes (about
    5.1 away, each prototype about 4.7 from it), so eps 4 raises the loss without leaving the class and
    eps 6 leaves it: an untargeted example need not reach any class (why the targeted one is primary)."""
    x, y = world["src"], world["y_src"]
    for name, model in world["models"].items():
        for eps in (EPS, 6.0):
            ex = sal.large_eps_examples(model, x, y, eps=eps, steps=20, targeted=False)
            assert not ex.targeted and np.array_equal(ex.source, np.arange(10)) and np.array_equal(ex.label, y)
            before, after = _ce(model, x, y), _ce(model, ex.x_adv, y)
            assert np.all(after > before + 1.0), name  # the true label's loss rises for every image
            np.testing.assert_array_equal(ex.target, sal.predict(model, ex.x_adv))  # the class reached
            np.testing.assert_array_equal(ex.success, ex.target != y)
            d = np.linalg.norm((ex.x_adv - x).reshape(10, -1), axis=1)
            assert d.max() <= eps * (1 + 1e-5) and ex.x_adv.min() >= 0.0 and ex.x_adv.max() <= 1.0
            assert ex.success.all() == (name == "nonrobust" or eps > EPS)


def test_path_share_matches_a_closed_form_on_a_linear_judge() -> None:
    """A linear judge says ``target`` where ``w . z + b > 0``, else ``label``: along ``x + t (x_adv - x)``
    its score is ``a + c t`` with ``a = w . x + b`` and ``c = w . (x_adv - x)``, so the share of the
    points ``t_k = k / (K - 1)``, k = 1..K-1, labelled as the target is counted without the path."""
    rng = np.random.default_rng(5)
    m, k = 40, 9
    x = rng.random((m, 1, 28, 28)).astype(np.float32)
    x_adv = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    w = rng.standard_normal(784)
    b0 = -float(np.median(x.reshape(m, -1) @ w))  # about half the originals on each side
    label, target = np.zeros(m, np.int64), np.ones(m, np.int64)

    def judge(z: np.ndarray) -> np.ndarray:
        return np.where(z.reshape(len(z), -1).astype(np.float64) @ w + b0 > 0, 1, 0)

    labels = pnl.path_labels(judge, x, x_adv, k)
    assert labels.shape == (m, k)
    a = x.reshape(m, -1).astype(np.float64) @ w + b0
    c = (x_adv.astype(np.float64) - x).reshape(m, -1) @ w
    t = np.arange(1, k) / (k - 1)
    expected = ((a[:, None] + c[:, None] * t[None]) > 0).mean(1)
    np.testing.assert_allclose(pnl.path_target_share(labels, target), expected, atol=1e-12)
    assert 0 < expected.mean() < 1 and len(np.unique(expected)) > 3  # the check is not vacuous
    # a linear score crosses at most once: every path is two-class (label -> target, or target -> label)
    up = c > 0
    two = pnl.path_two_class(labels, label, target)
    np.testing.assert_array_equal(two[up], True)  # rising score: label then target
    starts_target = (a > 0) & ~up & ((a + c) <= 0)  # falls from target to label: not monotone
    assert not two[starts_target].any()


def test_path_two_class_and_share_rules() -> None:
    labels = np.array([[3, 3, 5, 5, 5],   # clean switch 3 -> 5: share 3/4
                       [3, 7, 5, 5, 5],   # through a third class
                       [3, 5, 3, 5, 5],   # switches back
                       [3, 3, 3, 3, 3],   # never reaches the target: two-class, share 0
                       [5, 5, 5, 5, 5]])  # the judge calls the original the target already
    share = pnl.path_target_share(labels, np.full(5, 5))
    np.testing.assert_allclose(share, [0.75, 0.75, 0.75, 0.0, 1.0])
    np.testing.assert_array_equal(pnl.path_two_class(labels, np.full(5, 3), np.full(5, 5)),
                                  [True, False, False, True, True])
    with pytest.raises(ValueError, match="need labels"):
        pnl.path_target_share(labels[:, :1], np.full(5, 5))
    rows = pnl.path_rows("targeted", np.arange(5), np.full(5, 3), np.full(5, 5), np.ones(5, bool),
                         {"pixel": labels})
    assert list(rows.columns) == pnl.PATH_COLUMNS and rows["end_is_target"].tolist() == [True, True, True, False, True]
    # an untargeted attack that failed (its target is the image's own class) reaches nothing
    failed = pnl.path_rows("untargeted", np.arange(2), np.array([3, 3]), np.array([3, 5]), np.array([False, True]),
                           {"pixel": labels[[3, 0]]})
    assert failed["path_share"].tolist() == [0.0, 0.75] and failed["end_is_target"].tolist() == [False, True]


def _tagged(df: pd.DataFrame, recipe: str) -> pd.DataFrame:
    return df.assign(recipe=recipe, size=10, seed=0)


@pytest.mark.parametrize("variant", ["targeted_random_start", "untargeted"])
def test_variant_claims_see_the_prototype_models_examples(world: dict, variant: str) -> None:
    """The stage's variant panel on the synthetic world, then the tables' claim: the pixel judge (the
    primary) labels the prototype model's examples as the class they were pushed to, the non-robust
    model's as nothing; the robust-minus-standard excess is large."""
    x, y = world["src"], world["y_src"]
    judges = {"pixel": world["pixel"]}
    # untargeted: eps 6, where the prototype model's ascent leaves its class (see above)
    large = {"eps": EPS if variant.startswith("targeted") else 6.0, "steps": 20, "random_start_seed": 2}
    tables = []
    for name, model in world["models"].items():
        ex, images, rows = _large_eps_panel(model, judges, x, y, large, {"small_eps": SMALL, "seed": 0}, variant)
        assert set(rows["variant"]) == {variant} and set(images) == set(pnl.CONDITIONS)
        tables.append(_tagged(rows, name))
    table = pd.concat(tables, ignore_index=True)
    shares = table.groupby(["recipe", "condition"])["judged_target"].mean()
    assert shares[("proto", "target")] >= 0.9 and shares[("nonrobust", "target")] <= 0.1
    assert shares[("proto", "small_eps")] == 0.0 and shares[("proto", "random")] == 0.0
    rows = panel_claims(table, {"nonrobust": "standard", "proto": "pgd"}, variant=variant, n_resamples=300)
    assert [r.level for r in rows] == ["recipe", "models"]  # one comparison, both levels
    comp = rows[1]
    assert comp.claim == {"targeted_random_start": "large_eps_targeted_random_start",
                          "untargeted": "large_eps_untargeted"}[variant]
    assert comp.test is not None and comp.test.interval is not None
    assert comp.estimate >= 0.8 and comp.test.interval(0.02)[0] > 0.5
    assert comp.metric.startswith("pixel judge") and variant.replace("_", " ") in comp.metric


def test_interpolation_claim_on_the_synthetic_world(world: dict) -> None:
    """Along the straight path to the prototype model's targeted example the pixel judge switches once
    from the image's class to the target (two-class paths, ending at the target); along the
    non-robust model's path it never leaves the image's class. The claim's value equals the mean path
    share computed here."""
    x, y = world["src"], world["y_src"]
    judges = {"pixel": world["pixel"]}
    tables, share = [], {}
    for name, model in world["models"].items():
        ex = sal.large_eps_examples(model, x, y, eps=EPS, steps=20)
        rows = _paths(judges, x, ex, "targeted", 9)
        share[name] = float(rows["path_share"].mean())
        if name == "proto":
            assert rows["end_is_target"].mean() >= 0.9 and rows["two_class"].mean() >= 0.9
            # the class means are about 6.9 apart: the path crosses their bisector about 3.45 into its 4,
            # t ~ 0.86, so 1 or 2 of the 8 points after the original are the target's (not the first step)
            assert 0.1 <= share[name] <= 0.3
        else:
            assert share[name] == 0.0 and rows["two_class"].all()
        tables.append(_tagged(rows, name))
    rows = interpolation_claims(pd.concat(tables, ignore_index=True), {"nonrobust": "standard", "proto": "pgd"},
                                n_resamples=300)
    assert [r.level for r in rows] == ["recipe", "models"]
    comp = rows[1]
    assert comp.claim == "interpolation_toward_target" and comp.paper == "Fig. 4"
    assert comp.robust == pytest.approx(share["proto"]) and comp.standard == pytest.approx(share["nonrobust"])
    assert comp.estimate == pytest.approx(share["proto"] - share["nonrobust"])
    assert comp.per_seed == pytest.approx((share["proto"] - share["nonrobust"],))
    assert comp.test is not None and comp.test.interval is not None and comp.test.interval(0.02)[0] > 0.1


def test_panel_row_is_the_primary_judges_verdict() -> None:
    """``large_eps_look_like_target``'s panel row takes the pixel judge's verdict, whatever the others say."""
    from tradeoff.stages.saliency_tables import combine

    base = {"paper": "Figs. 3-4", "size": 10, "level": "models", "n_seeds": 1, "n_images": 300, "n_resamples": 2000}
    verdicts = {"a": ("holds", "holds", "inconclusive"), "b": ("does not hold", "does not hold", "holds"),
                "c": ("holds", "inconclusive", "does not hold")}
    rows = [{**base, "claim": "large_eps_look_like_target", "metric": f"{j} judge: excess", "recipe": r, "verdict": v}
            for r, vs in verdicts.items() for j, v in zip(("standard", "robust", "pixel"), vs, strict=True)]
    out = combine(pd.DataFrame(rows), "large_eps_look_like_target", need=2, label="the pixel judge's verdict",
                  primary="pixel judge")
    panel = out[out["metric"].str.startswith("panel")].set_index("recipe")
    assert panel["verdict"].to_dict() == {"a": "inconclusive", "b": "holds", "c": "does not hold"}
    assert panel.loc["a", "difference"] == 2  # the count of rows that hold, reported beside
    none = combine(pd.DataFrame(rows[:2]), "large_eps_look_like_target", need=2, label="x", primary="pixel judge")
    assert none["verdict"].iloc[-1] == "inconclusive"  # no pixel row: no verdict
