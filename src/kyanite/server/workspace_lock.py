"""One server per workspace: an exclusive ``flock`` on ``.kyanite/serve.lock``.

``acquire(layout)`` takes the lock without waiting and returns a ``WorkspaceLock``, held
until ``release()`` or the process exits (the descriptor is not inherited by child processes, so run hosts
that outlive the server do not keep it). When another process holds it, it raises
``AlreadyRunning`` carrying that server's pid and url, read from the lock file (the holder
writes ``{"pid", "url"}`` there) or from ``server.json``.

``holder(layout)`` answers, without taking the lock, who holds it: a dict with ``pid`` (and
``url`` once that server listens), or None when no server holds it.
"""

import errno
import fcntl
import json
import os
from typing import Any

LOCK_NAME = "serve.lock"

#: exit code of ``python -m kyanite.server`` when another server holds the workspace
EXIT_ALREADY_RUNNING = 75


class AlreadyRunning(Exception):
    def __init__(self, layout: Any, info: dict[str, Any]) -> None:
        self.info = info or {}
        pid = self.info.get("pid", "unknown")
        url = self.info.get("url") or "not listening yet"
        super(AlreadyRunning, self).__init__(
            "Another workspace server already runs for %s (pid %s, url %s). Use it, or stop it "
            "first with `kyanite server stop`." % (os.path.dirname(layout.root), pid, url))


class WorkspaceLock(object):
    def __init__(self, layout: Any, fd: Any) -> None:
        self.layout = layout
        self.fd = fd

    def record(self, **info: dict[str, Any]) -> None:
        """Write this holder's ``pid`` and the given fields (``url``) into the lock file."""
        data = dict(info, pid=os.getpid())
        raw = json.dumps(data).encode("utf-8")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, raw, 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None


def lock_path(layout: Any) -> Any:
    return layout.p(LOCK_NAME)


def acquire(layout: Any) -> Any:
    fd = os.open(lock_path(layout), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise AlreadyRunning(layout, _read_info(layout))
        raise
    lock = WorkspaceLock(layout, fd)
    lock.record()
    return lock


def holder(layout: Any) -> Any:
    path = lock_path(layout)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return _read_info(layout) or {}
            raise
        return None  # nobody holds it (our shared lock goes with the close below)
    finally:
        os.close(fd)


def _read_info(layout: Any) -> Any:
    """The holder's ``{"pid", "url"}``: from the lock file, else from ``server.json``."""
    try:
        with open(lock_path(layout)) as f:
            info = json.loads(f.read() or "null")
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or "pid" not in info:
        info = None
    server = layout.server_info()
    if server and (info is None or server.get("pid") == info.get("pid")):
        merged = dict(server)
        merged.update(info or {})
        return merged
    return info
