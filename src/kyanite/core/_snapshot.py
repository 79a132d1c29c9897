"""Source snapshots: what of a source directory a run gets, hashed by content.

``make_snapshot(source_directory)`` walks the folder, leaves out what ``.amlignore``
(or, when there is none, ``.gitignore``) ignores plus ``.git``, ``__pycache__``,
``.kyanite``, ``.ipynb_checkpoints``, ``outputs`` and ``logs`` at the top, and returns
``(sha256, tar.gz bytes)``. The id depends on file paths and contents only, so an
unchanged folder yields the same snapshot and is uploaded once. Larger than
``KYANITE_SNAPSHOT_MAX_MB`` (default 300) is refused with a message naming the biggest
files and how to leave them out.
"""

import hashlib
import io
import os
import tarfile

import pathspec

from kyanite import settings
from kyanite.exceptions import UserErrorException

ALWAYS_IGNORED = [".git/", "__pycache__/", ".kyanite/", ".ipynb_checkpoints/", "/outputs/", "/logs/",
                  ".amlignore", "*.pyc"]


def _ignore_spec(root):
    lines = list(ALWAYS_IGNORED)
    for name in (".amlignore", ".gitignore"):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path) as f:
                lines += f.read().splitlines()
            break
    return pathspec.GitIgnoreSpec.from_lines(lines)


def list_files(root):
    """Relative POSIX paths of the files a snapshot of ``root`` holds, sorted."""
    spec = _ignore_spec(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(rel_dir + d + "/"))
        for fn in filenames:
            rel = rel_dir + fn
            if not spec.match_file(rel) and os.path.isfile(os.path.join(dirpath, fn)):
                out.append(rel)
    return sorted(out)


def make_snapshot(root, max_mb=None):
    if not os.path.isdir(root):
        raise UserErrorException(
            "source_directory %r does not exist or is not a folder. Give the folder that "
            "holds your training script." % root)
    max_bytes = int(float(max_mb or settings.get("KYANITE_SNAPSHOT_MAX_MB")) * 1024 * 1024)
    files = list_files(root)
    sizes = [(os.path.getsize(os.path.join(root, f)), f) for f in files]
    total = sum(s for s, _ in sizes)
    if total > max_bytes:
        biggest = ", ".join("%s (%.1f MB)" % (f, s / 1e6) for s, f in sorted(sizes, reverse=True)[:5])
        raise UserErrorException(
            "The snapshot of %r is %.1f MB, over the %.0f MB limit. Largest files: %s. Put data in "
            "a dataset, or list these files in .amlignore (or .gitignore) in that folder." % (
                root, total / 1e6, max_bytes / 1024 / 1024, biggest))
    digest = hashlib.sha256()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for rel in files:
            full = os.path.join(root, rel)
            with open(full, "rb") as f:
                data = f.read()
            digest.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = os.stat(full).st_mode & 0o777
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return digest.hexdigest(), buf.getvalue()


def snapshot_id(fileobj):
    """The id of a snapshot tarball as ``make_snapshot`` computes it, from the files it
    holds (what the server checks an upload against). Raises UserErrorException for a
    tarball that is not a snapshot (unreadable, links or folders, unsafe names)."""
    digest = hashlib.sha256()
    try:
        with tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
            for info in tar:
                name = info.name
                if not info.isfile() or name.startswith("/") or ".." in name.split("/"):
                    raise UserErrorException("A snapshot holds plain files with relative names only, not %r." % name)
                data = tar.extractfile(info).read()
                digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserErrorException("The snapshot upload is not a readable .tar.gz: %s" % exc)
    return digest.hexdigest()


def upload_snapshot(client, root):
    """Make the snapshot and upload it unless the server has it; returns its id."""
    sha, data = make_snapshot(root)
    if not client.get("/api/snapshots/%s/exists" % sha)["exists"]:
        client.put("/api/snapshots/%s" % sha, data=data)
    return sha
