"""SDK v1 sample notebooks, in kyanite's own words, run cell by cell against a real server.

tests/compat/notebooks/ holds one short notebook per area of the v1 samples (training on
local compute, the logging API, managing runs, environments, deploying locally,
HyperDrive), written by ``make_notebooks.py`` there. Each begins with the v1 preamble
cells (``kyanite.core.VERSION``, ``set_diagnostics_collection``, ``Workspace.create`` /
``from_config``, the workspace's four properties) and creates its workspace in its own
temporary folder, the kernel's working directory.

The kernel is this interpreter (``sys.executable``, through a kernelspec installed into a
temporary folder). Every cell must run without error (its ``assert``s included) and print
each string its ``metadata.kyanite_compat.expect`` lists. The runs share the node cache of
tests/conftest.py (``KYANITE_CACHE_DIR``), so the scikit-learn environment is built once.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from kyanite_testing import stop_workspace

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
KERNEL = "kyanite-compat"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory, monkeypatch_module):
    """A kernelspec running this interpreter, found through JUPYTER_PATH."""
    prefix = tmp_path_factory.mktemp("kernel")
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", KERNEL],
                   check=True, capture_output=True)
    monkeypatch_module.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    return KERNEL


def _text(outputs):
    """What a cell printed: its stream output and the text of its results."""
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", "") + "\n")
    return "".join(parts)


def run_notebook(name, kernel, cwd, timeout=600):
    """Execute notebook ``name`` cell by cell in ``cwd``; fail naming the first cell that
    raises or does not print what its metadata expects."""
    nb = nbformat.read(str(NOTEBOOKS / (name + ".ipynb")), as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=timeout,
                                     resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel(cwd=str(cwd)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except nbclient.exceptions.CellExecutionError as exc:
                pytest.fail("%s.ipynb cell %d failed:\n%s" % (name, index, re.sub(r"\x1b\[[0-9;]*m", "", str(exc))),
                            pytrace=False)
            printed = _text(cell.outputs)
            for expected in cell.metadata.get("kyanite_compat", {}).get("expect", []):
                assert expected in printed, "%s.ipynb cell %d:\n%s\n--- printed:\n%s\n--- lacks %r" % (
                    name, index, cell.source, printed, expected)
    return nb


def test_notebooks_are_generated_from_make_notebooks(tmp_path):
    """The .ipynb files are what make_notebooks.py writes (edit that, then run it)."""
    code = ("import sys; sys.path.insert(0, %r); import make_notebooks as m; m.HERE = %r; m.main()"
            % (str(NOTEBOOKS), str(tmp_path)))
    subprocess.run([sys.executable, "-c", code], check=True)
    written = sorted(p.stem for p in tmp_path.glob("*.ipynb"))
    assert written == NAMES and len(NAMES) == 6
    for name in NAMES:
        assert (tmp_path / (name + ".ipynb")).read_text() == (NOTEBOOKS / (name + ".ipynb")).read_text(), name


@pytest.mark.parametrize("name", NAMES)
def test_v1_notebook(name, kernel_name, tmp_path):
    try:
        nb = run_notebook(name, kernel_name, tmp_path)
    finally:
        stop_workspace(tmp_path)
    assert sum(1 for c in nb.cells if c.cell_type == "code") >= 8
