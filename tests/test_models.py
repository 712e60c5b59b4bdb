"""Tests for tradeoff.nets.models."""

from __future__ import annotations

import pytest
import torch
from conftest import train_config
from torch import nn

from tradeoff.datasets.spec import DATASETS, MNIST, ImageSpec, dataset_spec
from tradeoff.nets.models import (
    MLP,
    MODEL_NAMES,
    MadryCNN,
    SmallCNN,
    TradesCNN,
    WongNet,
    build_model,
    count_parameters,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape_and_finite(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name)
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


def test_names_map_to_classes() -> None:
    assert set(MODEL_NAMES) == {"madry", "small", "mlp", "wong", "trades"}
    assert isinstance(build_model("wong"), WongNet)
    assert isinstance(build_model("trades"), TradesCNN)
    assert isinstance(build_model("madry"), MadryCNN)
    assert isinstance(build_model("small"), SmallCNN)
    assert isinstance(build_model("mlp"), MLP)


def test_madry_architecture() -> None:
    model = MadryCNN()
    # conv 5x5x1x32 + conv 5x5x32x64 + fc 3136x1024 + fc 1024x10, with biases.
    expected = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (7 * 7 * 64 * 1024 + 1024) + (1024 * 10 + 10)
    assert expected == 3_274_634
    assert count_parameters(model) == expected
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [tuple(c.weight.shape) for c in convs] == [(32, 1, 5, 5), (64, 32, 5, 5)]
    assert all(c.padding == (2, 2) for c in convs)
    assert [tuple(fc.weight.shape) for fc in linears] == [(1024, 3136), (10, 1024)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2


def test_small_is_smaller_and_mlp_has_no_conv() -> None:
    assert count_parameters(SmallCNN()) < count_parameters(MadryCNN()) / 10
    assert not any(isinstance(m, nn.Conv2d) for m in MLP().modules())


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as err:
        build_model("resnet")
    for name in MODEL_NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_deterministic_under_seed(name: str) -> None:
    torch.manual_seed(123)
    a = build_model(name).state_dict()
    torch.manual_seed(123)
    b = build_model(name).state_dict()
    torch.manual_seed(124)
    c = build_model(name).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_float64() -> None:
    model = build_model("small").double()
    assert model(torch.rand(2, 1, 28, 28, dtype=torch.float64)).dtype == torch.float64


# --- the dataset seam: shape and class count come from the dataset's ImageSpec -----------------

TOY = ImageSpec("toy-rgb", channels=3, height=16, width=20, n_classes=4)  # >= 16: TradesCNN's least


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_models_take_shape_and_classes_from_the_dataset(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, TOY)
    out = model(torch.rand(2, *TOY.shape))
    assert out.shape == (2, TOY.n_classes) and torch.isfinite(out).all()
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert first.weight.shape[1] == (3 if name != "mlp" else TOY.pixels)
    # MNIST is the default and unchanged: same modules, same initial weights under one seed
    torch.manual_seed(1)
    a = build_model(name).state_dict()
    torch.manual_seed(1)
    b = build_model(name, MNIST).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


def test_image_spec_is_validated_and_registered() -> None:
    assert DATASETS["mnist"] == MNIST and MNIST.shape == (1, 28, 28) and MNIST.n_classes == 10
    with pytest.raises(ValueError, match="n_classes"):
        ImageSpec("bad", 1, 28, 28, 1)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; valid: mnist"):
        dataset_spec("cifar10")


def test_training_and_images_read_the_spec() -> None:
    from tradeoff.adversarial.training import train
    from tradeoff.datasets.images import as_images

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, *TOY.shape), generator=g, dtype=torch.uint8)
    y = torch.randint(0, TOY.n_classes, (24,), generator=g)
    cfg = train_config(model="small", batch_size=8, iterations=2, lr=1e-3, device="cpu")
    model, hist = train(cfg, x, y, dataset=TOY)
    assert model(x[:2].float() / 255).shape == (2, 4) and hist[-1]["iteration"] == 2
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.3"):
        train(cfg, x, y + 4, dataset=TOY)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        train(cfg, x, y)  # RGB images are not MNIST's
    assert as_images(x.numpy(), TOY).shape == (24, 3, 16, 20)
    with pytest.raises(ValueError, match=r"\(N, 3, 16, 20\)"):
        as_images(x[:, :1].numpy(), TOY)


def test_wong_architecture() -> None:
    """Wong et al.'s MNIST net: conv16 4x4/2 - conv32 4x4/2 - fc100 - fc10 (their mnist_net.py)."""
    model = WongNet()
    expected = (16 * 16 + 16) + (32 * 16 * 16 + 32) + (32 * 7 * 7 * 100 + 100) + (100 * 10 + 10)
    assert count_parameters(model) == expected == 166_406
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.stride, c.padding, c.kernel_size) for c in convs] == [((2, 2), (1, 1), (4, 4))] * 2


def test_trades_cnn_architecture_init_and_dropout() -> None:
    """TRADES' SmallCNN: 3x3 convs 32-32-pool-64-64-pool, fc 200-dropout-200-10, its init."""
    torch.manual_seed(0)
    model = TradesCNN()
    expected = (9 * 32 + 32) + (9 * 32 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 64 + 64) \
        + (1024 * 200 + 200) + (200 * 200 + 200) + (200 * 10 + 10)
    assert count_parameters(model) == expected == 312_202
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert not last.weight.any() and not last.bias.any()  # zero last layer, as TRADES initialises it
    assert all(not c.bias.any() for c in model.modules() if isinstance(c, nn.Conv2d))
    x = torch.rand(8, 1, 28, 28)
    nn.init.normal_(last.weight)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout is live in train mode ...
    model.eval()
    assert torch.equal(model(x), model(x))  # ... and off in eval mode, where attacks run it


def test_schema_model_enums_equal_the_registry() -> None:
    """Adding a network is one registry entry: the config schema offers exactly the registered names."""
    from pathlib import Path

    import yaml

    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    enums: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "model" in node and isinstance(node["model"], dict) and "enum" in node["model"]:
                enums.append(node["model"]["enum"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    assert len(enums) >= 2 and all(sorted(e) == sorted(MODEL_NAMES) for e in enums), enums


@pytest.mark.parametrize("name", ["madry", "small", "mlp"])
def test_madry_init_truncated_normal_and_bias(name: str) -> None:
    from tradeoff.nets.models import madry_init

    torch.manual_seed(0)
    model = build_model(name, init="madry")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers
    w = torch.cat([m.weight.detach().flatten() for m in layers])
    assert w.abs().max() <= 0.2  # truncated at two standard deviations
    # std of N(0, 0.1) truncated at +-2 sd: 0.1 * sqrt(1 - 2 * 2 * phi(2) / (2 Phi(2) - 1)) = 0.0880
    assert w.std().item() == pytest.approx(0.0880, rel=0.03) and abs(w.mean().item()) < 0.003
    assert all(torch.all(m.bias == 0.1) for m in layers)
    torch.manual_seed(0)
    default = build_model(name)
    assert not all(torch.all(m.bias == 0.1) for m in default.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    torch.manual_seed(0)
    again = madry_init(build_model(name))  # the same as asking build_model for it
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        build_model(name, init="xavier")


def test_init_enters_the_training_hash_only_when_not_default() -> None:
    from tradeoff.adversarial.training import config_hash

    x, y = torch.zeros(4, 1, 28, 28), torch.arange(4)
    base = dict(model="small", iterations=1, device="cpu")
    h_default = config_hash(train_config(**base), torch.device("cpu"), x, y)  # type: ignore[arg-type]
    h_torch = config_hash(train_config(**base, init="torch"), torch.device("cpu"), x, y)  # type: ignore[arg-type]
    h_madry = config_hash(train_config(**base, init="madry"), torch.device("cpu"), x, y)  # type: ignore[arg-type]
    assert h_default == h_torch != h_madry
    # the hash of a default config is the one it had before the field existed
    import hashlib
    import json

    d = train_config(**base).to_dict()  # type: ignore[arg-type]
    del d["init"], d["engine"], d["channels_last"], d["compile"]
    h = hashlib.sha256(json.dumps({"format": 1, "config": d}, sort_keys=True).encode())
    h.update(x.numpy().tobytes())
    h.update(y.numpy().tobytes())
    assert h.hexdigest() == h_default
    with pytest.raises(ValueError, match="TrainConfig.init"):
        train_config(**base, init="xavier")  # type: ignore[arg-type]
