"""Executors: where run hosts execute (``local`` subprocesses, ``ray`` jobs).

``Executors`` is the server's table of them by kind (a target's ``config["executor"]``):
kinds given as factories are built on first use, so Ray is imported only by a server
that has a Ray target.
"""

import threading
from typing import Any

from kyanite.compute.base import Executor
from kyanite.compute.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "Executors"]


class Executors(dict):
    def __init__(self, ready: Any, factories: Any = None) -> None:
        dict.__init__(self, ready)
        self._factories = dict(factories or {})
        self._lock = threading.Lock()

    def __missing__(self, kind: str) -> Any:
        with self._lock:
            if dict.__contains__(self, kind):
                return dict.__getitem__(self, kind)
            factory = self._factories.get(kind)
            if factory is None:
                known = ", ".join(sorted(set(self) | set(self._factories)))
                raise KeyError("No executor %r; known: %s." % (kind, known))
            executor = factory()
            self[kind] = executor
            return executor
