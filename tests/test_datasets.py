"""Data loading: our readers parse tiny stand-ins written in exactly torchvision's layout.

No network here: each test writes a few fake images with an independent IDX writer or
`pickle.dump`, and checks shapes, ranges and that every pixel level and label round-trips.
"""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from ddpm_lite.datasets import (
    augmentation,
    load_dataset,
    random_hflip,
    read_cifar_batch,
)

HAVE_TORCHVISION = __import__("importlib").util.find_spec("torchvision") is not None


def write_idx(path, array, *, gz=False):
    """IDX writer: 0x00 0x00, type 0x08 (ubyte), ndim, big-endian uint32 dims, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with (gzip.open if gz else open)(str(path) + (".gz" if gz else ""), "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def fake_mnist(root, folder, split, n, *, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images.flat[:256] = np.arange(256)  # every level 0..255 appears
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / f"{split}-images-idx3-ubyte", images, gz=gz)
    write_idx(raw / f"{split}-labels-idx1-ubyte", labels, gz=gz)
    return images, labels


def fake_cifar(root, names, n, *, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump(
                {
                    b"batch_label": b"fake",
                    b"labels": labels,
                    b"data": data,
                    b"filenames": [b"a"] * n,
                },
                f,
            )
        out.append((data, labels))
    return out


@pytest.mark.parametrize(
    "name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, name, folder, gz):
    for train, split in ((True, "train"), (False, "t10k")):
        images, labels = fake_mnist(
            tmp_path, folder, split, 5 if train else 3, gz=gz, seed=int(train)
        )
        x, y = load_dataset(name, root=tmp_path, train=train, download=False)
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and y.tolist() == labels.tolist()
        assert torch.equal(
            x[:, 0], torch.from_numpy(images).float() * (2 / 255) - 1
        )  # k -> 2k/255 - 1
        assert x.min() == -1 and x.max() == 1


def test_cifar_round_trip(tmp_path):
    batches = fake_cifar(
        tmp_path, [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], 4
    )
    x, y = load_dataset("cifar10", root=tmp_path, download=False)
    assert (
        x.shape == (20, 3, 32, 32)
        and x.dtype == torch.float32
        and y.dtype == torch.int64
    )
    assert y.tolist() == sum((b[1] for b in batches[:5]), [])
    data = np.concatenate([b[0] for b in batches[:5]])
    k = torch.from_numpy(data.reshape(20, 3, 32, 32)).float()
    assert torch.equal(x, k * (2 / 255) - 1)
    assert torch.equal(
        x[2, 1, 0, :], torch.from_numpy(data[2, 1024:1056]).float() * (2 / 255) - 1
    )  # green row 0
    x_test, y_test = load_dataset("cifar10", root=tmp_path, train=False, download=False)
    assert x_test.shape == (4, 3, 32, 32) and y_test.tolist() == batches[5][1]


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` opcodes (SHORT_BINSTRING / BINSTRING), like the real CIFAR files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        op = (
            pickle.SHORT_BINSTRING + bytes([len(obj)])
            if len(obj) < 256
            else pickle.BINSTRING + struct.pack("<i", len(obj))
        )
        self.write(op + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def test_cifar_python2_pickle(tmp_path):
    """The real batches are protocol-2 pickles from Python 2 naming numpy.core.multiarray."""
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    buf = __import__("io").BytesIO()
    _Py2Pickler(buf, protocol=2).dump({b"data": data, b"labels": [3, 7]})
    raw = buf.getvalue().replace(
        b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"
    )
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw and b"U\x04data" in raw
    (tmp_path / "batch").write_bytes(raw)
    images, labels = read_cifar_batch(tmp_path / "batch")
    assert np.array_equal(images, data.reshape(2, 3, 32, 32)) and labels.tolist() == [
        3,
        7,
    ]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(
            {b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Evil(marker)]}, f
        )
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_dataset("cifar10", root=tmp_path, train=False, download=False)
    assert not marker.exists()


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="MNIST/raw/train-images-idx3-ubyte.*download=True"
    ):
        load_dataset("mnist", root=tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py/test_batch"):
        load_dataset("cifar10", root=tmp_path, train=False, download=False)
    if not HAVE_TORCHVISION:
        with pytest.raises(FileNotFoundError):  # default: no torchvision, no download
            load_dataset("fashion_mnist", root=tmp_path)
        with pytest.raises(ValueError, match="download=True needs torchvision"):
            load_dataset("fashion_mnist", root=tmp_path, download=True)


def test_bad_files_and_names(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x0d\x03" + b"\x00" * 12
    )  # float32 type code
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="not an IDX file"):
        load_dataset("mnist", root=tmp_path, train=False, download=False)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    (raw / "t10k-images-idx3-ubyte").write_bytes(
        (raw / "t10k-images-idx3-ubyte").read_bytes()[:-1]
    )
    with pytest.raises(ValueError, match="header says shape"):
        load_dataset("mnist", root=tmp_path, train=False, download=False)
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="n must be given"):
        load_dataset("two_moons")


def test_digits_and_toys_by_name():
    x, y = load_dataset("digits")
    assert x.shape == (1797, 1, 8, 8) and y.dtype == torch.int64
    assert torch.equal(torch.unique(x), torch.arange(17) / 16 * 2 - 1)  # 17 grey levels
    for name in ("two_moons", "swiss_roll", "ring", "checkerboard"):
        x, y = load_dataset(name, n=50, generator=torch.Generator().manual_seed(0))
        assert x.shape == (50, 2) and y.shape == (50,) and y.dtype == torch.int64


def test_random_hflip_flips_about_half_and_nothing_else():
    x = torch.randn(400, 3, 4, 5)
    out = random_hflip(x, generator=torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, a.flip(-1)) for o, a in zip(out, x)])
    kept = torch.tensor([torch.equal(o, a) for o, a in zip(out, x)])
    assert bool((flipped ^ kept).all())  # each image: exactly one of the two
    assert (
        abs(flipped.float().mean().item() - 0.5) < 4 * 0.5 / 400**0.5
    )  # CLT: 4 standard errors
    again = random_hflip(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert augmentation("cifar10") is random_hflip and augmentation("mnist") is None
    with pytest.raises(ValueError, match="x must have shape"):
        random_hflip(x[0])
