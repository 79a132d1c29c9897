"""Shared pieces of the data layer: the error type, the manifest format, glob matching.

A dataset's *manifest* is a list of file entries, one per file, in path order::

    {"path": "train/a.csv",          # relative POSIX path inside the dataset
     "size": 123,                    # bytes, or None when the source does not say
     "sha256": "...",                # content checksum when known (local files, workspace datastore)
     "etag": "...", "modified": "...",   # validators of remote sources (http, S3)
     "source": {"type": "http", "url": "https://..."}
             | {"type": "blob"}                      # uploaded content, by sha256, on the server
             | {"type": "datastore", "datastore": "name", "path": "folder/a.csv"}
             | {"type": "local", "path": "/abs/a.csv"}}   # unregistered datasets only

The *fingerprint* of a manifest (``fingerprint(files)``) is the sha256 of its canonical
JSON: two datasets with the same fingerprint name the same bytes at the same places.
"""

import hashlib
import json
import re

from kyanite.exceptions import UserErrorException

__all__ = ["DataError", "fingerprint", "has_magic", "split_magic", "glob_regex", "human_size",
           "source_label", "identity_key", "sha256_file"]


class DataError(UserErrorException):
    """A dataset or datastore cannot be read: an unreachable URL, an HTTP error, an empty
    glob, a checksum mismatch, a changed source, refused credentials. The message names
    the file and the reason."""


def _entry_key(e):
    src = dict(e.get("source") or {})
    return [e["path"], e.get("size"), e.get("sha256"), e.get("etag"), e.get("modified"),
            sorted(src.items())]


def fingerprint(files, extra=None):
    """sha256 hex digest of a manifest (and of ``extra``, e.g. tabular options)."""
    body = json.dumps([[_entry_key(e) for e in files], extra], sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def identity_key(entry):
    """A cache key for an entry whose content checksum is not known in advance: the source
    and its validators (size, ETag, Last-Modified)."""
    src = entry.get("source") or {}
    body = json.dumps([sorted(src.items()), entry.get("size"), entry.get("etag"), entry.get("modified")],
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def source_label(entry):
    """How an entry is named in messages and logs (never a signed URL or a credential)."""
    src = entry.get("source") or {}
    t = src.get("type")
    if t == "http":
        return src["url"]
    if t == "datastore":
        return "%s:%s" % (src["datastore"], src["path"])
    if t == "local":
        return src["path"]
    return entry.get("path")


_MAGIC = re.compile(r"[*?\[]")


def has_magic(path):
    return _MAGIC.search(path) is not None


def split_magic(pattern):
    """``("folder/sub", "*.csv")`` for ``"folder/sub/*.csv"``: the longest leading part
    without glob characters (a folder) and the rest."""
    parts = pattern.split("/")
    for i, p in enumerate(parts):
        if has_magic(p):
            return "/".join(parts[:i]), "/".join(parts[i:])
    return pattern, ""


def glob_regex(pattern):
    """A compiled regex for a relative glob: ``*`` and ``?`` stay inside one folder,
    ``**`` crosses folders (``a/**`` is everything under ``a``, ``a/**/*.csv`` includes
    ``a/x.csv``), ``[...]`` is a character class."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[%s]" % body.replace("\\", "\\\\"))
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def human_size(n):
    if n is None:
        return "? B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def sha256_file(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()
