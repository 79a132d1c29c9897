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


def serve_folder(folder, port=0, host="127.0.0.1"):
    """Serve the files of ``folder`` over HTTP on ``host:port`` from a daemon thread.

    ``port=0`` picks a free port; a port that is taken falls back to a free one. Returns the
    server (``server.shutdown()`` stops it) and its base URL, e.g. ``http://127.0.0.1:8765/``.
    Only the standard library (no numpy needed by this function)."""
    import functools
    import http.server
    import threading

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=os.path.abspath(folder))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="mnist-http", daemon=True).start()
    return server, "http://%s:%d/" % (host, server.server_address[1])
