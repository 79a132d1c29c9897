"""Finding the workspace a command works on.

With ``--path DIR`` the workspace is ``DIR/.kyanite`` (DIR may also be the ``.kyanite``
folder itself or a ``config.json`` file). Without it, the current folder and then its
parents are searched for a workspace config, in the order ``Workspace.from_config()``
uses (``.kyanite/config.json``, ``config.json``, ``.azureml/config.json``); a plain
``config.json`` counts only when it names a kyanite workspace (``workspace_dir``) or
server (``server_url``).
"""

import contextlib
import json
import os
import sys

from kyanite.core.workspace import CONFIG_NAMES, Workspace
from kyanite.exceptions import UserErrorException
from kyanite.server.layout import DIRNAME, WorkspaceLayout

LOCAL_CONFIG = os.path.join(DIRNAME, "config.json")
NO_WORKSPACE = ("No kyanite workspace found in %s%s. Create one with `kyanite init` "
                "(or name one with --path DIR).")


class Found(object):
    """A workspace config: ``config_path``, ``config`` (dict), and ``layout`` when local."""

    def __init__(self, config_path, config):
        self.config_path = config_path
        self.config = config
        self.layout = None
        if not config.get("server_url"):
            ws_dir = config.get("workspace_dir") or os.path.dirname(config_path)
            if not os.path.isabs(ws_dir):
                ws_dir = os.path.join(os.path.dirname(config_path), ws_dir)
            self.layout = WorkspaceLayout(ws_dir)
            if not self.layout.exists():
                raise UserErrorException(
                    "%s points to the workspace folder %s, which holds no workspace. Create one "
                    "with `kyanite init`." % (config_path, self.layout.root))

    @property
    def remote_url(self):
        return self.config.get("server_url")

    @property
    def folder(self):
        """The folder the workspace lives in (the parent of ``.kyanite``), or the server URL."""
        return os.path.dirname(self.layout.root) if self.layout else self.remote_url


def _load(path):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except ValueError as exc:
        raise UserErrorException("%s is not valid JSON: %s" % (path, exc))
    except OSError as exc:
        raise UserErrorException("Cannot read %s: %s" % (path, exc))
    if not isinstance(cfg, dict):
        raise UserErrorException("%s does not hold a workspace config." % path)
    return cfg


def find(path=None):
    """The workspace named by ``--path``, or the nearest one above the current folder."""
    if path is not None:
        path = os.path.abspath(path)
        if os.path.isfile(path):
            return Found(path, _load(path))
        for cand in (os.path.join(path, LOCAL_CONFIG), os.path.join(path, "config.json")):
            if os.path.isfile(cand):
                return Found(cand, _load(cand))
        raise UserErrorException(NO_WORKSPACE % (path, ""))
    start = d = os.getcwd()
    while True:
        for name in CONFIG_NAMES:
            cand = os.path.join(d, name)
            if os.path.isfile(cand):
                cfg = _load(cand)
                if name == LOCAL_CONFIG or cfg.get("server_url") or cfg.get("workspace_dir"):
                    return Found(cand, cfg)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    raise UserErrorException(NO_WORKSPACE % (start, " or its parents"))


def find_local(path=None):
    """Like :func:`find`, but the workspace must be a local folder."""
    found = find(path)
    if found.layout is None:
        raise UserErrorException(
            "%s names the remote server %s; `kyanite server start|stop` manage the server of a "
            "local workspace folder only." % (found.config_path, found.remote_url))
    return found


def open_workspace(path=None):
    """The SDK Workspace for ``--path`` or the current folder; starts a local server on
    demand, with the SDK's note about it sent to stderr so stdout stays clean."""
    found = find(path)
    with contextlib.redirect_stdout(sys.stderr):
        return Workspace.from_config(path=found.config_path)
