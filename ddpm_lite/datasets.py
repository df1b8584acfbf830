"""Every data set of the course by name, as float32 images in [-1, 1] (Ho et al. 2020, Sec. 4).

`load_dataset("digits")` needs nothing (scikit-learn ships the 8x8 digits); "mnist",
"fashion_mnist" and "cifar10" are read from torchvision's folder layout under `root`:

    root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    root/FashionMNIST/raw/  (the same four names)
    root/cifar-10-batches-py/{data_batch_1..5, test_batch}

torchvision, where it is installed (it is on Colab), is used only to download those files;
we always parse them ourselves: the IDX format by its header, the CIFAR pickles with an
unpickler that can build numpy arrays and nothing else. The 2-D toys ("two_moons",
"swiss_roll", "ring", "checkerboard") come by name too, so a training config can name any set.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .toys import TOYS, toy_data

IMAGE_SETS = ("digits", "mnist", "fashion_mnist", "cifar10")
_IDX_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_TORCHVISION_CLASSES = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
}
_CIFAR_FOLDER = "cifar-10-batches-py"


DIGIT_LEVELS = 17


def digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled UCI digits: float32 images in [-1, 1] of shape (1797, 1, 8, 8), int64 labels.

    1,797 real 8x8 images that need no download. Their pixels take only 17 grey levels
    (0..16), which matters for bits per dimension (lessons 03 and 07).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32)  # (N, 8, 8), 0..16
    images = images / (DIGIT_LEVELS - 1) * 2 - 1  # 17 levels in [-1, 1]
    return images.unsqueeze(1), torch.as_tensor(bunch.target, dtype=torch.int64)


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, optionally gzipped) as a uint8 array.

    Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions d,
    then d big-endian uint32 sizes; the data follow in row-major order.
    """
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"path: {path} is not an IDX file of unsigned bytes (magic {data[:4].hex()})"
        )
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):
        raise ValueError(
            f"path: {path} header says shape {dims} but holds {body.size} bytes"
        )
    return body.reshape(dims)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array-reconstruction globals and refuses the rest.

    A pickle can call any importable function while loading; a downloaded file must not.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[
            0
        ],
        ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(1))[
            0
        ],
        ("numpy.core.numeric", "_frombuffer"): np.zeros(1).__reduce_ex__(5)[0],
        ("numpy._core.numeric", "_frombuffer"): np.zeros(1).__reduce_ex__(5)[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed"
            )
        return self._ALLOWED[(module, name)]


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch as (images uint8 (N, 3, 32, 32), labels int64 (N,)).

    The file is a pickled dict with "data" (N, 3072): 1024 red, then green, then blue values,
    each a 32x32 image in row-major order, and "labels" (N ints). The real files are
    Python 2 pickles (str keys); ours may use bytes keys. Loaded with `_NumpyOnlyUnpickler`.
    """
    with open(path, "rb") as f:
        batch = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    if not isinstance(batch, dict):
        raise ValueError(f"path: {path} does not hold a dict")
    get = lambda k: batch[k] if k in batch else batch[k.encode()]  # noqa: E731  str or bytes keys
    data, labels = np.asarray(get("data")), np.asarray(get("labels"), dtype=np.int64)
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or len(labels) != len(data)
    ):
        raise ValueError(
            f"path: {path} has data {data.dtype} {data.shape} and {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _to_unit_range(images: np.ndarray) -> Tensor:
    """uint8 levels 0..255 -> float32 in [-1, 1]: k -> 2k/255 - 1 (Ho et al. 2020, Sec. 3.3)."""
    return torch.from_numpy(images.astype(np.float32)) * (2 / 255) - 1


def _idx_files(name: str, root: Path, train: bool) -> list[Path]:
    split = "train" if train else "t10k"
    raw = root / _IDX_FOLDERS[name] / "raw"
    return [raw / f"{split}-images-idx3-ubyte", raw / f"{split}-labels-idx1-ubyte"]


def _cifar_files(root: Path, train: bool) -> list[Path]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    return [root / _CIFAR_FOLDER / n for n in names]


def _present(path: Path) -> Path | None:
    """`path` if it exists, else its gzipped sibling if that exists, else None."""
    gz = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz if gz.is_file() else None


def _fetch(name: str, root: Path, train: bool, download: bool | None) -> list[Path]:
    """The files of `name`, downloaded with torchvision first if missing and allowed."""
    files = (
        _idx_files(name, root, train)
        if name in _IDX_FOLDERS
        else _cifar_files(root, train)
    )
    found = [
        _present(p) if name in _IDX_FOLDERS else (p if p.is_file() else None)
        for p in files
    ]
    if all(found):
        return found
    have_tv = importlib.util.find_spec("torchvision") is not None
    if download is None:
        download = have_tv
    if download and not have_tv:
        raise ValueError(
            f"download=True needs torchvision (pip install torchvision) to fetch {name}"
        )
    if not download:
        missing = [str(p) for p, f in zip(files, found) if f is None]
        raise FileNotFoundError(
            f"{name}: expected torchvision's layout under root={str(root)!r}, missing {missing}. "
            f"Install torchvision and call load_dataset({name!r}, root=..., download=True), or copy "
            f"the files of torchvision.datasets.{_TORCHVISION_CLASSES[name]}(root, download=True) there."
        )
    import torchvision

    getattr(torchvision.datasets, _TORCHVISION_CLASSES[name])(
        str(root), train=train, download=True
    )
    return _fetch(name, root, train, download=False)


def load_dataset(
    name: str,
    *,
    root: str | Path = "data",
    train: bool = True,
    download: bool | None = None,
    n: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """A data set by name as (x, y): x float32 in [-1, 1], y int64 class labels.

    Images: x has shape (N, C, H, W), pixel level k of 0..255 mapped to 2k/255 - 1:
      "digits" (1797, 1, 8, 8), 17 grey levels, all images for either `train` (no split exists);
      "mnist", "fashion_mnist" (60000 | 10000, 1, 28, 28); "cifar10" (50000 | 10000, 3, 32, 32).
    `download`: None = download missing files only if torchvision is installed.
    Toys: x has shape (n, 2) drawn with `generator`; there are no classes, so y is all zeros.
    """
    if name in TOYS:
        if n is None:
            raise ValueError(f"n must be given for the toy data set {name!r}")
        x = toy_data(name, n, generator=generator)
        return x, torch.zeros(len(x), dtype=torch.int64)
    if name not in IMAGE_SETS:
        raise ValueError(
            f"name must be one of {list(IMAGE_SETS) + sorted(TOYS)}, got {name!r}"
        )
    if name == "digits":
        return digits()
    files = _fetch(name, Path(root), train, download)
    if name == "cifar10":
        batches = [read_cifar_batch(p) for p in files]
        images, labels = (
            np.concatenate([b[0] for b in batches]),
            np.concatenate([b[1] for b in batches]),
        )
    else:
        images, labels = (
            read_idx(files[0])[:, None],
            read_idx(files[1]).astype(np.int64),
        )
        if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"root: {files[0]} and {files[1]} hold {images.shape} images, "
                f"{labels.shape} labels"
            )
    return _to_unit_range(images), torch.from_numpy(labels)


def random_hflip(x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Flip each image of a batch (B, C, H, W) left-right with probability 1/2.

    Training-time augmentation only: Ho et al. 2020 (App. B) used random horizontal flips
    for CIFAR10 and found they improved sample quality slightly. Not for digits or MNIST,
    whose classes are not mirror-symmetric (a flipped 2 or 7 is no digit).
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augmentation(name: str) -> Callable[..., Tensor] | None:
    """The training-time batch transform of data set `name`: `random_hflip` for "cifar10", else None."""
    return random_hflip if name == "cifar10" else None
