"""Atomic file output: a killed job never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # pandas is imported only by the stages that write tables
    import pandas as pd


_LIVE: set[Path] = set()
"""The temporary files of the :func:`atomic_path` blocks now open (removed on SIGTERM, see below)."""


def _remove_live_and_terminate(signum: int, frame: FrameType | None) -> None:
    for tmp in list(_LIVE):
        with contextlib.suppress(OSError):
            tmp.unlink()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # end as the signal would have: the exit status says so


def remove_temporary_files_on(*signals: int) -> None:
    """On any of ``signals`` (default SIGTERM, which Snakemake sends a job it stops, e.g. on Ctrl-C),
    remove the temporary files of the :func:`atomic_path` blocks still open, then end the process as
    the signal would have. Without it a job stopped mid-write leaves ``.<name>.<random>.tmp`` beside
    its target (``finally`` does not run on a signal's default action). SIGKILL cannot be caught: a
    killed writer's temporary file stays (it never looks complete)."""
    for signum in signals or (signal.SIGTERM,):
        signal.signal(signum, _remove_live_and_terminate)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary file is ``.<name>.<random>.tmp`` in the same folder (so the final rename is atomic
    and never crosses file systems); it is fsynced before the rename and the folder after it, and
    given the usual file mode. On any error it is removed and ``path`` is left untouched; on SIGTERM
    too where :func:`remove_temporary_files_on` was called (every workflow job calls it).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    _LIVE.add(tmp_path)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)
        _LIVE.discard(tmp_path)


def write_bytes(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` to ``path`` atomically and durably."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, naming the file in the error if it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a tidy table as CSV (no index, fixed float format for byte-stable output), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n")


def write_npz(path: str | os.PathLike[str], **arrays: npt.ArrayLike) -> None:
    """Write compressed arrays atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
