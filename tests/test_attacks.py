"""Tests for tradeoff.adversarial.attacks, on a SmallCNN trained briefly on a synthetic 10-class task."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic
from torch import nn

from tradeoff.adversarial.attacks import FGSM, PGD, eval_mode, fgsm, pgd, pgd_with_info
from tradeoff.nets.models import build_model

torch.set_num_threads(1)

EPS = {"linf": 0.03, "l2": 0.6}  # where the test model is partly, not fully, broken
BIG_EPS = {"linf": 0.3, "l2": 3.0}


@pytest.fixture(scope="module")
def model(synthetic_model: nn.Module) -> nn.Module:
    return synthetic_model


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic(64, seed=2)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def wrong(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) != y


def ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def assert_valid(x: torch.Tensor, x_adv: torch.Tensor, norm: str, eps: float) -> None:
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert not x_adv.requires_grad
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    d = (x_adv - x).flatten(1)
    if norm == "linf":
        assert d.abs().max() <= eps + 1e-6
    else:
        assert d.norm(dim=1).max() <= eps + 1e-5


def test_model_is_usable(model, data) -> None:
    x, y = data
    assert (~wrong(model, x, y)).float().mean() > 0.8


@pytest.mark.parametrize(
    "norm,random_start,targeted,restarts,keep_best",
    [c for c in itertools.product(("linf", "l2"), (True, False), (False, True), (1, 2),
                                  (True, False)) if c[4] or c[3] == 1],
)
def test_pgd_stays_in_ball_and_box(model, data, norm, random_start, targeted, restarts, keep_best):
    x, y = data[0][:16], data[1][:16]
    x_before = x.clone()
    for eps, alpha in ((EPS[norm], EPS[norm] / 4), (BIG_EPS[norm], 2 * BIG_EPS[norm])):
        x_adv = pgd(model, x, (y + 1) % 10 if targeted else y, norm=norm, eps=eps, alpha=alpha,
                    steps=3, random_start=random_start, restarts=restarts, keep_best=keep_best,
                    targeted=targeted, generator=gen())
        assert_valid(x, x_adv, norm, eps)
    assert torch.equal(x, x_before)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
def test_fgsm_stays_in_ball_and_box(model, data, norm, random_start) -> None:
    x, y = data
    for eps in (EPS[norm], BIG_EPS[norm]):
        x_adv = fgsm(model, x, y, norm=norm, eps=eps, random_start=random_start,
                     alpha=1.25 * eps, generator=gen())
        assert_valid(x, x_adv, norm, eps)
    if not random_start and norm == "linf":  # pixels away from the box edges move by exactly eps
        x_adv = fgsm(model, x, y, norm=norm, eps=EPS[norm])
        inner = (x > EPS[norm]) & (x < 1 - EPS[norm])
        assert torch.allclose((x_adv - x).abs()[inner], torch.tensor(EPS[norm]), atol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_start_is_uniform_in_ball(norm) -> None:
    eps = 0.1 if norm == "linf" else 1.0
    x = torch.full((200, 1, 28, 28), 0.5)  # far from the box edges: no clipping
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    start = pgd(model, x, torch.zeros(200, dtype=torch.long), norm=norm, eps=eps, alpha=0.0,
                steps=0, keep_best=False, generator=gen())
    d = (start - x).flatten(1)
    if norm == "linf":
        assert d.abs().max() <= eps + 1e-6
        assert abs(d.mean().item()) < 0.01 * eps
        assert abs(d.abs().mean().item() - eps / 2) < 0.01 * eps  # U(-eps, eps)
    else:
        r = d.norm(dim=1)
        assert r.max() <= eps + 1e-5
        assert r.min() > 0.98 * eps  # radius eps * U**(1/784) concentrates at eps


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_at_least_as_strong_as_fgsm(model, data, norm, random_start) -> None:
    """With alpha = eps, the same start and keep_best, FGSM's point is PGD's first step, so:
    every example FGSM misclassifies PGD misclassifies, and where PGD does not, its loss is
    at least FGSM's."""
    x, y = data
    eps = EPS[norm]
    x_f = fgsm(model, x, y, norm=norm, eps=eps, random_start=random_start, generator=gen(7))
    res = pgd_with_info(model, x, y, norm=norm, eps=eps, alpha=eps, steps=5,
                        random_start=random_start, generator=gen(7))
    w_f, w_p = wrong(model, x_f, y), wrong(model, res.x_adv, y)
    assert torch.equal(res.success, w_p)
    assert not (w_f & ~w_p).any()
    survivors = ~w_p
    assert (ce(model, res.x_adv, y)[survivors] >= ce(model, x_f, y)[survivors] - 1e-6).all()
    assert w_f.sum() < w_p.sum() < len(y)  # not vacuous: PGD is strictly stronger here
    # FGSM is exactly PGD's first step without keep_best.
    one = pgd(model, x, y, norm=norm, eps=eps, alpha=eps, steps=1, random_start=random_start,
              keep_best=False, generator=gen(7))
    assert torch.equal(one, x_f)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_more_steps_or_restarts_never_higher_accuracy(model, data, norm) -> None:
    x, y = data
    eps = EPS[norm]
    alpha = eps / 4

    def broken(steps: int, restarts: int) -> torch.Tensor:
        res = pgd_with_info(model, x, y, norm=norm, eps=eps, alpha=alpha, steps=steps,
                            restarts=restarts, generator=gen(3))
        w = wrong(model, res.x_adv, y)
        assert torch.equal(w, res.success)
        return w

    by_steps = [broken(s, 1) for s in (1, 2, 4, 8)]
    by_restarts = [broken(2, r) for r in (1, 2, 4)]
    for seq in (by_steps, by_restarts):
        for weak, strong in zip(seq, seq[1:], strict=False):
            assert not (weak & ~strong).any()  # nested per example, hence accuracy non-increasing
    assert by_steps[-1].sum() > by_steps[0].sum()


def test_keep_best_false_returns_last_iterate(model, data) -> None:
    x, y = data
    kw = dict(norm="linf", eps=EPS["linf"], alpha=0.01, random_start=True)
    last = pgd(model, x, y, steps=4, keep_best=False, generator=gen(), **kw)
    info = pgd_with_info(model, x, y, steps=4, keep_best=False, generator=gen(), **kw)
    assert torch.equal(last, info.x_adv)
    assert torch.equal(info.success, wrong(model, last, y))
    with pytest.raises(ValueError):
        pgd(model, x, y, steps=4, keep_best=False, restarts=2, **kw)


def test_trajectory_and_loss(model, data) -> None:
    x, y = data
    res = pgd_with_info(model, x, y, norm="linf", eps=EPS["linf"], alpha=EPS["linf"] / 4,
                        steps=6, restarts=2, generator=gen())
    assert res.trajectory.shape == (2, 7)
    assert (res.trajectory[:, -1] > res.trajectory[:, 0]).all()
    assert torch.allclose(res.loss, ce(model, res.x_adv, y), atol=1e-5)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_targeted_reaches_target(model, data, norm) -> None:
    x, y = data
    target = (y + 3) % 10
    x_adv = pgd(model, x, target, norm=norm, eps=BIG_EPS[norm], alpha=BIG_EPS[norm] / 8,
                steps=20, targeted=True, generator=gen())
    assert_valid(x, x_adv, norm, BIG_EPS[norm])
    with torch.no_grad():
        hit = model(x_adv).argmax(1) == target
    assert hit.float().mean() > 0.9
    # targeted descends the target loss
    assert ce(model, x_adv, target).mean() < ce(model, x, target).mean()


def test_model_mode_restored_and_eval_during_attack(model, data) -> None:
    x, y = data
    seen: list[bool] = []
    handle = model.register_forward_pre_hook(lambda m, inp: seen.append(m.training))
    try:
        model.train()
        model.features[0].eval()  # mixed modes must come back exactly
        before = [m.training for m in model.modules()]
        pgd(model, x[:4], y[:4], norm="linf", eps=0.1, alpha=0.05, steps=2)
        fgsm(model, x[:4], y[:4], norm="l2", eps=1.0)
        assert seen and not any(seen)
        assert [m.training for m in model.modules()] == before
        seen.clear()
        pgd(model, x[:4], y[:4], norm="linf", eps=0.1, alpha=0.05, steps=2, use_eval=False)
        assert all(seen)
        assert [m.training for m in model.modules()] == before
    finally:
        handle.remove()
        model.eval()


def test_no_gradient_leak_and_works_under_no_grad(model, data) -> None:
    x, y = data
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        x_adv = pgd(model, x[:8], y[:8], norm="linf", eps=0.1, alpha=0.05, steps=2)
    assert (x_adv != x[:8]).any()
    fgsm(model, x[:8], y[:8], norm="l2", eps=1.0)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    # pre-existing grads are left untouched
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    pgd(model, x[:8], y[:8], norm="l2", eps=1.0, alpha=0.5, steps=2)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())
    for p in model.parameters():
        p.grad = None


def test_generator_determinism_and_global_rng_untouched(model, data) -> None:
    x, y = data
    kw = dict(norm="l2", eps=EPS["l2"], alpha=0.2, steps=2, restarts=2)
    state = torch.get_rng_state()
    a = pgd(model, x, y, generator=gen(5), **kw)
    b = pgd(model, x, y, generator=gen(5), **kw)
    assert torch.equal(torch.get_rng_state(), state)
    c = pgd(model, x, y, generator=gen(6), **kw)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(0)
    d = pgd(model, x, y, **kw)  # global RNG
    torch.manual_seed(0)
    assert torch.equal(d, pgd(model, x, y, **kw))


def test_float64(model, data) -> None:
    x, y = data
    m64 = build_model("small").double()
    m64.load_state_dict(model.state_dict())
    for norm in ("linf", "l2"):
        x_adv = pgd(m64, x[:8].double(), y[:8], norm=norm, eps=EPS[norm], alpha=EPS[norm] / 2,
                    steps=2, generator=gen())
        assert_valid(x[:8].double(), x_adv, norm, EPS[norm])


def test_wrappers_match_functions(model, data) -> None:
    x, y = data
    kw = dict(norm="linf", eps=0.05, alpha=0.02, steps=3)
    expected = pgd(model, x, y, generator=gen(), **kw)
    assert torch.equal(PGD(model, generator=gen(), **kw)(x, y), expected)
    assert torch.equal(FGSM(model, norm="l2", eps=1.0)(x, y), fgsm(model, x, y, norm="l2", eps=1.0))


def test_invalid_arguments(model, data) -> None:
    x, y = data
    with pytest.raises(ValueError, match="linf"):
        pgd(model, x, y, norm="l1", eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(ValueError):
        pgd(model, x, y, norm="linf", eps=-1.0, alpha=0.1, steps=1)
    with pytest.raises(ValueError):
        pgd(model, x, y, norm="linf", eps=0.1, alpha=0.1, steps=1, restarts=0)


def test_eval_mode_context_on_plain_callable() -> None:
    f = lambda t: t  # noqa: E731
    with eval_mode(f):
        pass


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda(model, data) -> None:
    x, y = data[0].cuda(), data[1].cuda()
    m = build_model("small").cuda()
    m.load_state_dict(model.state_dict())
    for norm in ("linf", "l2"):
        for g in (None, torch.Generator().manual_seed(0), torch.Generator("cuda").manual_seed(0)):
            x_adv = pgd(m, x, y, norm=norm, eps=EPS[norm], alpha=EPS[norm] / 4, steps=3,
                        restarts=2, generator=g)
            assert_valid(x, x_adv, norm, EPS[norm])
        assert_valid(x, fgsm(m, x, y, norm=norm, eps=EPS[norm]), norm, EPS[norm])
