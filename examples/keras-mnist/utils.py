"""Read the MNIST IDX files (gzip-compressed or not) into numpy arrays."""

import gzip
import os
import struct

import numpy as np


def _open(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def load_idx(path):
    """An IDX file as a numpy array: images (n, rows, cols) uint8 or labels (n,) uint8."""
    with _open(path) as f:
        magic, = struct.unpack(">I", f.read(4))
        ndim = magic & 0xFF
        if magic >> 8 != 0x08:
            raise ValueError("%s is not an unsigned-byte IDX file (magic %#x)" % (path, magic))
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(shape)


def load_mnist(folder, kind):
    """``kind`` is 'train' or 't10k'; returns (x float32 in [0,1] of shape (n, 784), y uint8)."""
    def find(stem):
        for name in (stem + ".gz", stem):
            p = os.path.join(folder, name)
            if os.path.exists(p):
                return p
        raise FileNotFoundError("%s(.gz) not found in %s" % (stem, folder))
    x = load_idx(find("%s-images-idx3-ubyte" % kind)).reshape(-1, 784).astype("float32") / 255.0
    y = load_idx(find("%s-labels-idx1-ubyte" % kind))
    return x, y
