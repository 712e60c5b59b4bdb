"""Training: determinism, exact resume after SIGKILL, checkpoints, adversarial objectives."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import train_config

from tradeoff.adversarial.attacks import pgd
from tradeoff.adversarial.objectives import OBJECTIVES
from tradeoff.adversarial.training import TrainConfig, config_hash, trades_attack, train
from tradeoff.nets.checkpoints import CheckpointError
from tradeoff.nets.device import resolve_device

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

# SmallCNN, Madry PGD (so the attack generator's random starts are exercised), 3 epochs of 8 steps
CFG = train_config(model="small", objective="pgd", eps=0.1, alpha=0.05, steps=2, lr=1e-3,
                   batch_size=32, epochs=3, seed=0, device="cpu")


def _random_data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    return x, torch.randint(0, 10, (n,), generator=g)


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs"


def _science(history: list[dict]) -> list[dict]:
    """History without the wall-clock fields."""
    return [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_s")} for r in history]


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return _random_data()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """One uninterrupted run of CFG (with checkpointing, as in the pipeline)."""
    return train(CFG, *data, checkpoint_dir=tmp_path_factory.mktemp("ref"))


def test_same_seed_same_weights_different_seed_differs(data, reference):
    model, history = train(CFG, *data)  # no checkpoint_dir: checkpointing changes nothing
    _assert_same_weights(model, reference[0])
    assert _science(history) == _science(reference[1])
    other, _ = train(train_config(**{**CFG.to_dict(), "seed": 1}), *data)
    ref = reference[0].state_dict()
    assert any(not torch.equal(v, ref[k]) for k, v in other.state_dict().items())


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, torch
    torch.set_num_threads(1)
    from tradeoff.adversarial.training import TrainConfig, train

    cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))
    x = torch.from_numpy(np.load(sys.argv[2], allow_pickle=False))
    y = torch.from_numpy(np.load(sys.argv[3], allow_pickle=False))

    def hook(epoch, record):
        print(f"EPOCH {epoch}", flush=True)
        if epoch >= 2:
            time.sleep(10)  # a slow tail, so that the parent's SIGKILL always lands before the end

    train(cfg, x, y, checkpoint_dir=sys.argv[4], on_epoch_end=hook)
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(data, reference, tmp_path, caplog):
    np.save(tmp_path / "x.npy", data[0].numpy()), np.save(tmp_path / "y.npy", data[1].numpy())
    (tmp_path / "child.py").write_text(CHILD)
    ckdir = tmp_path / "ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    with open(tmp_path / "child.err", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(tmp_path / "child.py"), json.dumps(CFG.to_dict()),
             str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), str(ckdir)],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env,
        )
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        try:
            line = proc.stdout.readline()  # blocks until epoch 1's checkpoint is in place
            err_text = (tmp_path / "child.err").read_text
            assert line.strip() == "EPOCH 1", f"child said {line!r}; stderr:\n{err_text()}"
            os.kill(proc.pid, signal.SIGKILL)  # the child is now inside epoch 2
            proc.wait(timeout=60)
        finally:
            watchdog.cancel()
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    (run_dir,) = ckdir.iterdir()
    left = sorted(p.name for p in run_dir.glob("epoch-*"))
    assert "epoch-000001.safetensors" in left and "epoch-000003.safetensors" not in left, left

    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.training"):
        model, history = train(CFG, *data, checkpoint_dir=ckdir,
                               log=logging.getLogger("tradeoff.adversarial.training"))
    assert "resuming from" in caplog.text and "epoch-00000" in caplog.text
    _assert_same_weights(model, reference[0])
    assert _science(history) == _science(reference[1])


def test_new_config_starts_fresh_finished_run_resumes_corruption_is_reported(tmp_path, caplog):
    x, y = _random_data(64, seed=3)
    a = train_config(model="mlp", lr=1e-3, batch_size=16, epochs=2, device="cpu")
    b = train_config(**{**a.to_dict(), "lr": 2e-3})
    log = logging.getLogger("tradeoff.adversarial.training")
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.training"):
        model_a, hist_a = train(a, x, y, checkpoint_dir=tmp_path, log=log)
        caplog.clear()
        _, hist_b = train(b, x, y, checkpoint_dir=tmp_path, log=log)
        assert "starting fresh" in caplog.text and "other configurations" in caplog.text
        assert [r["epoch"] for r in hist_b] == [1, 2] and len(list(tmp_path.iterdir())) == 2

        # a finished run resumes at its end (no training) and hands back the same model
        run_a = tmp_path / config_hash(a, torch.device("cpu"), x.unsqueeze(1).float() / 255, y)[:16]
        names = sorted(p.name for p in run_a.iterdir())
        assert names == ["epoch-000001.safetensors", "epoch-000002.safetensors"]
        stale = run_a / ".epoch-000003.safetensors.x1y2.tmp"  # as a writer killed mid-write leaves
        stale.write_bytes(b"half a checkpoint")
        caplog.clear()
        again, hist_again = train(a, x, y, checkpoint_dir=tmp_path, log=log)
    assert "resuming from" in caplog.text and "iteration 8 of 8" in caplog.text
    assert "epoch 1 iteration" not in caplog.text  # nothing was retrained
    assert not stale.exists()
    _assert_same_weights(again, model_a)
    assert hist_again == hist_a

    latest = run_a / "epoch-000002.safetensors"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="epoch-000002.safetensors.*truncated"):
        train(a, x, y, checkpoint_dir=tmp_path)


def _rewrite_format(path: Path, fmt: str) -> None:
    """Rewrite a checkpoint as if an older version had written it (same tensors, other format)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["tradeoff.format"] = fmt
    save_file(tensors, str(path), metadata=meta)


def test_checkpoint_in_older_format_starts_fresh_with_one_log_line(tmp_path, caplog):
    x, y = _random_data(48, seed=5)
    cfg = train_config(model="mlp", lr=1e-3, batch_size=16, epochs=2, device="cpu")
    log = logging.getLogger("tradeoff.adversarial.training")
    model_a, hist_a = train(cfg, x, y, checkpoint_dir=tmp_path, keep_checkpoints=5)
    (run_dir,) = tmp_path.iterdir()
    old = sorted(run_dir.glob("epoch-*.safetensors"))
    assert len(old) == 2
    for p in old:
        _rewrite_format(p, "tradeoff.checkpoint/0")
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.training"):
        model_b, hist_b = train(cfg, x, y, checkpoint_dir=tmp_path, log=log)
    why = [r.getMessage() for r in caplog.records if "format" in r.getMessage()]
    assert len(why) == 1, why
    assert "starting fresh" in why[0] and "'tradeoff.checkpoint/0'" in why[0]
    assert "epoch-000002.safetensors" in why[0] and "resuming" not in caplog.text
    assert [r["epoch"] for r in hist_b] == [1, 2]  # trained again from the start ...
    _assert_same_weights(model_a, model_b)  # ... to the same model
    assert _science(hist_b) == _science(hist_a)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.training"):
        train(cfg, x, y, checkpoint_dir=tmp_path, log=log)  # the new checkpoints resume
    assert "resuming from" in caplog.text and "iteration 6 of 6" in caplog.text
    # damage is still an error, not a restart
    latest = sorted(run_dir.glob("epoch-*.safetensors"))[-1]
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        train(cfg, x, y, checkpoint_dir=tmp_path)


def test_iterations_are_held_fixed_and_data_forms_are_equivalent(tmp_path):
    x, y = _random_data(40, seed=4)
    cfg = train_config(model="mlp", batch_size=16, iterations=7, lr=1e-3, device="cpu")
    # 3 steps an epoch (16, 16, 8 examples), so epochs of 3, 3, 1 steps; only the last is saved
    _, hist = train(cfg, x, y, checkpoint_dir=tmp_path, checkpoint_interval_s=1e9)
    assert [r["iteration"] for r in hist] == [3, 6, 7] and hist[-1]["adv_acc"] is None
    assert [p.name for p in tmp_path.glob("*/*")] == ["epoch-000003.safetensors"]
    xf = x.float().unsqueeze(1) / 255.0
    dev = torch.device("cpu")
    assert config_hash(cfg, dev, xf, y) == config_hash(cfg, dev, (x / 255.0).unsqueeze(1), y)
    m1, _ = train(cfg, x, y)
    m2, _ = train(cfg, xf, y)
    _assert_same_weights(m1, m2)


def test_config_validation():
    with pytest.raises(ValueError, match="exactly one of epochs / iterations"):
        train_config(model="small", epochs=1, iterations=10)
    with pytest.raises(ValueError, match="exactly one of epochs / iterations"):
        train_config(model="small")
    with pytest.raises(ValueError, match="TrainConfig.norm: TRADES is implemented for linf only"):
        train_config(objective="trades", norm="l2", epochs=1)
    with pytest.raises(ValueError, match="TrainConfig.model"):
        train_config(model="resnet", epochs=1)
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"epochs": 1, "learning_rate": 0.1})
    assert TrainConfig.from_dict(CFG.to_dict()) == CFG
    x, y = _random_data(8)
    with pytest.raises(ValueError, match="y_train"):
        train(train_config(model="mlp", epochs=1, device="cpu"), x, y[:4])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


def test_schema_objective_enum_equals_the_registry():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert schema["$defs"]["recipe"]["properties"]["objective"]["enum"] == list(OBJECTIVES)
    for name, objective in OBJECTIVES.items():  # every objective trains under each of its norms
        for norm in objective.norms:
            train_config(objective=name, norm=norm, epochs=1, steps=objective.max_steps or 40)


def test_trades_attack_stays_in_ball_and_raises_kl():
    torch.manual_seed(0)
    from tradeoff.nets.models import build_model

    model = build_model("mlp").eval()
    x = _random_data(16)[0].float().unsqueeze(1) / 255
    g = torch.Generator().manual_seed(0)
    x_adv = trades_attack(model, x, eps=0.1, alpha=0.02, steps=10, generator=g)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        p = F.softmax(model(x), 1)
        def kl(xa: torch.Tensor) -> float:
            return F.kl_div(F.log_softmax(model(xa), 1), p, reduction="batchmean").item()

        assert kl(x_adv) > 10 * kl((x + 0.001 * torch.randn(x.shape, generator=g)).clamp(0, 1))


# --- a toy problem on which a robust solution exists ---------------------------------------------
# Class 0 lights a 7x7 patch at the top left, class 1 one at the bottom right (robust at eps = 0.3:
# 1.0 -> 0.7 vs 0.0 -> 0.3). Every other pixel is 0.5 +- 0.1 (by class) + N(0, 0.15^2) noise: a
# non-robust feature that an eps = 0.3 >= 2 * 0.1 perturbation flips. Standard training leans on it.
TOY_EPS = 0.3
MARGIN = 0.3  # adversarially trained PGD-20 accuracy must beat standard training's by >= 30 points


def _toy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    s = (2 * y - 1).float().view(-1, 1, 1)
    x = (0.5 + 0.1 * s + 0.15 * torch.randn(n, 28, 28, generator=g)).clamp(0, 1)
    x[:, 2:9, 2:9] = (y == 0).float().view(-1, 1, 1)
    x[:, 19:26, 19:26] = (y == 1).float().view(-1, 1, 1)
    return x, y


@pytest.fixture(scope="module")
def toy_runs():
    x, y = _toy(256, 100)
    base = dict(model="mlp", eps=TOY_EPS, alpha=TOY_EPS / 4, steps=5, lr=1e-3, batch_size=32,
                epochs=4, trades_beta=1.0, seed=0, device="cpu")
    return {obj: train(train_config(objective=obj, **base), x, y)
            for obj in ("standard", "pgd", "trades")}


def _pgd_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    x = x.unsqueeze(1)
    xa = pgd(model, x, y, norm="linf", eps=TOY_EPS, alpha=TOY_EPS / 10, steps=20,
             generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
        return clean, (model(xa).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("objective", ["pgd", "trades"])
def test_adversarial_objectives_reduce_loss(toy_runs, objective):
    hist = toy_runs[objective][1]
    assert hist[-1]["loss"] < 0.6 * hist[0]["loss"], [r["loss"] for r in hist]
    assert hist[-1]["adv_acc"] > hist[0]["adv_acc"]


@pytest.mark.parametrize("objective", ["pgd", "trades"])
def test_adversarial_training_is_more_robust_than_standard(toy_runs, objective):
    xt, yt = _toy(256, 200)
    std_clean, std_robust = _pgd_accuracy(toy_runs["standard"][0], xt, yt)
    adv_clean, adv_robust = _pgd_accuracy(toy_runs[objective][0], xt, yt)
    assert std_clean > 0.95 and adv_clean > 0.95
    assert adv_robust >= std_robust + MARGIN, (std_robust, adv_robust)
