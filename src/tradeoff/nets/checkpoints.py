"""Pickle-free checkpoints and final weight files (safetensors + JSON metadata), written atomically.

A **training checkpoint** is one ``.safetensors`` file; nothing in it is ever unpickled:

* tensors: ``model.<name>`` (the model's ``state_dict``), ``optim.<param index>.<key>``
  (per-parameter optimizer state, e.g. Adam's ``exp_avg`` and ``step``), ``rng.torch_cpu``,
  ``rng.torch_cuda.<device>``, ``rng.numpy`` (the MT19937 key) and ``rng.gen.<name>`` (named
  ``torch.Generator`` states, e.g. the data-order and attack generators);
* header metadata ``tradeoff.format = "tradeoff.checkpoint/1"``, ``tradeoff.digest`` (sha256 over
  every tensor's name, dtype, shape and bytes) and ``tradeoff.state``: JSON with the architecture
  name, epoch, iteration, config, config hash, metrics so far, the optimizer's class,
  ``param_groups`` and non-tensor per-parameter state, and the scalar parts of the numpy / Python
  RNG states.

A **weights file** (``weights.safetensors``) holds ``state_dict`` tensors plus string metadata
(``architecture`` required; ``recipe`` etc. free-form), ``tradeoff.format = "tradeoff.weights/1"``
and the same digest.

Files are serialised in memory, written to a temporary name in the target directory, fsynced and
moved into place with ``os.replace``: a file is either complete or absent. Loading parses the header
itself before handing the bytes to safetensors, so a pickle / ``torch.save`` file, a truncated or
bit-flipped file, a wrong architecture, missing/extra keys or a shape mismatch all raise
:class:`CheckpointError` naming the file and the problem, and no code from the file is ever run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from tradeoff.io import write_bytes
from tradeoff.nets.identity import identity_problem

CHECKPOINT_FORMAT = "tradeoff.checkpoint/1"
WEIGHTS_FORMAT = "tradeoff.weights/1"
_FORMAT_KEY = "tradeoff.format"
_DIGEST_KEY = "tradeoff.digest"
_STATE_KEY = "tradeoff.state"
_MAX_HEADER = 100_000_000  # safetensors' own limit

PathLike = str | os.PathLike[str]


class CheckpointError(ValueError):
    """A checkpoint or weights file is missing, malformed, corrupt, unsafe or does not fit."""

    def __init__(self, path: PathLike, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = Path(path)
        self.problem = problem


class CheckpointFormatError(CheckpointError):
    """A sound training checkpoint in another (older) version of the checkpoint format: it cannot
    be resumed, but it is not damage either (training starts fresh; see ``training.train``)."""

    def __init__(self, path: PathLike, found: str) -> None:
        super().__init__(path, f"training checkpoint in format {found!r}; this version reads "
                               f"{CHECKPOINT_FORMAT!r} only")
        self.found = found


class CheckpointIdentityError(CheckpointError):
    """A sound training checkpoint of the same config and data, written by other training code or
    another torch version (its ``identity`` differs): resuming it would hand back what the other
    code computed, so training starts fresh (see ``training.train``)."""

    def __init__(self, path: PathLike, found: Mapping[str, str], expected: Mapping[str, str]) -> None:
        changed = [f"{key} {found.get(key, 'not recorded')} -> {expected.get(key, 'not recorded')}"
                   for key in sorted(set(found) | set(expected)) if found.get(key) != expected.get(key)]
        super().__init__(path, "written by other training code or torch: " + ", ".join(changed))
        self.found = dict(found)
        self.expected = dict(expected)
        self.changed = changed


class WeightsIdentityError(CheckpointError):
    """A sound weights file whose metadata says it is another model than the one asked for (a file
    swapped or copied into another model's folder). Not damage: it is never removed."""


@dataclass(frozen=True)
class TrainingState:
    """The scalar side of a checkpoint (what :func:`load_checkpoint` returns)."""

    path: Path
    model_name: str
    epoch: int
    iteration: int
    config: dict[str, Any]
    config_hash: str
    metrics: list[dict[str, Any]]
    identity: dict[str, str] = dataclasses.field(default_factory=dict)
    """What besides config and data decided the weights (training code hash, torch version); empty
    in checkpoints written before it was recorded."""


# --------------------------------------------------------------------------------------------------
# low level: atomic writes, header parsing, digests


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path``: a fsynced temporary file beside it, then ``os.replace``."""
    return write_bytes(data, path)


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _serialise(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta = dict(metadata)
    meta[_DIGEST_KEY] = _digest(cpu)
    return _canonical_header(_st_save(cpu, metadata=meta))


def _canonical_header(data: bytes) -> bytes:
    """The same safetensors file with its JSON header written in one canonical form (keys sorted,
    compact, space-padded to 8 bytes as safetensors does), so that identical tensors and metadata give
    identical bytes: safetensors writes the header from a hash map whose order varies from call to call.
    The data section is untouched; its offsets are relative to its start."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def _read_safetensors(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read and fully validate a safetensors file (structure and digest); never unpickles."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(p, "file does not exist") from None
    except OSError as err:
        raise CheckpointError(p, f"cannot read file ({err})") from err

    def bad(problem: str) -> CheckpointError:
        # Only a file that fails to parse as safetensors is called a pickle: a valid header length
        # may itself start with 0x80 or "PK".
        is_zip = data[:4] == b"PK\x03\x04"  # torch.save
        is_pickle = data[:1] == b"\x80" and data[1:2] in (b"\2", b"\3", b"\4", b"\5")
        if is_zip or is_pickle:
            problem = (
                "looks like a pickle / torch.save file; refusing to load it "
                "(unpickling can run arbitrary code)"
            )
        return CheckpointError(p, problem)

    if len(data) < 8:
        raise bad(f"truncated: {len(data)} bytes, not a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise bad(f"truncated or not a safetensors file (header of {n} bytes, file of {len(data)})")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad(f"corrupt safetensors header ({err})") from None
    if not isinstance(header, dict):
        raise bad("corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise bad("corrupt safetensors header (__metadata__ is not an object)")
    end = 0
    for name, info in header.items():
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise CheckpointError(p, f"corrupt safetensors header (entry {name!r})") from None
    if 8 + n + end != len(data):
        raise CheckpointError(
            p, f"truncated or padded: data should end at byte {8 + n + end}, file has {len(data)}"
        )
    try:
        tensors = _st_load(data)
    except Exception as err:  # safetensors raises its own SafetensorError
        raise CheckpointError(p, f"corrupt safetensors file ({err})") from err
    expected = metadata.get(_DIGEST_KEY)
    if expected is None:
        raise CheckpointError(p, f"no {_DIGEST_KEY} in metadata; not written by tradeoff")
    if _digest(tensors) != expected:
        raise CheckpointError(p, "corrupt: tensor data does not match the stored sha256 digest")
    return tensors, dict(metadata)


def _check_state_dict(
    path: Path, what: str, expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]
) -> None:
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:5]}{' ...' * (len(missing) > 5)}")
    if extra:
        problems.append(f"unexpected keys {extra[:5]}{' ...' * (len(extra) > 5)}")
    for k in sorted(set(expected) & set(got)):
        want, have = expected[k], got[k]
        if tuple(want.shape) != tuple(have.shape):
            problems.append(
                f"shape mismatch for {k}: file {tuple(have.shape)}, model {tuple(want.shape)}"
            )
        elif want.dtype != have.dtype:
            problems.append(f"dtype mismatch for {k}: file {have.dtype}, model {want.dtype}")
    if problems:
        raise CheckpointError(path, f"{what} does not fit: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------------
# training checkpoints


def save_checkpoint(
    path: PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    model_name: str,
    epoch: int,
    iteration: int,
    generators: Mapping[str, torch.Generator] | None = None,
    metrics: Sequence[Mapping[str, Any]] = (),
    config: Mapping[str, Any] | None = None,
    config_hash: str = "",
    identity: Mapping[str, str] | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> Path:
    """Atomically write model, optimizer, named generators, global RNG states and training state.

    Global RNG states captured: torch CPU, every CUDA device (if CUDA is initialised), numpy's
    legacy global ``RandomState`` and Python's ``random``. ``identity``: what besides the config and
    data decides the weights (the training code's hash, the torch version), checked on resuming
    (``load_checkpoint(identity=...)``); ``recorded``: facts kept for the record only (the CPU).
    """
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}

    opt_sd = optimizer.state_dict()
    opt_scalars: dict[str, dict[str, Any]] = {}
    for idx, st in opt_sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = val
            else:
                opt_scalars.setdefault(str(idx), {})[key] = val

    tensors["rng.torch_cpu"] = torch.get_rng_state()
    n_cuda = 0
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.torch_cuda.{i}"] = s
            n_cuda += 1
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(np_key, dtype=np.int64))
    py_version, py_internal, py_gauss = random.getstate()
    gens = dict(generators or {})
    for name, gen in gens.items():
        tensors[f"rng.gen.{name}"] = gen.get_state()

    state = {
        "model_name": model_name,
        "epoch": int(epoch),
        "iteration": int(iteration),
        "config": dict(config or {}),
        "config_hash": config_hash,
        "metrics": [dict(m) for m in metrics],
        "optimizer": {
            "class": type(optimizer).__name__,
            "param_groups": opt_sd["param_groups"],
            "state_scalars": opt_scalars,
            "param_indices": sorted(int(i) for i in opt_sd["state"]),
        },
        "rng": {
            "cuda_devices": n_cuda,
            "numpy": {
                "name": np_name,
                "pos": int(np_pos),
                "has_gauss": int(np_has_gauss),
                "cached_gaussian": float(np_gauss),
            },
            "python": {
                "version": py_version,
                "internal": list(py_internal),
                "gauss_next": py_gauss,
            },
            "generators": {name: str(gen.device) for name, gen in gens.items()},
        },
        "torch_version": torch.__version__,
        "identity": {str(k): str(v) for k, v in (identity or {}).items()},
        "recorded": dict(recorded or {}),
    }
    meta = {_FORMAT_KEY: CHECKPOINT_FORMAT, _STATE_KEY: json.dumps(state, sort_keys=True)}
    return atomic_write_bytes(path, _serialise(tensors, meta))


def _parse_checkpoint(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    p = Path(path)
    tensors, meta = _read_safetensors(p)
    found = meta.get(_FORMAT_KEY)
    if isinstance(found, str) and found != CHECKPOINT_FORMAT and found.startswith(
            CHECKPOINT_FORMAT.split("/")[0] + "/"):
        raise CheckpointFormatError(p, found)
    if found != CHECKPOINT_FORMAT:
        raise CheckpointError(
            p,
            f"not a training checkpoint (format {found!r}, "
            f"expected {CHECKPOINT_FORMAT!r})",
        )
    required = ("model_name", "epoch", "iteration", "config", "config_hash", "metrics",
                "optimizer", "rng")
    try:
        state = json.loads(meta[_STATE_KEY])
        for key in required:
            state[key]
    except (KeyError, json.JSONDecodeError, TypeError) as err:
        raise CheckpointError(p, f"corrupt training state metadata ({err!r})") from err
    return tensors, state


def _training_state(path: Path, state: dict[str, Any]) -> TrainingState:
    return TrainingState(
        path=path,
        model_name=state["model_name"],
        epoch=int(state["epoch"]),
        iteration=int(state["iteration"]),
        config=state["config"],
        config_hash=state["config_hash"],
        metrics=state["metrics"],
        identity=dict(state.get("identity") or {}),
    )


def read_checkpoint(path: PathLike) -> TrainingState:
    """Validate a checkpoint file and return its scalar state, restoring nothing."""
    _, state = _parse_checkpoint(path)
    return _training_state(Path(path), state)


def _check_owner(
    p: Path,
    state: dict[str, Any],
    model_name: str | None,
    config_hash: str | None,
    identity: Mapping[str, str] | None,
) -> None:
    """The checkpoint belongs to this architecture, run and identity (each only when given)."""
    if model_name is not None and state["model_name"] != model_name:
        raise CheckpointError(
            p, f"wrong architecture: file holds {state['model_name']!r}, expected {model_name!r}"
        )

    if config_hash is not None and state["config_hash"] != config_hash:
        raise CheckpointError(
            p, f"belongs to another run (config hash {state['config_hash'][:16]}, "
            f"expected {config_hash[:16]})"
        )
    if identity is not None and dict(state.get("identity") or {}) != dict(identity):
        raise CheckpointIdentityError(p, dict(state.get("identity") or {}), identity)


def _optimizer_state_dict(
    p: Path, state: dict[str, Any], tensors: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """The saved optimizer state as a ``load_state_dict`` argument, checked against ``optimizer``
    (class, parameter groups, every tensor's shape) without modifying it."""
    ost = state["optimizer"]
    if ost["class"] != type(optimizer).__name__:
        raise CheckpointError(
            p, f"optimizer mismatch: file holds {ost['class']}, got {type(optimizer).__name__}"
        )
    params = [q for g in optimizer.param_groups for q in g["params"]]
    saved_groups = ost["param_groups"]
    n_saved = sum(len(g["params"]) for g in saved_groups)
    if len(saved_groups) != len(optimizer.param_groups) or n_saved != len(params):
        raise CheckpointError(
            p,
            f"optimizer mismatch: file has {n_saved} parameters in {len(saved_groups)} groups, "
            f"optimizer has {len(params)} in {len(optimizer.param_groups)}",
        )
    per_param: dict[int, dict[str, Any]] = {
        int(i): dict(v) for i, v in ost["state_scalars"].items()
    }
    for k, v in tensors.items():
        if k.startswith("optim."):
            index, field = k[len("optim.") :].split(".", 1)
            per_param.setdefault(int(index), {})[field] = v
    for idx, st in per_param.items():
        if not 0 <= idx < n_saved:
            raise CheckpointError(p, f"optimizer state names parameter {idx} of {n_saved}")
        for key, val in st.items():
            shape = tuple(params[idx].shape)
            if isinstance(val, torch.Tensor) and val.dim() > 0 and tuple(val.shape) != shape:
                raise CheckpointError(
                    p,
                    f"optimizer state shape mismatch: {key} of parameter {idx} is "
                    f"{tuple(val.shape)}, parameter is {shape}",
                )
    return {"state": per_param, "param_groups": saved_groups}


def _check_generators(
    p: Path, state: dict[str, Any], tensors: dict[str, torch.Tensor], gens: dict[str, torch.Generator]
) -> None:
    """Every named generator has a saved state of its shape."""
    saved_gens = state["rng"]["generators"]
    if set(gens) - set(saved_gens):
        missing = sorted(set(gens) - set(saved_gens))
        raise CheckpointError(p, f"no saved state for generator(s) {missing}")
    for name, gen in gens.items():
        if tensors[f"rng.gen.{name}"].shape != gen.get_state().shape:
            raise CheckpointError(
                p, f"generator {name!r} state does not fit ({saved_gens[name]} vs {gen.device})"
            )


def _restore_global_rng(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Set torch's (CPU and CUDA), NumPy's and Python's global RNGs to their saved states."""
    rng = state["rng"]
    torch.set_rng_state(tensors["rng.torch_cpu"])
    if rng["cuda_devices"] and torch.cuda.is_available():
        for i in range(min(rng["cuda_devices"], torch.cuda.device_count())):
            torch.cuda.set_rng_state(tensors[f"rng.torch_cuda.{i}"], device=i)
    npst = rng["numpy"]
    np_key = tensors["rng.numpy"].numpy().astype(np.uint32)
    np.random.set_state(
        (npst["name"], np_key, npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    pyst = rng["python"]
    random.setstate((pyst["version"], tuple(pyst["internal"]), pyst["gauss_next"]))


def load_checkpoint(
    path: PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    model_name: str | None = None,
    config_hash: str | None = None,
    restore_rng: bool = True,
    identity: Mapping[str, str] | None = None,
) -> TrainingState:
    """Restore ``model`` (and ``optimizer``, named ``generators``, global RNGs) from a checkpoint.

    Everything is validated before anything is modified; a mismatch (of ``model_name`` or
    ``config_hash`` too, when given) raises :class:`CheckpointError`; one of ``identity`` (when
    given) raises :class:`CheckpointIdentityError`.
    """
    p = Path(path)
    tensors, state = _parse_checkpoint(p)
    _check_owner(p, state, model_name, config_hash, identity)

    model_sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    _check_state_dict(p, f"model ({state['model_name']})", model.state_dict(), model_sd)
    opt_sd = _optimizer_state_dict(p, state, tensors, optimizer) if optimizer is not None else None
    gens = dict(generators or {})
    _check_generators(p, state, tensors, gens)

    # all checks passed: mutate
    model.load_state_dict(model_sd, strict=True)
    if optimizer is not None and opt_sd is not None:
        try:
            optimizer.load_state_dict(opt_sd)
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(p, f"optimizer state does not fit ({err})") from err
    for name, gen in gens.items():
        gen.set_state(tensors[f"rng.gen.{name}"])
    if restore_rng:
        _restore_global_rng(state, tensors)
    return _training_state(p, state)


# --------------------------------------------------------------------------------------------------
# final weights


def save_weights(model: torch.nn.Module, path: PathLike, metadata: Mapping[str, str]) -> Path:
    """Atomically write ``model``'s ``state_dict`` to a safetensors file with string ``metadata``.

    ``metadata["architecture"]`` (the :func:`tradeoff.nets.models.build_model` name) is required.
    """
    meta = {str(k): v for k, v in metadata.items()}
    if not meta.get("architecture"):
        raise ValueError("save_weights: metadata must name the 'architecture' (build_model name)")
    bad = [k for k, v in meta.items() if not isinstance(v, str)]
    if bad:
        raise TypeError(f"save_weights: metadata values must be str (not for {bad})")
    if any(k.startswith("tradeoff.") for k in meta):
        raise ValueError("save_weights: metadata keys starting with 'tradeoff.' are reserved")
    meta[_FORMAT_KEY] = WEIGHTS_FORMAT
    return atomic_write_bytes(path, _serialise(dict(model.state_dict()), meta))


def read_weights_metadata(path: PathLike) -> dict[str, str]:
    """The user metadata of a weights file (validated in full, digest included)."""
    _, meta = _read_weights(path)
    return meta


def weights_digest(path: PathLike) -> str:
    """The SHA-256 digest over a weights file's tensors that its header stores (validated in full)."""
    _, meta = _read_safetensors(path)
    return meta[_DIGEST_KEY]


def _read_weights(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors, meta = _read_safetensors(path)
    if meta.get(_FORMAT_KEY) != WEIGHTS_FORMAT:
        raise CheckpointError(
            path,
            f"not a weights file (format {meta.get(_FORMAT_KEY)!r}, expected {WEIGHTS_FORMAT!r})",
        )
    return tensors, {k: v for k, v in meta.items() if not k.startswith("tradeoff.")}


def load_weights(
    model_name: str | None, path: PathLike, *, device: str | torch.device = "cpu",
    expect: Mapping[str, str] | None = None,
) -> torch.nn.Module:
    """Build ``model_name`` and load a weights file into it (eval mode); refuse any mismatch.

    ``model_name=None`` builds the architecture the file's metadata names (the file is read once).
    ``expect``: metadata the file must hold (:func:`tradeoff.nets.identity.model_identity`); a file
    that disagrees raises :class:`WeightsIdentityError` naming both.
    """
    return load_weights_and_metadata(model_name, path, device=device, expect=expect)[0]


def load_weights_and_metadata(
    model_name: str | None, path: PathLike, *, device: str | torch.device = "cpu",
    expect: Mapping[str, str] | None = None,
) -> tuple[torch.nn.Module, dict[str, str]]:
    """:func:`load_weights` and the file's user metadata, from one read of the file."""
    from tradeoff.nets.models import build_model

    tensors, meta = _read_weights(path)
    problem = identity_problem(meta, expect) if expect is not None else None
    if problem is not None:
        raise WeightsIdentityError(path, problem)
    model_name = model_name or meta.get("architecture") or ""
    if meta.get("architecture") != model_name:
        raise CheckpointError(
            path,
            f"wrong architecture: file holds {meta.get('architecture')!r}, expected {model_name!r}",
        )
    try:
        model = build_model(model_name)
    except ValueError as err:  # an architecture this version does not know
        raise CheckpointError(path, f"its metadata names an unknown architecture: {err}") from None
    _check_state_dict(Path(path), f"model ({model_name})", model.state_dict(), tensors)
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval(), meta


# --------------------------------------------------------------------------------------------------
# corrupt final weights: discarded by the job that finds them (tradeoff.nets.integrity finds them
# cheaply before a run)


@contextlib.contextmanager
def discarding_corrupt(*paths: PathLike) -> Iterator[None]:
    """Inside, a :class:`CheckpointError` about one of ``paths`` (a workflow output another job reads)
    removes that file before it propagates: Snakemake keeps an existing output that is newer than its
    inputs, so a corrupt model would otherwise stay, and every later run fail on it, until someone
    deleted it by hand. Removed (its ``history.json`` stays), the next run of the stage targets (which
    list every model's files) rebuilds it; one of another target stops before any job, naming it and
    the command that rebuilds it (:func:`tradeoff.nets.integrity.corrupt_weights_message`)."""
    try:
        yield
    except WeightsIdentityError:
        raise  # another model's sound file: not removed
    except CheckpointError as err:
        wanted = {Path(os.path.abspath(p)) for p in paths}
        target = Path(os.path.abspath(err.path))
        if target in wanted and target.exists():
            target.unlink()
            raise CheckpointError(err.path, f"{err.problem}; removed it: the next run of the stage targets "
                                            "rebuilds it; one of another target stops naming it and the command "
                                            "that rebuilds it") from err
        raise
