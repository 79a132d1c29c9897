"""The node-local content cache: each file of a dataset version is downloaded once per node.

Layout under ``<KYANITE_CACHE_DIR>/data/`` (default ``~/.cache/kyanite/data``):

- ``objects/<aa>/<sha256>``: file contents, named by their sha256, read-only (0444);
- ``index/<aa>/<key>``: for entries registered without a checksum (http, S3: ETag only),
  the sha256 of the bytes fetched for that source and validators (``identity_key``);
- ``tmp/<key>.part``: a download in progress. Bytes land here and are renamed into
  ``objects`` only when complete and verified, so a crash or a bad download never leaves
  half a file in the cache; a later try resumes the part file with an HTTP Range request;
- ``locks/<key>.lock``: ``flock`` locks, so two hosts on a node download a file once;
- ``datasets/<id>.json``: dataset records (immutable per id), so a warm start needs no
  request to the server.

Verification: the size, the sha256 when the manifest has one, and the ETag/Last-Modified
the source had at registration. A mismatch is a DataError naming the file: the source
changed since the dataset version was registered. Files already in the cache are the
registered bytes and are used without asking the source again.

Thread safety: ``NodeCache`` may be used from several threads and processes at once.
"""

import errno
import fcntl
import hashlib
import http.client
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from kyanite import settings
from kyanite.data._common import DataError, human_size, identity_key, source_label
from kyanite.exceptions import KyaniteException, NotFoundException, UserErrorException

__all__ = ["NodeCache", "Fetcher", "default_cache_dir"]

CHUNK = 1 << 20


def default_cache_dir():
    return settings.get("KYANITE_CACHE_DIR")


class _Transient(Exception):
    """A broken connection or a server error worth another try."""


class Fetcher(object):
    """Opens a byte stream for a manifest entry, from ``offset`` on.

    http(s) sources are fetched directly; uploaded blobs and datastore files through the
    workspace server (``client``), which holds datastore credentials and streams the
    bytes. Returned objects have ``status``, ``headers.get(name)``, ``read(n)``, ``close()``."""

    def __init__(self, client=None, timeout=60.0):
        self.client = client
        self.timeout = timeout

    def open(self, entry, offset=0, if_range=None):
        src = entry.get("source") or {}
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = "bytes=%d-" % offset
            if if_range:
                headers["If-Range"] = if_range
        t = src.get("type")
        if t == "http":
            return self._open_url(entry, src["url"], headers)
        if t == "local":
            return _LocalStream(src["path"], offset)
        if self.client is None:
            raise DataError("File %r of this dataset is stored in a workspace; open the dataset "
                            "through that workspace." % entry["path"])
        if t == "blob":
            path = "/api/data/blobs/%s" % entry["sha256"]
        elif t == "datastore":
            path = "/api/datastores/%s/files/%s" % (urllib.parse.quote(src["datastore"], safe=""),
                                                   urllib.parse.quote(src["path"]))
        else:
            raise DataError("Unknown source type %r for %r." % (t, entry["path"]))
        try:
            return self.client.request("GET", path, headers=headers, stream=True, retry_seconds=60)
        except NotFoundException as exc:
            raise DataError("%s is missing (%s). It was removed or renamed after the dataset was "
                            "registered." % (source_label(entry), exc.message))
        except UserErrorException as exc:
            raise DataError("Cannot read %s: %s" % (source_label(entry), exc.message))
        except KyaniteException as exc:  # server unreachable or 5xx after retries
            raise _Transient(exc.message)

    def _open_url(self, entry, url, headers):
        headers = dict(headers, **{"User-Agent": "kyanite-data/1"})
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:
                raise _Transient("range refused")
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient("HTTP %d %s" % (exc.code, exc.reason))
            raise DataError("Cannot download %s (file %r): HTTP %d %s." % (url, entry["path"], exc.code, exc.reason))
        except (urllib.error.URLError, OSError) as exc:
            raise _Transient("connection failed: %s" % (getattr(exc, "reason", exc),))


class _LocalStream(object):
    status = 200

    def __init__(self, path, offset):
        try:
            self._f = open(path, "rb")
        except OSError as exc:
            raise DataError("Cannot read %s: %s" % (path, exc.strerror or exc))
        size = os.fstat(self._f.fileno()).st_size
        if offset:
            self._f.seek(offset)
            self.status = 206
        self.headers = {"Content-Length": str(size - offset)}

    def read(self, n=-1):
        return self._f.read(n)

    def close(self):
        self._f.close()


class NodeCache(object):
    def __init__(self, root=None):
        self.root = os.path.join(root or default_cache_dir(), "data")

    # -- paths ------------------------------------------------------------------------
    def _p(self, *parts):
        return os.path.join(self.root, *parts)

    def object_path(self, sha):
        return self._p("objects", sha[:2], sha)

    def _index_path(self, key):
        return self._p("index", key[:2], key)

    def _key(self, entry):
        return entry.get("sha256") or identity_key(entry)

    # -- lookup ---------------------------------------------------------------------------
    def lookup(self, entry):
        """The cached file holding ``entry``'s bytes, or None."""
        src = entry.get("source") or {}
        if src.get("type") == "local" and not entry.get("sha256"):
            return src["path"] if os.path.isfile(src["path"]) else None
        sha = entry.get("sha256")
        if not sha:
            try:
                with open(self._index_path(identity_key(entry))) as f:
                    sha = f.read().strip()
            except OSError:
                return None
        p = self.object_path(sha)
        try:
            st = os.stat(p)
        except OSError:
            return None
        if entry.get("size") is not None and st.st_size != entry["size"]:
            return None
        return p

    # -- records -----------------------------------------------------------------------------
    def dataset_record(self, client, dataset_id, fingerprint=None):
        """The dataset record with its manifest; from the node cache when present."""
        path = self._p("datasets", "%s.json" % dataset_id)
        try:
            with open(path) as f:
                rec = json.load(f)
            if fingerprint is None or rec.get("fingerprint") == fingerprint:
                return rec
        except (OSError, ValueError):
            pass
        rec = client.get("/api/datasets/by-id/%s" % urllib.parse.quote(dataset_id), retry_seconds=600)
        if fingerprint is not None and rec.get("fingerprint") != fingerprint:
            raise DataError("Dataset %s (id %s) no longer has the fingerprint the run was submitted with."
                            % (rec.get("name"), dataset_id))
        _write_atomic(path, json.dumps(rec).encode("utf-8"))
        return rec

    # -- ensure ---------------------------------------------------------------------------------
    def ensure(self, entries, fetcher, log=None, label="dataset", workers=4):
        """Make every entry available locally; returns ``(paths, stats)`` with ``paths``
        aligned with ``entries`` and ``stats`` = ``{"cached", "downloaded", "bytes", "seconds"}``.
        Downloads run ``workers`` at a time; the first error is raised once all ended."""
        t0 = time.time()
        paths = [self.lookup(e) for e in entries]
        missing = [i for i, p in enumerate(paths) if p is None]
        stats = {"cached": len(entries) - len(missing), "downloaded": 0, "bytes": 0}
        if missing:
            total = sum(entries[i].get("size") or 0 for i in missing)
            if log:
                log("%s: %d of %d files in the node cache; downloading %d (%s)" % (
                    label, stats["cached"], len(entries), len(missing), human_size(total)))
            errors = []
            lock = threading.Lock()

            def one(i):
                try:
                    p, fetched = self._fetch(entries[i], fetcher, log)
                    with lock:
                        paths[i] = p
                        if fetched:
                            stats["downloaded"] += 1
                            stats["bytes"] += os.path.getsize(p)
                        else:
                            stats["cached"] += 1
                except BaseException as exc:
                    with lock:
                        errors.append(exc)

            if len(missing) == 1 or workers <= 1:
                for i in missing:
                    one(i)
            else:
                with ThreadPoolExecutor(max_workers=min(workers, len(missing))) as pool:
                    list(pool.map(one, missing))
            if errors:
                raise errors[0]
        stats["seconds"] = time.time() - t0
        return paths, stats

    def _fetch(self, entry, fetcher, log):
        """``(path, downloaded)``: fetch one entry into the cache under a per-file lock."""
        src = entry.get("source") or {}
        if src.get("type") == "local" and not entry.get("sha256"):
            raise DataError("No such file: %s" % src["path"])
        key = self._key(entry)
        os.makedirs(self._p("locks"), exist_ok=True)
        with open(self._p("locks", "%s.lock" % key), "w") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            p = self.lookup(entry)
            if p is not None:
                return p, False  # another process fetched it meanwhile
            return self._download(entry, key, fetcher, log), True

    def _download(self, entry, key, fetcher, log, retries=5):
        name, label = entry["path"], source_label(entry)
        os.makedirs(self._p("tmp"), exist_ok=True)
        part = self._p("tmp", "%s.part" % key)
        validator = entry.get("etag") or entry.get("modified")
        # a part file left by an earlier try is resumed only when the source has validators
        offset = os.path.getsize(part) if os.path.exists(part) and (validator or entry.get("sha256")) else 0
        h = hashlib.sha256()
        if offset:
            with open(part, "rb") as f:
                for b in iter(lambda: f.read(CHUNK), b""):
                    h.update(b)
        size = entry.get("size")
        if size is not None and offset > size:
            offset, h = 0, hashlib.sha256()
        attempts, t0, last_log = 0, time.time(), time.time()
        if log:
            log("  %s: downloading %s%s" % (name, human_size(size), " (resuming at %s)" % human_size(offset)
                                             if offset else ""))
        while True:
            resp = None
            try:
                resp = fetcher.open(entry, offset, if_range=validator if offset else None)
                status = getattr(resp, "status", 200)
                if offset and status != 206:
                    offset, h = 0, hashlib.sha256()  # the source ignored the Range: start over
                if offset:
                    cr = resp.headers.get("Content-Range") or ""
                    if cr and not cr.startswith("bytes %d-" % offset):
                        raise _Transient("unexpected Content-Range %r" % cr)
                self._check_validators(entry, resp)
                length = resp.headers.get("Content-Length")
                expected = offset + int(length) if length and length.isdigit() else None
                if size is not None and expected is not None and expected != size:
                    raise DataError(_changed(entry, "its size was %d bytes at registration, now %d"
                                             % (size, expected)))
                with open(part, "ab" if offset else "wb") as out:
                    while True:
                        try:
                            chunk = resp.read(CHUNK)
                        except (OSError, http.client.HTTPException, socket.timeout) as exc:
                            raise _Transient("connection broken: %s" % (exc.__class__.__name__,))
                        if not chunk:
                            break
                        out.write(chunk)
                        h.update(chunk)
                        offset += len(chunk)
                        if log and time.time() - last_log > 2.0:
                            last_log = time.time()
                            log("  %s: %s of %s" % (name, human_size(offset), human_size(size)))
                if expected is not None and offset < expected:
                    raise _Transient("connection closed at byte %d of %d" % (offset, expected))
                break
            except _Transient as exc:
                attempts += 1
                if attempts > retries:
                    raise DataError("Cannot download %s (file %r): %s; gave up after %d attempts."
                                    % (label, name, exc, attempts))
                if log:
                    log("  %s: %s; retrying from byte %d (attempt %d of %d)" % (
                        name, exc, offset, attempts + 1, retries + 1))
                time.sleep(min(0.2 * (2 ** (attempts - 1)), 5.0))
            except DataError:
                _unlink(part)
                raise
            finally:
                if resp is not None:
                    try:
                        resp.close()
                    except Exception:
                        pass
        sha = h.hexdigest()
        if size is not None and offset != size:
            _unlink(part)
            raise DataError(_changed(entry, "its size was %d bytes at registration, now %d" % (size, offset)))
        if entry.get("sha256") and entry["sha256"] != sha:
            _unlink(part)
            raise DataError(_changed(entry, "checksum mismatch: sha256 %s at registration, now %s"
                                     % (entry["sha256"], sha)))
        obj = self.object_path(sha)
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        os.chmod(part, 0o444)
        os.replace(part, obj)
        if not entry.get("sha256"):
            _write_atomic(self._index_path(key), sha.encode("ascii"))
        if log:
            dt = max(time.time() - t0, 1e-6)
            log("  %s: %s in %.2fs (%s/s)" % (name, human_size(offset), dt, human_size(offset / dt)))
        return obj

    def _check_validators(self, entry, resp):
        etag = entry.get("etag")
        got = resp.headers.get("ETag")
        if etag and got and _strip_weak(got) != _strip_weak(etag):
            raise DataError(_changed(entry, "its ETag was %s at registration, now %s" % (etag, got)))
        mod = entry.get("modified")
        got_mod = resp.headers.get("Last-Modified")
        if not etag and mod and got_mod and got_mod != mod:
            raise DataError(_changed(entry, "it was last modified %s at registration, now %s" % (mod, got_mod)))


def _changed(entry, why):
    return ("File %r (%s) changed since the dataset was registered: %s. Register a new version "
            "(register(..., create_new_version=True)) to use the new content." % (
                entry["path"], source_label(entry), why))


def _strip_weak(tag):
    return tag[2:] if tag.startswith("W/") else tag


def _unlink(path):
    try:
        os.chmod(path, 0o644)
        os.unlink(path)
    except OSError:
        pass


def _write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp-%d-%d" % (path, os.getpid(), threading.get_ident())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def place(entries, paths, dest, mode):
    """Lay the files out under ``dest`` (created; must be empty or absent).

    ``mode="mount"``: a read-only view, hard links into the cache (symbolic links when the
    cache is on another file system); nothing is copied, so it costs microseconds per file.
    Do not write into it: the files are the cache's. ``mode="download"``: real copies the
    script may change. Returns the list of placed paths."""
    if os.path.isdir(dest) and os.listdir(dest):
        raise DataError("%s is not empty; give an empty or new folder." % dest)
    os.makedirs(dest, exist_ok=True)
    out = []
    made = set()
    for e, src in zip(entries, paths):
        target = os.path.join(dest, *e["path"].split("/"))
        d = os.path.dirname(target)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        if mode == "mount":
            _link(src, target)
        else:
            shutil.copyfile(src, target)
        out.append(target)
    return out


def _link(src, target):
    try:
        os.link(src, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        os.symlink(os.path.abspath(src), target)
