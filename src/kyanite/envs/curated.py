"""Curated environments: the ``AzureML-...`` environments a v1 notebook gets by name.

``Environment.get(ws, 'AzureML-Minimal')`` and ``Environment.list(ws)`` see a small set
of ready-made environments, defined here as pip specs small enough to build on a laptop:

=========================================  =============================================
name                                       what is installed (besides the runtime)
=========================================  =============================================
``AzureML-Minimal``                        nothing: just the kyanite runtime
``AzureML-sklearn-1.5-py311-cpu``          scikit-learn 1.5, pandas, numpy
``AzureML-Keras-3-jax-py311-cpu``          Keras 3 on JAX, CPU; *no TensorFlow*: it stands
                                           in for the v1 TensorFlow environments
``AzureML-PyTorch-2.13-py311-cpu``         torch 2.13.0, CPU build (from the wheel folders
                                           of ``PIP_FIND_LINKS`` when set, else PyPI)
=========================================  =============================================

Contract of :func:`lookup`: an exact name (case-insensitive) returns its
:class:`Curated`; a name v1 users know (``AzureML-sklearn-0.24-ubuntu18.04-py37-cpu``,
``AzureML-TensorFlow-2.3-GPU``, ``AzureML-PyTorch-1.6-CPU``...)
returns the nearest one, by the framework it names, with ``alias_of`` set to the asked
name; another name starting with ``AzureML-`` raises :class:`EnvSpecError` listing the
names that exist; any other name returns ``None`` (a registered environment's name).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from .errors import EnvSpecError

__all__ = ["CURATED", "Curated", "PREFIX", "lookup"]

#: Names starting with this (any case) are curated; a workspace cannot register one.
PREFIX = "azureml-"


@dataclass(frozen=True)
class Curated:
    """One curated environment: ``python`` (``None``: not pinned), pip lines (requirements
    and ``--find-links`` options), a one-line description, and the name it was asked by when
    that was a v1 alias (else ``None``)."""

    name: str
    python: str | None
    pip: tuple[str, ...]
    description: str
    alias_of: str | None = None


def _find_links() -> tuple[str, ...]:
    dirs = os.environ.get("PIP_FIND_LINKS", "").split()
    return tuple("--find-links %s" % d for d in dirs if d)


def _curated() -> tuple[Curated, ...]:
    return (
        Curated("AzureML-Minimal", None, (), "just the kyanite runtime"),
        Curated("AzureML-sklearn-1.5-py311-cpu", "3.11",
                ("scikit-learn==1.5.*", "pandas", "numpy"), "scikit-learn 1.5, pandas and numpy"),
        Curated("AzureML-Keras-3-jax-py311-cpu", "3.11", ("keras>=3,<4", "jax[cpu]"),
                "Keras 3 on JAX, CPU; no TensorFlow: it stands in for the TensorFlow environments"),
        Curated("AzureML-PyTorch-2.13-py311-cpu", "3.11", _find_links() + ("torch==2.13.0",),
                "PyTorch 2.13.0, CPU"),
    )


#: The curated environments (the PyTorch one reads ``PIP_FIND_LINKS`` when this is built).
CURATED = _curated()

# a v1 name's framework word -> the curated environment serving it
_FAMILIES = (
    (re.compile(r"sklearn|scikit"), "AzureML-sklearn-1.5-py311-cpu"),
    (re.compile(r"tensorflow|keras|tf\d"), "AzureML-Keras-3-jax-py311-cpu"),
    (re.compile(r"pytorch|torch|acpt"), "AzureML-PyTorch-2.13-py311-cpu"),
    (re.compile(r"minimal"), "AzureML-Minimal"),
)


def lookup(name: str) -> Curated | None:
    """The curated environment for ``name`` (see the module docstring)."""
    low = (name or "").lower()
    if not low.startswith(PREFIX):
        return None
    by_name = {c.name.lower(): c for c in _curated()}
    if low in by_name:
        return by_name[low]
    for pattern, target in _FAMILIES:
        if pattern.search(low):
            return replace(by_name[target.lower()], alias_of=name)
    raise EnvSpecError(
        "curated environment %r does not exist here; the curated environments are: %s "
        "(v1 names that mention sklearn, TensorFlow/Keras, PyTorch or Minimal map to the "
        "nearest of them)" % (name, ", ".join(c.name for c in _curated())))
