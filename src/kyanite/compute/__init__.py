"""Executors: where run hosts execute (``local`` subprocesses; more targets plug in here)."""

from kyanite.compute.base import Executor
from kyanite.compute.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
