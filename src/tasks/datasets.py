"""The datasets of the real-world experiments (the `data` config group), read from local files.

Nothing is downloaded: `digits` ships inside scikit-learn; `mnist` and `cifar10` are read from the
standard files in a folder the user fills (`data.root`). A `DataSource` is cheap to build: it only
names what it needs, says what is missing (`missing()`, checked by `src.config.checks` before any
compute) and reads the files when asked (`load()`).

- `Digits`: scikit-learn's 8×8 handwritten digits (1797 images, 17 grey levels, 10 classes), split
  once into train and test by a seeded permutation (`test_fraction`, `split_seed`).
- `MNIST`: the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
  t10k-labels-idx1-ubyte (each also accepted gzipped, `.gz`) directly in `root`; 60,000 train and
  10,000 test images of 28×28.
- `CIFAR10`: the Python pickle batches data_batch_1..5 and test_batch in
  `root/cifar-10-batches-py/`; 50,000 train and 10,000 test images of 3×32×32.

Images stay in their stored integer type; `Dataset.features` turns a batch into floats in [0, 1]
(divided by the largest grey level), so CIFAR-10 takes 150 MB in memory rather than 600.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

IDX_TYPES = {  # IDX type byte -> numpy big-endian dtype (LeCun's format description)
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


class DatasetError(ValueError):
    """A dataset file exists but cannot be read as its format; the message names the file."""


@dataclass
class Dataset:
    """Train and test examples: `*_x` [N, C, H, W] in their stored dtype, `*_y` [N] int64."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    scale: float  # features = x / scale
    classes: int = 10

    def features(self, x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """A batch of stored examples as floats in [0, 1]."""
        return x.to(dtype) / self.scale


# ------------------------------------------------------------------------------------ readers


def _open(path: Path) -> bytes:
    """The file's bytes, gunzipped if it is gzip (by its magic number, whatever its name)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DatasetError(f"{path}: not a readable gzip file ({error})") from None
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format), plain or gzipped, as an array of its stored shape and type.

    Layout: two zero bytes, a type byte (0x08 = uint8, ...), the number of dimensions n, then n
    big-endian uint32 sizes, then the data in row-major order."""
    path = Path(path)
    raw = _open(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: IDX header cut short")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise DatasetError(
            f"{path}: IDX header says {shape} of {dtype.name} ({count * dtype.itemsize} bytes), "
            f"the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype, count, header).reshape(shape).astype(dtype.newbyteorder("="))


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only: a CIFAR batch cannot run code when read."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 Python batch: images [N, 3, 32, 32] uint8 (rows of 3072 bytes, the red, green
    and blue planes of 32×32 each) and labels [N] int64. The batches were pickled by Python 2, so
    their keys are bytes; a Python 3 pickle with str keys reads as well."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            batch = _ArraysOnly(handle, encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data, labels = np.asarray(batch["data"], np.uint8), np.asarray(batch["labels"], np.int64)
    except (pickle.UnpicklingError, EOFError, AttributeError, KeyError, ValueError) as error:
        raise DatasetError(f"{path}: not a CIFAR-10 Python batch ({error})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DatasetError(
            f"{path}: a CIFAR-10 batch has rows of 3072 bytes and one label per row, "
            f"got data {data.shape} and {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


# ------------------------------------------------------------------------------------ sources


def _labels(labels: np.ndarray, classes: int, where: str) -> np.ndarray:
    """The labels, checked to be class numbers 0..classes−1."""
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        found = f"{labels.min()}..{labels.max()}"
        raise DatasetError(f"{where}: labels must be in 0..{classes - 1}, found {found}")
    return labels


class DataSource:
    """A dataset named by the `data` group: its shape, what it lacks, and its loader."""

    input_shape: tuple[int, ...] = ()
    classes: int = 10

    def missing(self) -> str | None:
        """None if `load()` can find its files, else one line saying which files to put where."""
        return None

    def load(self) -> Dataset:
        raise NotImplementedError


class Digits(DataSource):
    """scikit-learn's 8×8 digits (the UCI optical digits test set), grey levels 0..16."""

    input_shape = (1, 8, 8)

    def __init__(self, test_fraction: float = 0.2, split_seed: int = 0) -> None:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction={test_fraction} must be in (0, 1)")
        self.test_fraction, self.split_seed = float(test_fraction), int(split_seed)

    def load(self) -> Dataset:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy(digits.images.astype(np.float32)).unsqueeze(1)
        labels = torch.from_numpy(digits.target.astype(np.int64))
        order = torch.from_numpy(np.random.default_rng(self.split_seed).permutation(len(labels)))
        n_test = round(self.test_fraction * len(labels))
        test, train = order[:n_test], order[n_test:]
        return Dataset("digits", images[train], labels[train], images[test], labels[test], 16.0)


class _Folder(DataSource):
    """A dataset read from files in a folder under `root`."""

    folder = ""  # under root
    files: tuple[str, ...] = ()
    gzip_ok = False
    source = ""

    def __init__(self, root: str) -> None:
        self.root = Path(root).expanduser()

    @property
    def where(self) -> Path:
        return self.root / self.folder if self.folder else self.root

    def path(self, name: str) -> Path | None:
        """The file `name` (or `name.gz` where allowed) in the folder, or None."""
        for candidate in (name, f"{name}.gz") if self.gzip_ok else (name,):
            if (self.where / candidate).is_file():
                return self.where / candidate
        return None

    def missing(self) -> str | None:
        absent = [name for name in self.files if self.path(name) is None]
        if not absent:
            return None
        name, gz = type(self).__name__, " (each may be .gz)" if self.gzip_ok else ""
        found = f"no {name} files" if len(absent) == len(self.files) else f"{name} lacks some"
        return (
            f"data.root={str(self.root)!r}: {found} in {self.where} (nothing is downloaded): "
            f"put {', '.join(absent)}{gz} there, from {self.source}, or set data.root=<folder>"
        )


class MNIST(_Folder):
    """MNIST from its four IDX files in `root` (plain or .gz), as published by LeCun et al."""

    input_shape = (1, 28, 28)
    files = MNIST_FILES
    gzip_ok = True
    source = "https://yann.lecun.com/exdb/mnist/"

    def load(self) -> Dataset:
        arrays = [read_idx(self.path(name)) for name in self.files]
        pairs = ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k"))
        for images, labels, name in pairs:
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise DatasetError(
                    f"{self.where}: {name} images {images.shape} and labels {labels.shape} "
                    "do not match (expected [N, 28, 28] and [N])"
                )
            _labels(labels, self.classes, f"{self.where}: {name} labels")
        x_train, y_train, x_test, y_test = (torch.from_numpy(a.copy()) for a in arrays)
        return Dataset(
            "mnist",
            x_train.unsqueeze(1),
            y_train.long(),
            x_test.unsqueeze(1),
            y_test.long(),
            255.0,
        )


class CIFAR10(_Folder):
    """CIFAR-10 from the Python batches in `root/cifar-10-batches-py/` (Krizhevsky, 2009)."""

    input_shape = (3, 32, 32)
    folder = CIFAR_FOLDER
    files = CIFAR_FILES
    source = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpacked)"

    def load(self) -> Dataset:
        train = [read_cifar_batch(self.path(name)) for name in self.files[:-1]]
        test_x, test_y = read_cifar_batch(self.path(self.files[-1]))
        for name, (_, labels) in zip(self.files, [*train, (test_x, test_y)], strict=True):
            _labels(labels, self.classes, str(self.where / name))
        return Dataset(
            "cifar10",
            torch.from_numpy(np.concatenate([x for x, _ in train])),
            torch.from_numpy(np.concatenate([y for _, y in train])),
            torch.from_numpy(test_x),
            torch.from_numpy(test_y),
            255.0,
        )
