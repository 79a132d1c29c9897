"""Run hosts as a separate, unprivileged OS user (``run_as`` of a local compute target).

Where the server runs as root or a service user, a run's script would otherwise run as that
same user and could read the workspace's files (``.kyanite/token`` opens everything). With
``run_as`` the local executor starts the run host, and so the script, as that user: it then
reaches the server only over HTTP with its run token, and the owner-only ``.kyanite``
folder (0700) is closed to it.

Contract:

- ``lookup(name)`` returns the ``RunUser`` of an existing user; ``RunAsError`` (a
  ``UserErrorException``) with a one-line fix when there is no such user, or when this
  process cannot start processes as another user (it is not root).
- ``RunUser.popen_args(env)`` returns ``(kwargs, env)`` for ``subprocess.Popen``: a new
  session, ``user``/``group`` set and no supplementary groups, the working folder its home;
  ``env`` gets ``HOME``, ``USER``, ``LOGNAME`` and a node cache of its own
  (``KYANITE_CACHE_DIR`` = ``<home>/.cache/kyanite``); settings that point into the
  server user's files (``XDG_*``, ``UV_CACHE_DIR``, ``KYANITE_CACHE_DIR``) are dropped.
  The home is the user's own when that folder exists, else ``<tmp>/kyanite-run-<uid>``,
  created for it (0700, owned by it) and refused if someone else owns it.
- The interpreter (``sys.executable``) and the kyanite package must be readable by that
  user: a Python installed under ``/root`` is not; ``launch_error`` words that failure.
"""

import os
import pwd
import stat
import sys
import tempfile
from typing import Any

from kyanite.exceptions import UserErrorException

#: settings of the server's user that would send a run user into the server's files
_DROPPED = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
            "UV_CACHE_DIR", "UV_PYTHON_INSTALL_DIR", "KYANITE_CACHE_DIR", "PYENV_ROOT", "MAIL")


class RunAsError(UserErrorException):
    def __init__(self, message: str) -> None:
        super(RunAsError, self).__init__(message, field="run_as")


class RunUser(object):
    def __init__(self, entry: Any) -> None:
        self.name = entry.pw_name
        self.uid = entry.pw_uid
        self.gid = entry.pw_gid
        self._home = entry.pw_dir

    def home(self) -> Any:
        """The user's home when it exists, else a private folder made for it."""
        if self._home and os.path.isdir(self._home) and os.stat(self._home).st_uid == self.uid:
            return self._home
        path = os.path.join(tempfile.gettempdir(), "kyanite-run-%d" % self.uid)
        try:
            os.mkdir(path, 0o700)
            os.chown(path, self.uid, self.gid)
        except FileExistsError:
            pass
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != self.uid or st.st_mode & 0o022:
            raise RunAsError("%s is not a private folder of user %r (owner uid %d, mode %o); remove it so "
                             "kyanite can make it again." % (path, self.name, st.st_uid, st.st_mode & 0o7777))
        return path

    def popen_args(self, env: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        home = self.home()
        env = dict((k, v) for k, v in env.items() if k not in _DROPPED)
        env.update(HOME=home, USER=self.name, LOGNAME=self.name,
                   KYANITE_CACHE_DIR=os.path.join(home, ".cache", "kyanite"))
        if os.getuid() == self.uid:
            return {"start_new_session": True, "cwd": home}, env
        return {"start_new_session": True, "user": self.uid, "group": self.gid, "extra_groups": [],
                "cwd": home}, env

    def launch_error(self, exc: Exception) -> RunAsError:
        """A clear message for a host that could not be started as this user."""
        return RunAsError("Could not start the run host as user %r: %s. The Python running kyanite (%s) "
                          "and its packages must be readable by that user (not under /root); install "
                          "kyanite in such a Python, or drop run_as." % (self.name, exc, sys.executable))


def lookup(name: str) -> RunUser:
    """The ``RunUser`` called ``name``; RunAsError when it cannot be used."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise RunAsError("No OS user %r on this machine for run_as: create it (e.g. `useradd --system "
                         "--no-create-home %s`) or leave run_as out." % (name, name))
    if entry.pw_uid != os.getuid() and os.geteuid() != 0:
        raise RunAsError("run_as %r needs the workspace server to run as root (it runs as uid %d); start "
                         "the server as root, or leave run_as out." % (name, os.getuid()))
    return RunUser(entry)
