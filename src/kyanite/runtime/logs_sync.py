"""Ship a run's ``./logs`` folder to the server while the script runs (as Azure ML v1 does).

Standard library only, Python 3.6 compatible (the run host may run on any node's Python).
"""

import os
import threading
from urllib.parse import quote

from kyanite import settings

DEFAULT_INTERVAL = settings.SETTINGS["KYANITE_LOGS_SYNC_INTERVAL"].default
#: Files larger than this wait for the host's final upload.
DEFAULT_MAX_BYTES = 64 << 20


class LogsSync(object):
    """A background thread that mirrors ``<workdir>/logs`` into the run's artifacts.

    Contract:

    - ``LogsSync(client, run_id, workdir, log_line).start()`` starts a daemon thread that,
      every ``interval`` seconds (default 2; ``KYANITE_LOGS_SYNC_INTERVAL`` overrides it,
      0 or less turns the thread off), walks ``<workdir>/logs`` and uploads each file whose
      ``(size, mtime_ns)`` changed since this object last uploaded it, with the call the
      host's final upload uses: ``client.request("PUT",
      "/api/runs/<run_id>/artifacts/logs/<relpath>", data=..., retry_seconds=...)``. The
      server replaces the artifact atomically, so a reader sees the previous or the new
      copy, never half a file. A pass over unchanged files costs one ``stat`` per file.
    - The body is the file's bytes read up to its size at that moment (not the open file:
      the script may append while the request is sent, and the body must match its
      Content-Length). A file that changes afterwards is sent again on a later pass.
    - Files over ``max_bytes`` (64 MiB) are skipped while the run runs and said so once
      in the driver log; the host's final upload still ships them.
    - Nothing is raised from the thread: an error is written as one line through
      ``log_line`` (the driver log's ``LogShipper.line``), at most once per file, and the
      file is tried again on the next pass. Requests retry for ``retry_seconds`` (30 s).
    - ``stop(timeout)`` ends the thread: no new upload starts after it is called, and it
      waits up to ``timeout`` seconds for an upload in flight, so that upload cannot land
      after (and overwrite) the host's final upload of the same file.
    """

    def __init__(self, client, run_id, workdir, log_line, interval=None,
                 max_bytes=DEFAULT_MAX_BYTES, retry_seconds=30.0):
        self.client, self.run_id, self.log_line = client, run_id, log_line
        self.base = os.path.join(workdir, "logs")
        if interval is None:
            interval = _env_interval()
        self.interval = interval
        self.max_bytes = max_bytes
        self.retry_seconds = retry_seconds
        self._sent = {}  # relpath -> (size, mtime_ns) of the last upload
        self._reported = set()  # relpaths already named in the driver log
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="kyanite-logs-sync")
            self._thread.daemon = True
            self._thread.start()
        return self

    def stop(self, timeout=120.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def shipped(self, rel, full):
        """True when ``logs/<rel>`` (at ``full``) is on the server as it is now, so the
        host's final upload may leave it out."""
        try:
            return self._sent.get(rel) == _sig(os.stat(full))
        except OSError:
            return False

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
            except Exception as exc:  # noqa: BLE001  (never let the thread die)
                self._note("", "logs could not be shipped: %s" % exc)

    def sync_once(self):
        """One pass: upload what changed; returns the relpaths uploaded."""
        done = []
        for root, _dirs, files in os.walk(self.base):
            for fn in sorted(files):
                if self._stop.is_set():
                    return done
                full = os.path.join(root, fn)
                rel = os.path.relpath(full, self.base).replace(os.sep, "/")
                try:
                    st = os.stat(full)
                except OSError:
                    continue  # gone since the walk listed it
                if self._sent.get(rel) == _sig(st):
                    continue
                if st.st_size > self.max_bytes:
                    self._note(rel, "logs/%s is larger than %s: it is uploaded when the run ends"
                               % (rel, _size(self.max_bytes)))
                    continue
                try:
                    if not self._upload(rel, full):
                        continue
                except FileNotFoundError:
                    continue  # removed meanwhile: nothing to ship
                except Exception as exc:  # noqa: BLE001  (server errors, retries exhausted)
                    self._note(rel, "could not upload logs/%s while the run runs: %s" % (rel, exc))
                    continue
                done.append(rel)
        return done

    def _upload(self, rel, full):
        with open(full, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size > self.max_bytes:
                return False  # grew past the cap: named on the next pass
            data = f.read(st.st_size)
        if self._stop.is_set():
            return False
        self.client.request("PUT", "/api/runs/%s/artifacts/logs/%s" % (self.run_id, quote(rel, safe="/")),
                            data=data, retry_seconds=self.retry_seconds)
        self._sent[rel] = _sig(st)
        return True

    def _note(self, rel, text):
        if rel in self._reported:
            return
        self._reported.add(rel)
        try:
            self.log_line(text)
        except Exception:  # noqa: BLE001, S110  (the driver log is best effort here)
            pass


def _sig(st):
    return (st.st_size, st.st_mtime_ns)


def _size(n):
    return "%d MiB" % (n >> 20) if n >= 1 << 20 else "%d bytes" % n


def _env_interval():
    return settings.get("KYANITE_LOGS_SYNC_INTERVAL")  # its default is DEFAULT_INTERVAL
