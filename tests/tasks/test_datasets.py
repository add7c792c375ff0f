"""The dataset readers on small files the tests write in the standard formats (IDX plain and
gzipped, CIFAR-10 Python pickle batches), scikit-learn's digits, and the one-line message for a
dataset that is not there."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from src.config.checks import ConfigError, validate
from src.tasks.datasets import (
    CIFAR10,
    CIFAR_FILES,
    CIFAR_FOLDER,
    MNIST,
    MNIST_FILES,
    DatasetError,
    Digits,
    read_cifar_batch,
    read_idx,
)
from tests.conftest import make_cfg

IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """`array` in LeCun's IDX format: 0, 0, type byte, ndim, big-endian sizes, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist(
    root: Path, n_train: int = 12, n_test: int = 5, gz: tuple[bool, ...] = (False,) * 4
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for (name, array), zipped in zip(arrays.items(), gz, strict=True):
        write_idx(root / (f"{name}.gz" if zipped else name), array, zipped)
    return arrays


def write_cifar(root: Path, per_batch: int = 4, str_keys: bool = False) -> dict[str, np.ndarray]:
    """Six batches as the CIFAR-10 Python version has them: a dict with bytes keys (pickled by
    Python 2), `data` uint8 [N, 3072] (red, green, blue planes), `labels` a list of ints."""
    rng = np.random.default_rng(1)
    folder = root / CIFAR_FOLDER
    folder.mkdir(parents=True)
    written = {}
    for name in CIFAR_FILES:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [b"x.png"] * per_batch,
        }
        if str_keys:
            batch = {k.decode(): v for k, v in batch.items()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = data
    return written


# ------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trips_every_type_plain_and_gzipped(
    tmp_path: Path, dtype: type, gz: bool
) -> None:
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    if dtype is np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    read = read_idx(write_idx(tmp_path / "a.idx", array, gz))
    assert read.shape == (2, 3, 4) and read.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(read, array)


def test_idx_reader_rejects_bad_magic_and_wrong_size(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    short = write_idx(tmp_path / "short", np.zeros((3, 4), np.uint8))
    short.write_bytes(short.read_bytes()[:-1])
    with pytest.raises(DatasetError, match=r"IDX header says \(3, 4\)"):
        read_idx(short)
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b" + b"junk")
    with pytest.raises(DatasetError, match="gzip"):
        read_idx(tmp_path / "broken.gz")


def test_mnist_reads_plain_and_gz_files_into_tensors(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, gz=(True, False, False, True))
    source = MNIST(str(tmp_path))
    assert source.missing() is None
    data = source.load()
    assert data.train_x.shape == (12, 1, 28, 28) and data.test_x.shape == (5, 1, 28, 28)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    np.testing.assert_array_equal(data.train_x[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(data.test_y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    features = data.features(data.train_x)
    assert features.dtype == torch.float32 and 0 <= features.min() and features.max() <= 1
    assert float(features.max()) == pytest.approx(arrays["train-images-idx3-ubyte"].max() / 255)


def test_mnist_with_mismatched_counts_or_bad_labels_is_a_dataset_error(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))  # 5 images
    with pytest.raises(DatasetError, match="do not match"):
        MNIST(str(tmp_path)).load()
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(5, 10, np.uint8))
    with pytest.raises(DatasetError, match=r"labels must be in 0\.\.9"):
        MNIST(str(tmp_path)).load()


# ------------------------------------------------------------------------------------ CIFAR-10


@pytest.mark.parametrize("str_keys", [False, True])
def test_cifar_batches_read_into_channel_planes(tmp_path: Path, str_keys: bool) -> None:
    written = write_cifar(tmp_path, str_keys=str_keys)
    source = CIFAR10(str(tmp_path))
    assert source.missing() is None
    data = source.load()
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    first = written["data_batch_1"][0]
    np.testing.assert_array_equal(data.train_x[0, 0].numpy(), first[:1024].reshape(32, 32))
    np.testing.assert_array_equal(data.train_x[0, 2].numpy(), first[2048:].reshape(32, 32))
    np.testing.assert_array_equal(
        data.test_x[:, 1].numpy().reshape(4, -1), written["test_batch"][:, 1024:2048]
    )
    images, labels = read_cifar_batch(tmp_path / CIFAR_FOLDER / "data_batch_5")
    np.testing.assert_array_equal(data.train_y[16:].numpy(), labels)


class _Payload:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.path),))


def test_cifar_reader_runs_no_code_from_the_pickle(tmp_path: Path) -> None:
    target = tmp_path / "created-by-the-pickle"
    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": _Payload(target), b"labels": []}))
    with pytest.raises(DatasetError, match="refusing to load"):
        read_cifar_batch(tmp_path / "evil")
    assert not target.exists()
    (tmp_path / "rows").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    )
    with pytest.raises(DatasetError, match="rows of 3072 bytes"):
        read_cifar_batch(tmp_path / "rows")


# ------------------------------------------------------------------------------------ digits


def test_digits_split_is_fixed_by_its_seed() -> None:
    a, b, c = Digits().load(), Digits().load(), Digits(split_seed=1).load()
    assert a.train_x.shape == (1438, 1, 8, 8) and a.test_x.shape == (359, 1, 8, 8)
    assert torch.equal(a.test_x, b.test_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.test_x, c.test_x)
    assert set(a.train_y.tolist()) == set(range(10)) == set(a.test_y.tolist())
    features = a.features(a.train_x)
    assert float(features.min()) == 0.0 and float(features.max()) == 1.0
    assert Digits(test_fraction=0.5).load().test_x.shape[0] == 898


# ------------------------------------------------------------------------------------ missing


def one_line_error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        validate(make_cfg(*overrides))
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_missing_mnist_names_the_files_and_where_to_put_them(tmp_path: Path) -> None:
    message = one_line_error("task=logreg", "data=mnist", f"data.root={tmp_path}")
    assert message.startswith(f"data.root='{tmp_path}': no MNIST files in {tmp_path}")
    assert all(name in message for name in MNIST_FILES) and "nothing is downloaded" in message
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    message = one_line_error("task=logreg", "data=mnist", f"data.root={tmp_path}")
    assert (
        "MNIST lacks some" in message and "put t10k-labels-idx1-ubyte (each may be .gz)" in message
    )
    assert "train-images" not in message
    write_mnist(tmp_path)
    validate(make_cfg("task=logreg", "data=mnist", f"data.root={tmp_path}"))


def test_missing_cifar10_names_the_batches_and_their_folder(tmp_path: Path) -> None:
    message = one_line_error("task=cifarnet", "data=cifar10", f"data.root={tmp_path}")
    assert f"no CIFAR10 files in {tmp_path / CIFAR_FOLDER}" in message
    assert all(name in message for name in CIFAR_FILES)
    write_cifar(tmp_path)
    validate(make_cfg("task=cifarnet", "data=cifar10", f"data.root={tmp_path}"))
