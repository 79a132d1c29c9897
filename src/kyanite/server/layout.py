"""The files of a local workspace, all under ``<path>/.kyanite/``.

- ``config.json``: what ``Workspace.from_config()`` reads (name; for a remote workspace
  ``server_url`` as well).
- ``token``: the workspace token, mode 0600. Every API call must carry it.
- ``workspace.json``: settings: name, created, ``port`` (kept so a restarted server comes
  back on the address running hosts know), ``host``, ``database_url`` (None = SQLite file).
- ``kyanite.db``, ``artifacts/``: the metadata database and the artifact store.
- ``server.json`` (while a server runs: pid, url), ``server.log``, ``hosts/<run>.log``.
"""

import json
import os
import secrets
import time

DIRNAME = ".kyanite"


class WorkspaceLayout(object):
    def __init__(self, root):
        self.root = os.path.abspath(root)  # the .kyanite folder itself

    @classmethod
    def for_path(cls, path):
        return cls(os.path.join(os.path.abspath(path), DIRNAME))

    def p(self, *parts):
        return os.path.join(self.root, *parts)

    config_path = property(lambda self: self.p("config.json"))
    token_path = property(lambda self: self.p("token"))
    settings_path = property(lambda self: self.p("workspace.json"))
    server_path = property(lambda self: self.p("server.json"))
    log_path = property(lambda self: self.p("server.log"))
    artifacts_dir = property(lambda self: self.p("artifacts"))
    hosts_dir = property(lambda self: self.p("hosts"))

    def exists(self):
        return os.path.isfile(self.settings_path)

    def create(self, name):
        """Create the folder, settings and a fresh token (0600). Idempotent."""
        os.makedirs(self.root, exist_ok=True)
        if not os.path.isfile(self.token_path):
            fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        if not self.exists():
            self.write_settings({"name": name, "created": time.time(), "port": None,
                                 "host": "127.0.0.1", "database_url": None})
        _write_json(self.config_path, {"workspace_name": self.settings()["name"],
                                       "workspace_dir": self.root})

    def token(self):
        with open(self.token_path) as f:
            return f.read().strip()

    def settings(self):
        with open(self.settings_path) as f:
            return json.load(f)

    def write_settings(self, settings):
        _write_json(self.settings_path, settings)

    def database_url(self):
        return self.settings().get("database_url") or "sqlite:///" + self.p("kyanite.db")

    def server_info(self):
        try:
            with open(self.server_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
