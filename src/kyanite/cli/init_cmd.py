"""``kyanite init``: create a workspace in a folder and start its server."""

import contextlib
import io
import os

from kyanite.cli import _table
from kyanite.core.workspace import Workspace
from kyanite.server.layout import WorkspaceLayout


def register(sub):
    p = sub.add_parser("init", help="create a workspace in a folder (default: the current one)",
                       description="Create a kyanite workspace in DIR/.kyanite (token, settings, "
                                   "database) and start its server. Running it again opens the "
                                   "existing workspace.")
    p.add_argument("--name", help="workspace name (default: the folder's name)")
    p.add_argument("--path", default=".", metavar="DIR", help="the folder to hold the workspace (default: .)")
    p.set_defaults(func=init)


def init(args):
    path = os.path.abspath(args.path)
    layout = WorkspaceLayout.for_path(path)
    existed = layout.exists()
    name = args.name or (layout.settings()["name"] if existed else os.path.basename(path) or "workspace")
    os.makedirs(path, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # its notes are repeated below
        ws = Workspace.create(name=name, path=path, exist_ok=True, show_output=False)
    info = layout.server_info() or {}
    print("%s workspace %r in %s" % ("Opened the existing" if existed else "Created", ws.name, layout.root))
    for line in _table.fields([
            ("Server", "%s (pid %s)" % (ws.server_url, info.get("pid", "?"))),
            ("Token", "%s (keep it private: it is the key to this workspace)" % layout.token_path),
            ("Config", layout.config_path)], indent="  "):
        print(line)
    print()
    print("Use it from Python in %s or any folder below it:" % path)
    print("    from kyanite.core import Workspace")
    print("    ws = Workspace.from_config()")
    print()
    print("Or from the shell:")
    print("    kyanite run submit train.py --current-python --follow")
    print("    kyanite run list")
    print("    kyanite server status | stop")
    return 0
