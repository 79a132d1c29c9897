"""One process supervisor: start detached processes, know them again, end their trees.

Used by the local executor (run hosts), the deployment manager (scoring processes, adopted
again after a server restart) and the Ray target (the private head's ``ray start`` tree,
a lost host's script on its node). It lives at the package's top level and imports no
other kyanite module, so compute, server and runtime may all use it without a cycle. It
needs psutil, a dependency of kyanite itself (not of the stdlib-only code copied into
run environments, which never uses it).

Contract:

- A process is named by a ``ProcessHandle``: its pid and its start time (psutil's
  ``create_time``, seconds since the epoch). ``to_json()``/``from_json()`` persist it as
  ``{"pid": ..., "create_time": ...}`` (``prefix`` reads ``script_pid``/
  ``script_create_time`` and the like). A handle whose start time is unknown (None: a
  record written before start times were kept) is matched by its pid alone.
- ``start(argv, env, cwd, log, user=None, stdin=None)`` starts ``argv`` in a new session
  (so its own process group, which outlives this process), stdout and stderr appended to
  ``log`` (a path, created 0600, or an open file), stdin from /dev/null unless given.
  ``user`` (a :class:`kyanite.compute.run_as.RunUser`) runs it as that OS user. Returns the
  handle, its ``proc`` the ``subprocess.Popen`` (not persisted).
- ``is_alive(handle)``: the pid exists, is not a zombie, and its start time matches the
  handle's (within ``CREATE_TIME_TOLERANCE`` seconds, the clock's rounding across
  processes), so a reused pid is never taken for the process.
- ``send_signal(handle, sig)``: signals that one process when it is alive.
- ``stop_tree(handle, grace, extra=())``: when the process is alive, SIGTERM to its
  process group and to every descendant (those that left the group included), waits up
  to ``grace`` seconds for all of them, then SIGKILLs the group and whatever is left of
  the tree (children started meanwhile included) and waits for them to go (5 s at most).
  ``grace <= 0`` sends SIGKILL at once. ``extra`` handles are ended together with it.
- ``reap()``: waits for every process started here that has ended, so none stays a
  zombie; ``exit_code(handle)`` then still answers its exit status (negative: the signal)
  for a process started here, None while it runs or for one started elsewhere.
- From a shell: ``python -m kyanite.supervisor stop-tree PID CREATE_TIME [GRACE]``
  (``CREATE_TIME`` 0 when unknown) ends a tree on this machine (the Ray target runs it
  on the node of a lost host).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil

#: start times of one process read by two processes may differ by this much (seconds)
CREATE_TIME_TOLERANCE = 1.0

_lock = threading.Lock()
_children = {}   # pid -> (Popen, create_time): processes started here, not yet reaped
_ended = {}      # (pid, create_time) -> exit status of processes started here and reaped
_ENDED_KEEP = 1000


class ProcessHandle(object):
    """A process: pid and start time. ``proc`` is its Popen when started by this process."""

    __slots__ = ("pid", "create_time", "proc")

    def __init__(self, pid, create_time=None, proc=None):
        self.pid = int(pid)
        self.create_time = float(create_time) if create_time else None
        self.proc = proc

    def to_json(self, prefix=""):
        return {prefix + "pid": self.pid, prefix + "create_time": self.create_time}

    @classmethod
    def from_json(cls, data, prefix=""):
        """The handle in ``data`` (a dict), or None when it names no pid."""
        try:
            pid = (data or {}).get(prefix + "pid")
            return cls(pid, data.get(prefix + "create_time")) if pid else None
        except (TypeError, ValueError, AttributeError):
            return None

    @classmethod
    def of_pid(cls, pid):
        """The handle of the process running as ``pid`` now, or None when there is none."""
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def __eq__(self, other):
        return isinstance(other, ProcessHandle) and (self.pid, self.create_time) == (other.pid, other.create_time)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.pid, self.create_time))

    def __repr__(self):
        return "ProcessHandle(pid=%d, create_time=%r)" % (self.pid, self.create_time)


def _same_time(a, b):
    return a is None or b is None or abs(a - b) <= CREATE_TIME_TOLERANCE


def start(argv, env=None, cwd=None, log=None, user=None, stdin=None):
    """Start ``argv`` detached (new session); its ``ProcessHandle`` (see the module docstring)."""
    env = dict(os.environ if env is None else env)
    kwargs = {"start_new_session": True}
    if user is not None:
        kwargs, env = user.popen_args(env)
        kwargs["start_new_session"] = True
    if cwd is not None:
        kwargs["cwd"] = cwd
    out = log
    if isinstance(log, str):
        out = os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    try:
        proc = subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                stdout=subprocess.DEVNULL if out is None else out,
                                stderr=subprocess.DEVNULL if out is None else subprocess.STDOUT,
                                close_fds=True, **kwargs)
    except OSError as exc:
        if user is not None:
            raise user.launch_error(exc)
        raise
    finally:
        if out is not log:
            out.close()
    try:
        created = psutil.Process(proc.pid).create_time()  # our unreaped child: its pid is still its own
    except psutil.Error:
        created = None
    with _lock:
        _children[proc.pid] = (proc, created)
    return ProcessHandle(proc.pid, created, proc)


def _child(handle):
    """(Popen, create_time) of the handle's process when this process started it."""
    with _lock:
        entry = _children.get(handle.pid)
    if entry is not None and _same_time(entry[1], handle.create_time):
        return entry
    return None


def _process(handle):
    """The live psutil.Process of ``handle``, or None (gone, zombie, or the pid reused)."""
    if handle is None or not handle.pid:
        return None
    child = _child(handle)
    if child is not None and child[0].poll() is not None:
        return None
    try:
        p = psutil.Process(handle.pid)
        if not _same_time(p.create_time(), handle.create_time):
            return None
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return p
    except psutil.Error:
        return None


def is_alive(handle):
    """True while the handle's own process runs (pid reuse safe, zombies are not alive)."""
    return _process(handle) is not None


def send_signal(handle, sig):
    """Send ``sig`` to the handle's process alone; True when it was alive and got it."""
    p = _process(handle)
    if p is None:
        return False
    try:
        p.send_signal(sig)
        return True
    except psutil.Error:
        return False


def _tree(procs):
    """``procs`` (pid -> psutil.Process) with every live descendant of each added."""
    out = dict(procs)
    for p in list(procs.values()):
        try:
            for c in p.children(recursive=True):
                out.setdefault(c.pid, c)
        except psutil.Error:
            pass
    return out


def _gone(p):
    with _lock:
        entry = _children.get(p.pid)
    if entry is not None and entry[0].poll() is not None:
        return True  # our child: Popen reaps it (psutil's wait would take its exit status)
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait(procs, timeout):
    deadline = time.time() + timeout
    left = [p for p in procs if not _gone(p)]
    while left and time.time() < deadline:
        time.sleep(0.05)
        left = [p for p in left if not _gone(p)]
    return left


def _signal_all(groups, procs, sig):
    for g in groups:
        try:
            os.killpg(g, sig)
        except OSError:
            pass
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def stop_tree(handle, grace=5.0, extra=()):
    """End the handle's process, its group and all its descendants (see the module
    docstring); True when some process of it was still running."""
    roots = {}
    for h in [handle] + list(extra):
        p = _process(h)
        if p is not None:
            roots[p.pid] = p
    if not roots:
        reap()
        return False
    groups = []
    for pid in roots:
        try:
            if os.getpgid(pid) == pid:  # a session/group leader: its group is its own
                groups.append(pid)
        except OSError:
            pass
    procs = _tree(roots)
    left = list(procs.values())
    if grace > 0:
        _signal_all(groups, left, signal.SIGTERM)
        left = _wait(left, grace)
    # what is left, and what was started meanwhile under it
    left = list(_tree(dict((p.pid, p) for p in left) if left else {}).values())
    _signal_all(groups, left, signal.SIGKILL)
    _wait(left, 5.0)
    reap()
    return True


def reap():
    """Wait for every process started here that has ended; ``{pid: exit status}`` of those."""
    done = {}
    with _lock:
        for pid, (proc, created) in list(_children.items()):
            if proc.poll() is not None:
                del _children[pid]
                _ended[(pid, created)] = proc.returncode
                done[pid] = proc.returncode
        while len(_ended) > _ENDED_KEEP:
            del _ended[next(iter(_ended))]
    return done


def exit_code(handle):
    """The exit status of a process started here that has ended; None otherwise."""
    if handle is None:
        return None
    child = _child(handle)
    if child is not None:
        code = child[0].poll()
        if code is None:
            return None
    reap()
    with _lock:
        for (pid, created), code in _ended.items():
            if pid == handle.pid and _same_time(created, handle.create_time):
                return code
    return None


def main(argv=None):
    """``stop-tree PID CREATE_TIME [GRACE]``: end that tree when it is still the process
    that started at CREATE_TIME (0: unknown); exit status 0 either way."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4) or args[0] != "stop-tree":
        sys.stderr.write("usage: python -m kyanite.supervisor stop-tree PID CREATE_TIME [GRACE]\n")
        return 2
    stop_tree(ProcessHandle(int(args[1]), float(args[2]) or None), float(args[3]) if len(args) == 4 else 0.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
