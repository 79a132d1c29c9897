"""Datastore backends, used by the workspace server only (they hold the credentials).

Interface (``DatastoreBackend``): paths are relative POSIX paths inside the datastore.

- ``list(pattern)`` -> ``(root, files)``: a file, a folder (all files below it) or a glob
  (``*``, ``?``, ``[...]`` inside one folder, ``**`` across folders); ``root`` is the
  folder the file paths are taken relative to; ``files`` are ``{"path", "size", "sha256"
  or "etag", "modified"}``. A pattern matching nothing raises DataError.
- ``exists(path)``, ``put(path, fileobj)`` (atomic for the workspace datastore),
- ``local_file(path)`` (a local path, or None when the bytes must be streamed) and
  ``open(path)`` -> ``(file object, info)`` with ``info`` = ``{"size", "etag"}``.

Implementations: ``WorkspaceBackend`` (the default datastore ``workspaceblobstore``, in
the workspace's artifact store under ``datastores/<name>/``) and ``S3Backend`` (an
S3-compatible bucket through fsspec/s3fs). Error messages never hold credentials: every
text from the S3 client passes through ``scrub``. Both are safe to use from several
request threads at once.
"""

import os
import threading

from kyanite.data._common import DataError, glob_regex, has_magic, sha256_file, split_magic
from kyanite.exceptions import NotFoundException
from kyanite.store.artifacts import check_key

__all__ = ["DEFAULT_DATASTORE", "WorkspaceBackend", "S3Backend", "backend_for", "scrub", "check_path"]

DEFAULT_DATASTORE = "workspaceblobstore"


def check_path(path):
    path = (path or "").strip("/")
    if not path:
        return ""
    try:
        return check_key(path)
    except Exception:
        raise DataError("Datastore path %r is not allowed: use a relative path without '..'." % path)


def _match(files, base, pattern, what):
    """Filter ``files`` (paths relative to the datastore) by a glob below ``base``."""
    rx = glob_regex(pattern)
    pre = base + "/" if base else ""
    out = [f for f in files if f["path"].startswith(pre) and rx.match(f["path"][len(pre):])]
    if not out:
        raise DataError("No files in %s match %r." % (what, (pre + pattern)))
    return out


class WorkspaceBackend(object):
    type = "Workspace"

    _sha_memo = {}
    _memo_lock = threading.Lock()

    def __init__(self, artifacts, name):
        self.artifacts = artifacts
        self.name = name
        self.prefix = "datastores/%s" % name

    def _key(self, path):
        return "%s/%s" % (self.prefix, check_path(path))

    def _info(self, rel):
        local = self.artifacts.local_path(self._key(rel))
        st = os.stat(local)
        memo_key = (local, st.st_size, st.st_mtime_ns)
        with self._memo_lock:
            sha = self._sha_memo.get(memo_key)
        if sha is None:
            sha = sha256_file(local)
            with self._memo_lock:
                self._sha_memo[memo_key] = sha
        return {"path": rel, "size": st.st_size, "sha256": sha, "etag": None, "modified": None}

    def list(self, pattern):
        pattern = check_path(pattern) if not has_magic(pattern or "") else (pattern or "").strip("/")
        what = "datastore %r" % self.name
        if has_magic(pattern):
            base, rest = split_magic(pattern)
            base = check_path(base)
            names = self._walk(base)
            files = _match([{"path": n} for n in names], base, rest, what)
            return base, [self._info(f["path"]) for f in files]
        if pattern and self.artifacts.size(self._key(pattern)) >= 0:
            return pattern.rpartition("/")[0], [self._info(pattern)]
        names = self._walk(pattern)
        if not names:
            raise DataError("No file or folder %r in %s." % (pattern or "/", what))
        return pattern, [self._info(n) for n in names]

    def _walk(self, base):
        key = self._key(base) if base else self.prefix
        pre = base + "/" if base else ""
        return [pre + f["path"] for f in self.artifacts.list(key)]

    def exists(self, path):
        return self.artifacts.size(self._key(path)) >= 0

    def put(self, path, fileobj):
        return self.artifacts.put(self._key(path), fileobj)

    def local_file(self, path):
        try:
            return self.artifacts.local_path(self._key(path))
        except NotFoundException:
            raise NotFoundException("Datastore %r has no file %r." % (self.name, path))

    def open(self, path):
        p = self.local_file(path)
        return open(p, "rb"), {"size": os.path.getsize(p), "etag": None}


class S3Backend(object):
    """An S3-compatible bucket (``config``: bucket, endpoint_url, region, prefix;
    ``secret``: access_key_id, secret_access_key)."""
    type = "S3"

    def __init__(self, name, config, secret):
        self.name = name
        self.config = config
        self._secret = secret or {}
        self.bucket = config["bucket"]
        self.root = "/".join(p for p in (self.bucket, (config.get("prefix") or "").strip("/")) if p)
        self._fs = None
        self._lock = threading.Lock()

    def _make_fs(self, attempts, s3fs_retries):
        try:
            import s3fs
        except ImportError:  # pragma: no cover - s3fs is a dependency
            raise DataError("S3 datastores need the s3fs package (pip install s3fs).")
        client_kwargs = {}
        if self.config.get("region"):
            client_kwargs["region_name"] = self.config["region"]
        key, secret = self._secret.get("access_key_id"), self._secret.get("secret_access_key")
        fs = s3fs.S3FileSystem(
            key=key, secret=secret, anon=not (key or secret),
            endpoint_url=self.config.get("endpoint_url") or None, client_kwargs=client_kwargs,
            config_kwargs={"connect_timeout": 10, "read_timeout": 60,
                           "retries": {"max_attempts": attempts, "mode": "standard"}},
            use_listings_cache=False, skip_instance_cache=True)
        fs.retries = s3fs_retries
        return fs

    @property
    def fs(self):
        with self._lock:
            if self._fs is None:
                self._fs = self._make_fs(attempts=4, s3fs_retries=3)
            return self._fs

    def scrub(self, text):
        return scrub(text, self._secret)

    def _call(self, what, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DataError, NotFoundException):
            raise
        except FileNotFoundError as exc:
            raise NotFoundException(self.scrub("Datastore %r: %s not found (%s)." % (self.name, what, exc)))
        except PermissionError as exc:
            raise DataError(self.scrub("Datastore %r: access to %s refused; check the datastore's "
                                       "credentials (%s)." % (self.name, what, exc)))
        except Exception as exc:
            raise DataError(self.scrub("Datastore %r: %s failed: %s: %s" % (
                self.name, what, exc.__class__.__name__, exc)))

    def _full(self, path):
        path = check_path(path)
        return "%s/%s" % (self.root, path) if path else self.root

    def check(self, create=False):
        """Verify the bucket exists and can be listed (creating it when asked). Fails
        fast (no retries): it answers a user registering the datastore."""
        fs = self._make_fs(attempts=1, s3fs_retries=1)
        if not self._call("bucket %r" % self.bucket, fs.exists, self.bucket):
            if not create:
                raise DataError("Datastore %r: bucket %r does not exist (or the credentials cannot see "
                                "it); pass create_if_not_exists=True to create it." % (self.name, self.bucket))
            self._call("creating bucket %r" % self.bucket, fs.mkdir, self.bucket)
        self._call("listing bucket %r" % self.bucket, fs.ls, self.bucket)

    def _info(self, full, info):
        rel = full[len(self.root) + 1:] if self.root else full
        mod = info.get("LastModified")
        return {"path": rel, "size": info.get("size"), "sha256": None, "etag": info.get("ETag"),
                "modified": mod.isoformat() if hasattr(mod, "isoformat") else mod}

    def _find(self, base):
        found = self._call("listing %r" % (base or "/"), self.fs.find, self._full(base), detail=True)
        pre = self.root + "/"
        out = []
        for full, info in sorted(found.items()):
            if info.get("type", "file") == "file" and full.startswith(pre):
                out.append(self._info(full, info))
        return out

    def list(self, pattern):
        pattern = (pattern or "").strip("/")
        what = "datastore %r" % self.name
        if has_magic(pattern):
            base, rest = split_magic(pattern)
            base = check_path(base)
            return base, _match(self._find(base), base, rest, what)
        pattern = check_path(pattern)
        files = self._find(pattern)
        exact = [f for f in files if f["path"] == pattern]
        if exact:
            return pattern.rpartition("/")[0], exact
        pre = pattern + "/" if pattern else ""
        files = [f for f in files if f["path"].startswith(pre)]
        if not files:
            raise DataError("No file or folder %r in %s." % (pattern or "/", what))
        return pattern, files

    def exists(self, path):
        return bool(self._call("checking %r" % path, self.fs.exists, self._full(path)))

    def put(self, path, fileobj):
        def go():
            with self.fs.open(self._full(path), "wb") as f:
                size = 0
                while True:
                    b = fileobj.read(1 << 20)
                    if not b:
                        break
                    f.write(b)
                    size += len(b)
            return size
        return self._call("uploading %r" % path, go)

    def local_file(self, path):
        return None

    def open(self, path):
        full = self._full(path)
        info = self._call("file %r" % path, self.fs.info, full)
        f = self._call("opening %r" % path, self.fs.open, full, "rb", block_size=4 << 20)
        return f, {"size": info.get("size"), "etag": info.get("ETag")}


def scrub(text, secret):
    """``text`` with every credential value replaced by ``****``."""
    text = str(text)
    for v in (secret or {}).values():
        if v and isinstance(v, str) and len(v) >= 4:
            text = text.replace(v, "****")
    return text


def backend_for(record, secret, artifacts):
    """The backend of a datastore record (``secret``: its credentials, server side only)."""
    if record["type"] == "Workspace":
        return WorkspaceBackend(artifacts, record["name"])
    if record["type"] == "S3":
        return S3Backend(record["name"], record.get("config") or {}, secret)
    raise DataError("Datastore %r has an unknown type %r." % (record["name"], record["type"]))
