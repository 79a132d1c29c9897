"""The files of a local workspace, all under ``<path>/.kyanite/``.

- ``config.json``: what ``Workspace.from_config()`` reads (name; for a remote workspace
  ``server_url`` as well).
- ``token``: the workspace token, mode 0600. Every API call must carry it.
- ``workspace.json``: settings: name, created, ``port`` (kept so a restarted server comes
  back on the address running hosts know), ``host``, ``database_url`` (None = SQLite file).
- ``kyanite.db``, ``artifacts/``: the metadata database and the artifact store.
- ``server.json`` (while a server runs: pid, url), ``server.log``, ``hosts/<run>.log``.
- ``serve.lock``: flocked by the running server for its life (one server per workspace,
  ``kyanite.server.workspace_lock``); ``server.lock``: serializes on-demand starts.

All of it is the owner's alone: :meth:`WorkspaceLayout.secure` makes the folder and its
subfolders ``artifacts/``, ``hosts/``, ``deployments/`` 0700 and the files directly in it
(token, database and its -wal/-shm, settings, ``server.json``, logs) 0600. ``create``
and every server start call it, so workspaces made before are fixed too.
"""

import json
import os
import secrets
import stat
import time
from typing import Any

DIRNAME = ".kyanite"
PRIVATE_DIRS = ("artifacts", "hosts", "deployments")


class WorkspaceLayout(object):
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)  # the .kyanite folder itself

    @classmethod
    def for_path(cls, path: str) -> Any:
        return cls(os.path.join(os.path.abspath(path), DIRNAME))

    def p(self, *parts: Any) -> Any:
        return os.path.join(self.root, *parts)

    config_path = property(lambda self: self.p("config.json"))
    token_path = property(lambda self: self.p("token"))
    settings_path = property(lambda self: self.p("workspace.json"))
    server_path = property(lambda self: self.p("server.json"))
    log_path = property(lambda self: self.p("server.log"))
    artifacts_dir = property(lambda self: self.p("artifacts"))
    hosts_dir = property(lambda self: self.p("hosts"))

    def exists(self) -> Any:
        return os.path.isfile(self.settings_path)

    def secure(self) -> None:
        """Owner-only modes (see the module docstring); creates the private subfolders."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for d in PRIVATE_DIRS:
            os.makedirs(self.p(d), mode=0o700, exist_ok=True)
        for entry in [self.root] + [self.p(e) for e in os.listdir(self.root)]:
            try:
                st = os.lstat(entry)
                mode = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
                if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o777 != mode \
                        and (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                    os.chmod(entry, mode)
            except OSError:
                pass  # gone meanwhile, or not ours

    def create(self, name: str) -> None:
        """Create the folder (owner-only, see :meth:`secure`), settings and a fresh token.
        Idempotent."""
        self.secure()
        if not os.path.isfile(self.token_path):
            fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        if not self.exists():
            self.write_settings({"name": name, "created": time.time(), "port": None,
                                 "host": "127.0.0.1", "database_url": None})
        _write_json(self.config_path, {"workspace_name": self.settings()["name"],
                                       "workspace_dir": self.root})

    def token(self) -> Any:
        with open(self.token_path) as f:
            return f.read().strip()

    def settings(self) -> Any:
        with open(self.settings_path) as f:
            return json.load(f)

    def write_settings(self, settings: Any) -> None:
        _write_json(self.settings_path, settings)

    def database_url(self) -> Any:
        return self.settings().get("database_url") or "sqlite:///" + self.p("kyanite.db")

    def write_server_info(self, info: dict[str, Any]) -> None:
        """Write ``server.json`` (0600) atomically."""
        _write_json(self.server_path, info)

    def server_info(self) -> Any:
        try:
            with open(self.server_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None


def _write_json(path: str, data: Any) -> None:
    """Replace ``path`` atomically with ``data``, owner-only (0600)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
