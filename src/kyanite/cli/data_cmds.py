"""``kyanite dataset list|show|register|download``: registered datasets from the shell."""

import contextlib
import json
import os
import sys
import time

from kyanite.cli import _table
from kyanite.cli._workspace import open_workspace
from kyanite.core import Dataset
from kyanite.exceptions import UserErrorException


def register(sub):
    p = sub.add_parser("dataset", help="list, inspect, register and download datasets",
                       description="Datasets of the workspace found from --path or the current folder.")
    dsub = p.add_subparsers(dest="dataset_command", metavar="COMMAND", required=True)

    s = dsub.add_parser("list", help="the latest version of each registered dataset")
    s.add_argument("--json", action="store_true", help="print the dataset records as JSON")
    _path_arg(s)
    s.set_defaults(func=list_datasets)

    s = dsub.add_parser("show", help="a dataset version's details and files")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--version", "-v", default="latest", metavar="V", help="version number (default: latest)")
    s.add_argument("--json", action="store_true", help="print the dataset record as JSON")
    _path_arg(s)
    s.set_defaults(func=show)

    s = dsub.add_parser(
        "register", help="register local files, folders, globs or http(s) URLs as a file dataset",
        description="Register SOURCE... (local files, folders, globs or http(s) URLs) as dataset NAME. "
                    "Local files are uploaded to the workspace. When NAME exists with other files, a "
                    "new version is made.")
    s.add_argument("name", metavar="NAME")
    s.add_argument("sources", metavar="SOURCE", nargs="+")
    s.add_argument("--description", "-d", help="a description")
    s.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag (repeatable)")
    _path_arg(s)
    s.set_defaults(func=register_dataset)

    s = dsub.add_parser("download", help="download a dataset version's files")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--version", "-v", default="latest", metavar="V", help="version number (default: latest)")
    s.add_argument("--output", "-o", metavar="DIR", help="where to put them (default: ./NAME)")
    s.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    _path_arg(s)
    s.set_defaults(func=download)


def _path_arg(p):
    p.add_argument("--path", metavar="DIR", help="the workspace folder (default: search the current "
                                                   "folder and its parents)")


def parse_tags(items):
    tags = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserErrorException("Tag %r is not of the form KEY=VALUE." % item)
        tags[key] = value
    return tags


def _get(ws, name, version):
    if str(version).lower() != "latest":
        try:
            version = int(version)
        except ValueError:
            raise UserErrorException("Version %r is not a number (or 'latest')." % version)
    return Dataset.get_by_name(ws, name, version)


def _record(ds):
    return dict(ds._record or {})


# -- list ----------------------------------------------------------------------------------
def list_datasets(args):
    ws = open_workspace(args.path)
    found = sorted(Dataset.get_all(ws).values(), key=lambda d: d.name)
    if args.json:
        print(json.dumps([_record(d) for d in found], indent=2, default=str))
        return 0
    if not found:
        print("No datasets registered. Register one with: kyanite dataset register NAME PATH...")
        return 0
    rows = []
    for d in found:
        rec = _record(d)
        rows.append([d.name, d.version, rec.get("kind"), rec.get("fileCount"), _table.size(rec.get("totalSize")),
                     _table.local_time(rec.get("createdUtc")), _table.value(d.description or "-", 40)])
    for line in _table.table(["NAME", "VERSION", "KIND", "FILES", "SIZE", "REGISTERED", "DESCRIPTION"], rows):
        print(line)
    return 0


# -- show ----------------------------------------------------------------------------------
def show(args):
    ws = open_workspace(args.path)
    ds = _get(ws, args.name, args.version)
    rec = _record(ds)
    files = ds._manifest()
    if args.json:
        print(json.dumps(rec if "files" in rec else dict(rec, files=files), indent=2, default=str))
        return 0
    try:
        versions = ws._client.get("/api/datasets/%s/versions" % args.name)["versions"]
    except Exception:
        versions = None
    tags = ", ".join("%s=%s" % kv for kv in sorted(ds.tags.items())) or None
    for line in _table.fields([
            ("Name", ds.name), ("Version", ds.version),
            ("Versions", ", ".join(str(v) for v in versions) if versions else None),
            ("Id", ds.id), ("Kind", rec.get("kind")), ("Description", ds.description), ("Tags", tags),
            ("Registered", _table.local_time(rec.get("createdUtc"))),
            ("Sources", ", ".join(str(s) for s in ds._source_labels()) or None),
            ("Fingerprint", ds.fingerprint),
            ("Files", "%d, %s" % (len(files), _table.size(sum(f.get("size") or 0 for f in files))))]):
        print(line)
    if files:
        print()
        rows = [["/" + f["path"], _table.size(f["size"]) if f.get("size") is not None else None,
                 (f.get("sha256") or f.get("etag") or "-")[:16]] for f in files]
        for line in _table.table(["PATH", "SIZE", "CHECKSUM"], rows):
            print("  " + line)
    return 0


# -- register ------------------------------------------------------------------------------
def register_dataset(args):
    tags = parse_tags(args.tag)
    sources = [s if "://" in s else os.path.abspath(s) for s in args.sources]
    ws = open_workspace(args.path)
    with contextlib.redirect_stdout(sys.stderr):
        ds = Dataset.File.from_files(path=sources if len(sources) > 1 else sources[0])
        ds = ds.register(workspace=ws, name=args.name, description=args.description, tags=tags,
                         create_new_version=True)
    rec = _record(ds)
    print("Registered dataset %r version %s: %d file(s), %s (id %s)." % (
        ds.name, ds.version, rec.get("fileCount") or 0, _table.size(rec.get("totalSize")), ds.id))
    return 0


# -- download ------------------------------------------------------------------------------
def download(args):
    ws = open_workspace(args.path)
    ds = _get(ws, args.name, args.version)
    out = os.path.abspath(args.output or args.name)
    t0 = time.time()
    with contextlib.redirect_stdout(sys.stderr):
        paths = ds.download(target_path=out, overwrite=args.overwrite)
    total = 0
    for p in paths:
        print(os.path.relpath(p, out))
        total += os.path.getsize(p)
    print("Downloaded %d file(s), %s, of dataset %r version %s to %s in %.1fs." % (
        len(paths), _table.size(total), ds.name, ds.version, out, time.time() - t0), file=sys.stderr)
    return 0
