"""Interpreter discovery and version resolution (real interpreters on this host)."""

import os
import sys
from pathlib import Path

import pytest

from kyanite.envs import EnvSpecError, find_pythons, resolve_python
from kyanite.envs.pythons import parse_python_request

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def _pyenv(version: str) -> Path:
    return PYENV_ROOT / "versions" / version / "bin" / "python3"


def _pyenv_versions(prefix: str) -> list[str]:
    d = PYENV_ROOT / "versions"
    if not d.is_dir():
        return []
    return [p.name for p in d.iterdir() if p.name.startswith(prefix) and (p / "bin/python3").exists()]


def test_find_pythons_sorted_real_binaries():
    found = find_pythons()
    assert found, "no interpreter found at all"
    versions = [i.version for i in found]
    assert versions == sorted(versions, reverse=True)
    for interp in found:
        assert "/shims/" not in interp.path
        assert os.access(interp.path, os.X_OK)
        assert interp.version[0] == 3
    assert len({os.path.realpath(i.path) for i in found}) == len(found)
    assert tuple(sys.version_info[:3]) in versions


def test_parse_python_request():
    assert parse_python_request("3.6.2") == [("==", (3, 6, 2))]
    assert parse_python_request(">=3.8, <3.11") == [(">=", (3, 8)), ("<", (3, 11))]
    assert parse_python_request("=3") == [("==", (3,))]
    for bad in ["", "three", "3.x", "~3.8", "3.8.1.2"]:
        with pytest.raises(EnvSpecError):
            parse_python_request(bad)


def test_resolve_none_is_running_interpreter():
    interp = resolve_python(None)
    assert interp.path == sys.executable
    assert interp.version == tuple(sys.version_info[:3])
    assert interp.note == ""


@pytest.mark.skipif(not _pyenv("3.6.15").exists(), reason="needs pyenv Python 3.6.15")
def test_resolve_patch_fallback_to_newest_minor():
    interp = resolve_python("3.6.2")
    assert interp.version == (3, 6, 15)
    assert interp.path == str(_pyenv("3.6.15"))
    assert interp.note == (
        f"python=3.6.2 requested: using Python 3.6.15 at {_pyenv('3.6.15')} (newest installed 3.6)"
    )
    exact = resolve_python("3.6.15")
    assert exact.version == (3, 6, 15) and exact.note.endswith(str(_pyenv("3.6.15")))


def test_resolve_minor_and_major():
    found = find_pythons()
    if not any(i.version[:2] == (3, 11) for i in found):
        pytest.skip("no Python 3.11 installed")
    interp = resolve_python("3.11")
    assert interp.version == max(i.version for i in found if i.version[:2] == (3, 11))
    assert "(newest installed 3.11)" in interp.note
    assert resolve_python("3").version == found[0].version
    if any((3, 8) <= i.version[:2] < (3, 11) for i in found):
        ranged = resolve_python(">=3.8,<3.11")
        assert (3, 8) <= ranged.version[:2] < (3, 11)
        assert ranged.note.startswith("python>=3.8,<3.11 requested: using Python ")


@pytest.mark.parametrize("request_", ["2.7", "3.99", ">=4"])
def test_resolve_not_installed_lists_versions(request_):
    with pytest.raises(EnvSpecError) as ei:
        resolve_python(request_)
    msg = str(ei.value)
    assert "no installed CPython interpreter matches" in msg
    for interp in find_pythons():
        assert f"{interp.version_str}  {interp.path}" in msg
    if request_ == "2.7":
        assert "Python 2 is not supported" in msg


def test_pyenv_root_is_honoured(tmp_path, monkeypatch):
    real = Path(sys.executable).resolve()
    fake = tmp_path / "versions" / "3.77.1" / "bin"
    fake.mkdir(parents=True)
    (fake / "python3").symlink_to(real)
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python3.77").symlink_to(real)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    found = find_pythons()
    paths = [i.path for i in found]
    # the folder name gives the version cheaply; shims are never used
    assert str(fake / "python3") in paths
    assert not any(p.startswith(str(shims)) for p in paths)
    interp = resolve_python("3.77")
    assert interp.path == str(fake / "python3") and interp.version == (3, 77, 1)
