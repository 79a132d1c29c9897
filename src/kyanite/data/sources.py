"""Resolution of dataset sources into a manifest (see ``_common``), on the SDK side.

A source is one of::

    {"type": "local", "path": "/abs/file-or-folder-or-glob"}
    {"type": "http", "url": "https://host/path/file"}
    {"type": "datastore", "datastore": "name", "path": "folder/**"}

``parse_paths(path)`` turns what a user gives ``from_files(path=...)`` (a string, a
``(datastore, 'folder/**')`` pair, a DataPath, or a list of them) into sources, and
``resolve(sources, ...)`` lists their files: local folders are walked, globs matched,
http(s) URLs asked for their size and validators with a HEAD request (nothing is
downloaded), datastore paths listed by the workspace server (which holds the datastore's
credentials). Files keep their paths relative to the common folder of all sources, so
``['http://h/mnist/a.gz', 'http://h/mnist/b.gz']`` gives ``a.gz`` and ``b.gz``.
"""

import os
import posixpath
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from kyanite.data._common import DataError, glob_regex, has_magic, sha256_file, split_magic

__all__ = ["parse_paths", "resolve", "http_head", "USER_AGENT"]

USER_AGENT = "kyanite-data/1"


def parse_paths(path):
    """``(sources, datastores)``: the source dicts and the Datastore objects they name."""
    items = path if isinstance(path, list) else [path]
    if not items:
        raise DataError("from_files needs at least one path.")
    sources, datastores = [], {}
    for item in items:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise DataError("A datastore path is a pair (datastore, 'folder/**'), got %r." % (item,))
            store, p = item
            sources.append(_datastore_source(store, p, datastores))
        elif hasattr(item, "datastore") and hasattr(item, "path_on_datastore"):
            sources.append(_datastore_source(item.datastore, item.path_on_datastore, datastores))
        elif isinstance(item, os.PathLike) or isinstance(item, str):
            s = os.fspath(item)
            low = s.lower()
            if low.startswith(("http://", "https://")):
                sources.append(_http_source(s))
            elif low.startswith("file://"):
                sources.append({"type": "local", "path": os.path.abspath(urllib.parse.unquote(s[7:]))})
            elif "://" in s:
                raise DataError(
                    "%r: only http(s) URLs, local paths and (datastore, 'path') pairs are supported. "
                    "For S3 storage register a datastore (Datastore.register_s3) and pass "
                    "(datastore, 'folder/**')." % s)
            else:
                sources.append({"type": "local", "path": os.path.abspath(os.path.expanduser(s))})
        else:
            raise DataError("Cannot read data from %r (%s): give a URL, a local path or a "
                            "(datastore, 'path') pair." % (item, type(item).__name__))
    return sources, datastores


def _datastore_source(store, p, datastores):
    name = getattr(store, "name", None)
    if not name or not hasattr(store, "_workspace"):
        raise DataError("%r is not a Datastore; use Datastore.get(ws, name)." % (store,))
    p = (p or "").strip("/") or "**"
    if ".." in p.split("/"):
        raise DataError("Datastore path %r must not contain '..'." % p)
    datastores[name] = store
    return {"type": "datastore", "datastore": name, "path": p}


def _http_source(url):
    parts = urllib.parse.urlsplit(url)
    if not parts.path or parts.path.endswith("/"):
        raise DataError("%s names a folder; an http(s) source must name a file (list each file's URL)." % url)
    if has_magic(urllib.parse.unquote(parts.path)):
        raise DataError("%s: globs are not supported for http(s) URLs; list each file's URL." % url)
    return {"type": "http", "url": url}


# -- resolution ------------------------------------------------------------------------
def resolve(sources, client_for=None, hash_local=False, workers=8):
    """The manifest of ``sources``, sorted by path.

    ``client_for(datastore_name)`` returns the REST client of the workspace holding that
    datastore. ``hash_local`` computes sha256 of local files (needed to register them)."""
    found = []  # (group, root_parts, rel_parts, entry)
    https = [s for s in sources if s["type"] == "http"]
    heads = {}
    if https:
        with ThreadPoolExecutor(max_workers=min(workers, len(https))) as pool:
            for s, info in zip(https, pool.map(lambda s: http_head(s["url"]), https)):
                heads[s["url"]] = info
    for s in sources:
        if s["type"] == "local":
            found.extend(_resolve_local(s["path"], hash_local))
        elif s["type"] == "http":
            parts = urllib.parse.urlsplit(s["url"])
            segs = [urllib.parse.unquote(x) for x in parts.path.split("/")]
            info = heads[s["url"]]
            found.append((("http", parts.scheme.lower(), parts.netloc.lower()), segs[:-1], [segs[-1]],
                          dict(info, source={"type": "http", "url": s["url"]})))
        elif s["type"] == "datastore":
            if client_for is None:
                raise DataError("Datastore sources need a workspace.")
            client = client_for(s["datastore"])
            listing = client.get("/api/datastores/%s/files" % urllib.parse.quote(s["datastore"], safe=""),
                                 params={"pattern": s["path"]})
            root = [p for p in (listing.get("root") or "").split("/") if p]
            for f in listing["files"]:
                rel = f["path"].split("/")[len(root):]
                found.append((("datastore", s["datastore"]), root, rel, {
                    "size": f.get("size"), "sha256": f.get("sha256"), "etag": f.get("etag"),
                    "modified": f.get("modified"),
                    "source": {"type": "datastore", "datastore": s["datastore"], "path": f["path"]}}))
        else:
            raise DataError("Unknown source type %r." % s.get("type"))
    return _relative(found)


def _relative(found):
    groups = set(g for g, _, _, _ in found)
    common = None
    if len(groups) == 1:
        for _, root, _, _ in found:
            if common is None:
                common = list(root)
            else:
                n = 0
                while n < len(common) and n < len(root) and common[n] == root[n]:
                    n += 1
                common = common[:n]
    out, seen = [], {}
    for _, root, rel, entry in found:
        parts = (root[len(common):] if common is not None else []) + rel
        path = "/".join(p for p in parts if p)
        e = {"path": path, "size": entry.get("size"), "sha256": entry.get("sha256"),
             "etag": entry.get("etag"), "modified": entry.get("modified"), "source": entry["source"]}
        if path in seen:
            if seen[path]["source"] == e["source"]:
                continue  # the same file named twice
            raise DataError("Two sources give the same file path %r: %s and %s. Give folders that keep "
                            "them apart." % (path, _label(seen[path]), _label(e)))
        seen[path] = e
        out.append(e)
    out.sort(key=lambda e: e["path"])
    return out


def _label(e):
    from kyanite.data._common import source_label
    return source_label(e)


def _resolve_local(path, hash_local):
    path = path.replace(os.sep, "/")
    group = ("local",)

    def entry(full, root, rel):
        st = os.stat(full)
        return (group, root.split("/"), rel.split("/"), {
            "size": st.st_size, "sha256": sha256_file(full) if hash_local else None,
            "source": {"type": "local", "path": full}})

    if has_magic(path):
        base, pattern = split_magic(path)
        base = base or "/"
        rx = glob_regex(pattern)
        out = [entry(full, base, rel) for full, rel in _walk(base) if rx.match(rel)]
        if not out:
            raise DataError("No files match %s." % path)
        return out
    if os.path.isfile(path):
        return [entry(path, posixpath.dirname(path), posixpath.basename(path))]
    if os.path.isdir(path):
        out = [entry(full, path, rel) for full, rel in _walk(path)]
        if not out:
            raise DataError("Folder %s holds no files." % path)
        return out
    raise DataError("No such file or folder: %s" % path)


def _walk(base):
    base = base.rstrip("/") or "/"
    for root, dirs, files in os.walk(base):
        dirs.sort()
        for fn in sorted(files):
            full = os.path.join(root, fn)
            if os.path.isfile(full):
                yield full, os.path.relpath(full, base).replace(os.sep, "/")


# -- http ---------------------------------------------------------------------------------
def http_head(url, timeout=30.0, retries=3):
    """``{"size", "etag", "modified"}`` of an http(s) file, from a HEAD request (a GET
    whose body is not read when HEAD is refused). Raises DataError naming the URL and
    the HTTP status, or the connection error."""
    method = "HEAD"
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT,
                                                                  "Accept-Encoding": "identity"})
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
            try:
                h = resp.headers
                length = h.get("Content-Length")
                return {"size": int(length) if length and length.isdigit() else None,
                        "etag": h.get("ETag"), "modified": h.get("Last-Modified")}
            finally:
                resp.close()
        except urllib.error.HTTPError as exc:
            if method == "HEAD" and exc.code in (403, 405, 501):
                method = "GET"
                continue
            if exc.code >= 500 and attempt < retries:
                time.sleep(0.2 * (2 ** attempt))
                continue
            raise DataError("Cannot read %s: HTTP %d %s." % (url, exc.code, exc.reason))
        except (urllib.error.URLError, OSError) as exc:
            if attempt < retries:
                time.sleep(0.2 * (2 ** attempt))
                continue
            reason = getattr(exc, "reason", exc)
            raise DataError("Cannot reach %s: %s." % (url, reason))
    raise DataError("Cannot read %s." % url)
