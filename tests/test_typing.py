"""The type hints are checked: mypy over kyanite.protocol (strict: every function annotated,
see ``[tool.mypy]`` in pyproject.toml), kyanite.store, kyanite.server and kyanite.compute
(their annotated code) exits 0."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("kyanite.protocol", "kyanite.store", "kyanite.server", "kyanite.compute")


def test_mypy_passes(tmp_path):
    pytest.importorskip("mypy")
    cmd = [sys.executable, "-m", "mypy", "--config-file", os.path.join(ROOT, "pyproject.toml"),
           "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary"]
    for p in PACKAGES:
        cmd += ["-p", p]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, "mypy found type errors:\n%s%s" % (proc.stdout, proc.stderr)
