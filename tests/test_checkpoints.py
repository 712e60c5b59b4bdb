"""Pickle-free checkpoints and weight files: round trips, atomicity, and refusal of bad files."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
import torch
from torch import nn

from tradeoff.nets.checkpoints import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    read_weights_metadata,
    save_checkpoint,
    save_weights,
)
from tradeoff.nets.models import build_model

torch.set_num_threads(1)


def _trained(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A small CNN and an Adam optimizer with non-trivial state after two steps."""
    torch.manual_seed(seed)
    model = build_model("small")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95), weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(2):
        x = torch.rand(8, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (8,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt


def _step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    g = torch.Generator().manual_seed(123)
    x = torch.rand(8, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _save(path, model, opt, gens=None, **kw):
    args = dict(model_name="small", epoch=3, iteration=30, config={"lr": 1e-3}, config_hash="abc",
                metrics=[{"epoch": 1, "loss": 2.5, "adv_acc": None}])
    args.update(kw)
    return save_checkpoint(path, model=model, optimizer=opt, generators=gens or {}, **args)


def test_round_trip_model_optimizer_rng(tmp_path):
    model, opt = _trained(0)
    gens = {"data": torch.Generator().manual_seed(1), "attack": torch.Generator().manual_seed(2)}
    gens["data"].manual_seed(5)
    torch.rand(3, generator=gens["attack"])  # advance: state is not just the seed
    torch.manual_seed(42), np.random.seed(43), random.seed(44)
    torch.rand(3), np.random.rand(3), random.random()
    want_rng = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    want_gens = {k: g.get_state() for k, g in gens.items()}
    path = _save(tmp_path / "ckpt.safetensors", model, opt, gens)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]  # no temp files left

    # restore into fresh, differently initialised objects with scrambled RNGs
    model2, opt2 = _trained(7)
    gens2 = {"data": torch.Generator().manual_seed(9), "attack": torch.Generator().manual_seed(9)}
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    state = load_checkpoint(path, model=model2, optimizer=opt2, generators=gens2,
                            model_name="small")

    assert (state.model_name, state.epoch, state.iteration) == ("small", 3, 30)
    assert state.config_hash == "abc" and state.config == {"lr": 1e-3}
    assert state.metrics == [{"epoch": 1, "loss": 2.5, "adv_acc": None}]
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k
    s1, s2 = opt.state_dict(), opt2.state_dict()
    for i in s1["state"]:
        for key in s1["state"][i]:
            assert torch.equal(s1["state"][i][key], s2["state"][i][key]), (i, key)
    group = opt2.param_groups[0]
    assert tuple(group["betas"]) == (0.8, 0.95) and group["weight_decay"] == 1e-4
    assert torch.equal(torch.get_rng_state(), want_rng[0])
    np_state = np.random.get_state()
    assert np.array_equal(np_state[1], want_rng[1][1]) and np_state[2] == want_rng[1][2]
    assert random.getstate() == want_rng[2]
    for k in gens:
        assert torch.equal(gens2[k].get_state(), want_gens[k])
    # the restored optimizer continues exactly like the original
    _step(model, opt), _step(model2, opt2)
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k
    assert read_checkpoint(path).epoch == 3


def test_weights_round_trip_and_metadata(tmp_path):
    model, _ = _trained(0)
    meta = {"architecture": "small", "recipe": "linf-0.3"}
    path = save_weights(model, tmp_path / "weights.safetensors", meta)
    assert read_weights_metadata(path) == {"architecture": "small", "recipe": "linf-0.3"}
    loaded = load_weights("small", path)
    assert not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    with pytest.raises(CheckpointError, match="wrong architecture.*'small'.*'madry'"):
        load_weights("madry", path)
    with pytest.raises(ValueError, match="architecture"):
        save_weights(model, tmp_path / "w2.safetensors", {"recipe": "x"})
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:5], "truncated"),
        (lambda b: b"", "truncated"),
        (lambda b: b[:-10] + bytes(x ^ 0xFF for x in b[-10:]), "digest"),  # flipped tensor bytes
        (lambda b: b[:8] + b"}" + b[9:], "corrupt safetensors header"),
        (lambda b: struct.pack("<Q", 2**40) + b[8:], "truncated or not a safetensors file"),
    ],
    ids=["half", "last-byte-cut", "5-bytes", "empty", "flipped-data", "bad-header-json",
         "huge-header-length"],
)
def test_corrupt_or_truncated_file_is_refused_naming_it(tmp_path, damage, message):
    model, opt = _trained(0)
    good = _save(tmp_path / "good.safetensors", model, opt)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good.read_bytes()))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(bad, model=model, optimizer=opt)
    assert str(bad) in str(info.value) and isinstance(info.value, ValueError)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.safetensors")


class _Payload:
    """Unpickling this creates ``marker`` (stands for arbitrary code execution)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("as_zip", [True, False], ids=["torch.save", "plain-pickle"])
def test_pickle_file_is_refused_without_running_code(tmp_path, as_zip):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    payload = {"model.x": torch.zeros(1), "evil": _Payload(str(marker))}
    if as_zip:
        torch.save(payload, evil)
    else:
        import pickle

        evil.write_bytes(pickle.dumps(payload))
    assert not marker.exists()
    model, opt = _trained(0)
    with pytest.raises(CheckpointError, match="pickle") as info:
        load_checkpoint(evil, model=model, optimizer=opt)
    assert str(evil) in str(info.value)
    with pytest.raises(CheckpointError, match="pickle"):
        load_weights("small", evil)
    assert not marker.exists()
    # positive control: the payload is live, so the refusal above is what kept it from running
    if as_zip:
        control = tmp_path / "evil.pt"  # (torch.load hands a *.safetensors name to safetensors)
        control.write_bytes(evil.read_bytes())
        torch.load(control, weights_only=False)
    else:
        import pickle

        pickle.loads(evil.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("first_bytes", [b"\x80", b"PK"], ids=["0x80", "PK"])
def test_valid_file_whose_header_length_looks_like_pickle_magic_loads(tmp_path, first_bytes):
    """The pickle check must not misfire on a header length whose low bytes read 0x80 or "PK"."""
    target = int.from_bytes(first_bytes, "little")  # 128 or 0x4B50 = 19280 (both multiples of 8)
    model = nn.Linear(2, 2)
    path, pad = tmp_path / "w.safetensors", 0
    for _ in range(20):
        save_weights(model, path, {"architecture": "tiny", "pad": "x" * pad})
        n = struct.unpack("<Q", path.read_bytes()[:8])[0]
        if n % (256 ** len(first_bytes)) == target:
            break
        pad = max(0, pad + (target - n % (256 ** len(first_bytes))) % (256 ** len(first_bytes)) - 7)
    assert path.read_bytes()[: len(first_bytes)] == first_bytes
    assert read_weights_metadata(path)["architecture"] == "tiny"


def test_shape_mismatch_missing_and_extra_keys(tmp_path):
    model, opt = _trained(0)
    path = _save(tmp_path / "c.safetensors", model, opt)

    wider = build_model("small")
    wider.classifier[3] = nn.Linear(128, 11)
    msg = r"shape mismatch for classifier\.3\.weight: file \(10, 128\), model \(11, 128\)"
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(path, model=wider)

    extra = build_model("small")
    extra.classifier.append(nn.Linear(10, 10))
    msg = r"missing keys \['classifier\.4\.bias', 'classifier\.4\.weight'\]"
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(path, model=extra)

    with pytest.raises(CheckpointError, match="wrong architecture"):
        load_checkpoint(path, model=build_model("madry"), model_name="madry")
    with pytest.raises(CheckpointError, match="belongs to another run"):
        load_checkpoint(path, model=build_model("small"), config_hash="def")
    with pytest.raises(CheckpointError, match="unexpected keys|missing keys"):
        load_checkpoint(path, model=build_model("mlp"))

    with pytest.raises(CheckpointError, match="optimizer mismatch: file holds Adam, got SGD"):
        m = build_model("small")
        load_checkpoint(path, model=m, optimizer=torch.optim.SGD(m.parameters(), lr=0.1))

    # a weights file whose tensors do not fit its declared architecture
    w = save_weights(wider, tmp_path / "weights.safetensors", {"architecture": "small"})
    with pytest.raises(CheckpointError, match="shape mismatch") as info:
        load_weights("small", w)
    assert str(w) in str(info.value)


def test_state_metadata_is_plain_json(tmp_path):
    """The header is inspectable with any JSON reader (no pickle anywhere)."""
    model, opt = _trained(0)
    data = _save(tmp_path / "c.safetensors", model, opt).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    state = json.loads(header["__metadata__"]["tradeoff.state"])
    assert state["optimizer"]["class"] == "Adam" and state["epoch"] == 3
    assert header["__metadata__"]["tradeoff.format"] == "tradeoff.checkpoint/1"
