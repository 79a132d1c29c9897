"""Helpers shared by test modules (import as ``from kyanite_testing import ...``; a
uniquely named module, since several conftest.py files exist in this tree)."""

from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]

#: The Keras 3 / JAX environment the Keras tests build (the walkthrough's pins).
KERAS_CONDA = """name: keras-env
dependencies:
  - python=3.11
  - pip:
    - keras==3.15.1
    - jax==0.10.2
    - jaxlib==0.10.2
"""


def stop_workspace(path):
    """Stop a workspace's server and every run host it launched."""
    from kyanite.core._server import stop_server
    from kyanite.server.layout import WorkspaceLayout
    layout = WorkspaceLayout.for_path(path)
    info = layout.server_info()
    stop_server(layout)
    hosts = Path(layout.hosts_dir)
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "kyanite.runtime.host" in cmd and hosts.exists():
            run_id = cmd[cmd.index("--run-id") + 1] if "--run-id" in cmd else None
            try:  # a warm spare host that took a run names it only in its environment
                mine = info is not None and p.environ().get("KYANITE_SERVER_URL") == info.get("url")
            except (psutil.Error, OSError):
                mine = False
            if mine or (run_id and (hosts / ("%s.log" % run_id)).exists()):
                for q in [p] + p.children(recursive=True):
                    try:
                        q.kill()
                    except psutil.Error:
                        pass
    return info
