"""Artifact stores: the files of runs (outputs, logs, images) and source snapshots.

Keys are relative POSIX paths such as ``runs/<run_id>/outputs/model.keras`` (``run_key``
builds a run's). ``check_key`` is the rule every implementation applies (UserErrorException
otherwise): no absolute path, no empty, ``.`` or ``..`` segment, no backslash or NUL. The
local store also resolves each key (symbolic links included) and refuses one that does
not stay inside its owner's folder (the key's first two segments, e.g. ``runs/<run_id>``).
Implementations create parents on write, and make ``put`` atomic (a reader never sees half a file).
``append`` is the log primitive: it writes ``data`` at ``offset`` when ``offset`` equals
the current size, accepts a retry of bytes already stored (idempotent), and refuses a gap
with ConflictException. Thread safety: appends to one key are serialised by the store.
"""

import abc
import os
import shutil
import tempfile
import threading
from typing import Any

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException


def check_key(key: str) -> str:
    """``key`` when it is an allowed artifact key (see the module docstring), else
    UserErrorException naming it."""
    if not isinstance(key, str) or not key or "\\" in key or "\x00" in key or key.startswith("/") \
            or any(part in ("", ".", "..") for part in key.split("/")):
        raise UserErrorException(
            "File name %r is not allowed: use a relative path with '/' between names, without '.', '..', "
            "empty names, backslashes or NUL." % (key,))
    return key


def run_key(run_id: str, path: str | None = None) -> str:
    """The key of run ``run_id``'s folder, or of ``path`` inside it (checked with
    ``check_key``; a run id must be one path segment)."""
    if not isinstance(run_id, str) or "/" in run_id or run_id in ("", ".", ".."):
        raise UserErrorException("Run id %r is not allowed in a file path." % (run_id,))
    return check_key("runs/%s/%s" % (run_id, check_key(path)) if path else "runs/%s" % run_id)


class ArtifactStore(abc.ABC):
    @abc.abstractmethod
    def put(self, key: str, fileobj: Any) -> int:
        """Store the bytes read from ``fileobj`` (or a bytes object) under ``key``."""

    @abc.abstractmethod
    def local_path(self, key: str) -> str:
        """A local file path holding ``key``'s bytes; NotFoundException when absent."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[dict[str, Any]]:
        """``[{"path": key relative to prefix, "size": bytes}]`` under ``prefix``, sorted."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes, or -1 when absent."""

    @abc.abstractmethod
    def append(self, key: str, offset: int, data: bytes) -> int:
        """Append as described in the module docstring; returns the new size."""

    @abc.abstractmethod
    def read(self, key: str, offset: int = 0, max_bytes: int | None = None) -> tuple[bytes, int]:
        """``(bytes from offset, total size)``; ``(b"", 0)`` when absent."""


class LocalArtifactStore(ArtifactStore):
    """Files under a root folder (the workspace's ``artifacts`` folder)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _path(self, key: str) -> str:
        parts = check_key(key).split("/")
        path = os.path.join(self.root, *parts)
        owner = os.path.realpath(os.path.join(self.root, *parts[:2]))
        real = os.path.realpath(path)
        if real != owner and not real.startswith(owner + os.sep):
            raise UserErrorException("File name %r is not allowed: it resolves outside %s." % (key, "/".join(parts[:2])))
        return path

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def put(self, key: str, fileobj: Any) -> int:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(fileobj, (bytes, bytearray)):
                    f.write(fileobj)
                else:
                    shutil.copyfileobj(fileobj, f, 1 << 20)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return os.path.getsize(path)

    def local_path(self, key: str) -> str:
        path = self._path(key)
        if not os.path.isfile(path):
            raise NotFoundException("No file %r." % key)
        return path

    def list(self, prefix: str) -> list[dict[str, Any]]:
        base = self._path(prefix)
        out = []
        for root, _dirs, files in os.walk(base):
            for fn in files:
                if fn.startswith(".upload-"):
                    continue
                full = os.path.join(root, fn)
                out.append({"path": os.path.relpath(full, base).replace(os.sep, "/"),
                            "size": os.path.getsize(full)})
        return sorted(out, key=lambda f: f["path"])

    def size(self, key: str) -> int:
        path = self._path(key)
        return os.path.getsize(path) if os.path.isfile(path) else -1

    def append(self, key: str, offset: int, data: bytes) -> int:
        path = self._path(key)
        with self._lock(key):
            size = os.path.getsize(path) if os.path.isfile(path) else 0
            if offset + len(data) <= size:
                return size  # a retry of bytes already stored
            if offset > size:
                raise ConflictException(
                    "Append to %r at offset %d, but it holds %d bytes." % (key, offset, size))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "ab") as f:
                f.write(data[size - offset:])
            return offset + len(data)

    def read(self, key: str, offset: int = 0, max_bytes: int | None = None) -> tuple[bytes, int]:
        path = self._path(key)
        if not os.path.isfile(path):
            return b"", 0
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(offset)
            data = f.read(-1 if max_bytes is None else max_bytes)
        return data, size
