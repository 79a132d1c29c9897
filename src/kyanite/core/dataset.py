"""Datasets: versioned references to data files (the SDK v1 ``Dataset``).

    ds = Dataset.File.from_files(path=['https://host/mnist/train-images-idx3-ubyte.gz', ...])
    ds = ds.register(workspace=ws, name='mnist-dataset', create_new_version=True)
    ds = Dataset.get_by_name(ws, 'mnist-dataset')            # version='latest' or a number
    ds.to_path()                                             # ['/train-images-idx3-ubyte.gz', ...]
    args = ['--data-folder', ds.as_named_input('mnist').as_mount()]   # or .as_download()

Sources (``path=``): http(s) URLs, local files, folders and globs, ``(datastore,
'folder/**')`` pairs and ``datastore.path(...)``, or a list mixing them. Nothing is
downloaded when a dataset is defined: URLs are asked for their size and ETag.

Registering records each file's size and checksum (sha256 for local and workspace files,
the ETag or Last-Modified of http and S3 files) and a fingerprint of the whole version.
Local files are uploaded into the workspace once per content, so a registered version
never changes. The same files registered again under a name give the existing version
back; other files need ``create_new_version=True``.

Consumption: ``download()`` and ``mount()`` here, ``as_mount()`` / ``as_download()`` in a
run. Both go through the node cache (``KYANITE_CACHE_DIR``): a file is downloaded once
per node, verified against what was registered (a changed source is an error naming the
file), and reused. *Mount* is a read-only folder of hard links into the cache (symbolic
links across file systems), not a FUSE mount: ready in microseconds per file, but it
must not be written to. *Download* makes real copies.
"""

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse

from kyanite.data._common import DataError
from kyanite.data.cache import Fetcher, NodeCache, place
from kyanite.data.inputs import PLACEHOLDER
from kyanite.data.sources import parse_paths, resolve
from kyanite.exceptions import UserErrorException

__all__ = ["Dataset", "FileDataset", "TabularDataset", "DatasetConsumptionConfig", "MountContext",
           "FileDatasetFactory", "TabularDatasetFactory"]

_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _q(s):
    return urllib.parse.quote(str(s), safe="")


class Dataset(object):
    """Base of FileDataset and TabularDataset; ``Dataset.File`` and ``Dataset.Tabular``
    create them, ``Dataset.get_by_name`` / ``get_by_id`` / ``get_all`` fetch registered ones."""

    File = None      # FileDatasetFactory, set below
    Tabular = None   # TabularDatasetFactory, set below
    _kind = None

    def __init__(self, definition, record=None, workspace=None, datastores=None, files=None):
        self._definition = definition
        self._record = record
        self._workspace = workspace
        self._datastores = dict(datastores or {})
        self._files = files

    # -- fetching registered datasets ----------------------------------------------------
    @staticmethod
    def _from_record(workspace, rec):
        cls = TabularDataset if rec.get("kind") == "tabular" else FileDataset
        return cls(rec.get("definition") or {}, record=rec, workspace=workspace, files=rec.get("files"))

    @staticmethod
    def get_by_name(workspace, name, version="latest"):
        """Version ``version`` (a number, or 'latest') of the dataset registered as ``name``.
        An unknown name or version raises NotFoundException listing what exists."""
        v = None if version is None or str(version).lower() == "latest" else version
        rec = workspace._client.get("/api/datasets/%s" % _q(name), params={"version": v})
        return Dataset._from_record(workspace, rec)

    @staticmethod
    def get_by_id(workspace, id):
        """A registered (or run-saved) dataset by its id."""
        return Dataset._from_record(workspace, workspace._client.get("/api/datasets/by-id/%s" % _q(id)))

    @staticmethod
    def get_all(workspace):
        """``{name: latest version}`` of every registered dataset of ``workspace``."""
        return dict((r["name"], Dataset._from_record(workspace, r))
                    for r in workspace._client.get("/api/datasets")["datasets"])

    @staticmethod
    def list(workspace):
        return list(Dataset.get_all(workspace).values())

    # -- identity ---------------------------------------------------------------------------
    @property
    def id(self):
        return (self._record or {}).get("id")

    @property
    def name(self):
        return (self._record or {}).get("name")

    @property
    def version(self):
        return (self._record or {}).get("version")

    @property
    def description(self):
        return (self._record or {}).get("description")

    @property
    def tags(self):
        return dict((self._record or {}).get("tags") or {})

    @property
    def fingerprint(self):
        """sha256 of the registered files (sizes, checksums, sources); None until saved."""
        return (self._record or {}).get("fingerprint")

    @property
    def workspace(self):
        return self._workspace

    # -- files -----------------------------------------------------------------------------
    def _client_for(self, datastore_name):
        store = self._datastores.get(datastore_name)
        if store is not None:
            return store._workspace._client
        if self._workspace is not None:
            return self._workspace._client
        raise DataError("Datastore %r: this dataset has no workspace to read it from." % datastore_name)

    def _fetch_client(self):
        if self._workspace is not None:
            return self._workspace._client
        for store in self._datastores.values():
            return store._workspace._client
        return None

    def _manifest(self, hash_local=False):
        """The list of file entries (see ``kyanite.data._common``)."""
        if self._record is not None:
            if self._files is None:
                self._files = self._workspace._client.get("/api/datasets/by-id/%s" % _q(self.id))["files"]
            return self._files
        if self._files is None or (hash_local and any(
                e["source"]["type"] == "local" and not e.get("sha256") for e in self._files)):
            self._files = resolve(self._definition["sources"], self._client_for, hash_local=hash_local)
        return self._files

    def _local_files(self, log=None):
        entries = self._manifest()
        paths, _stats = NodeCache().ensure(entries, Fetcher(self._fetch_client()), log=log,
                                           label="dataset %s" % (self.name or "(unregistered)"))
        return entries, paths

    # -- registration ---------------------------------------------------------------------------
    def register(self, workspace, name, description=None, tags=None, create_new_version=False):
        """Register this dataset as ``name`` in ``workspace``; returns the registered
        dataset (with ``version``). Files already registered under ``name`` give that
        version back; other files raise ConflictException unless ``create_new_version``."""
        rec = self._save(workspace, name, description, tags, create_new_version)
        return Dataset._from_record(workspace, rec)

    def _save(self, workspace, name=None, description=None, tags=None, create_new_version=False):
        if self._record is not None:
            if self._workspace != workspace:
                raise UserErrorException("This dataset belongs to workspace %s; register it there, or define "
                                         "it again for this one." % self._workspace.name)
            files = self._manifest()
        else:
            for store in self._datastores.values():
                if store._workspace != workspace:
                    raise UserErrorException("Datastore %r belongs to another workspace." % store.name)
            files = self._upload_local(workspace, self._manifest(hash_local=True))
        body = {"name": name, "kind": self._kind, "definition": self._definition, "files": files,
                "description": description, "tags": tags or {}, "create_new_version": bool(create_new_version)}
        return workspace._client.post("/api/datasets", body)

    @staticmethod
    def _upload_local(workspace, files):
        """Upload the content of local entries (once per sha256) and make them blobs."""
        local = [e for e in files if e["source"]["type"] == "local"]
        if not local:
            return files
        client = workspace._client
        shas = sorted(set(e["sha256"] for e in local))
        missing = set(client.post("/api/data/blobs/missing", {"sha256": shas})["missing"])
        for e in local:
            if e["sha256"] in missing:
                with open(e["source"]["path"], "rb") as f:
                    client.put("/api/data/blobs/%s" % e["sha256"], data=f)
                missing.discard(e["sha256"])
        return [dict(e, source={"type": "blob"}) if e["source"]["type"] == "local" else e for e in files]

    def _ensure_saved(self, workspace):
        if self._record is not None and self._workspace == workspace:
            return self._record
        rec = self._save(workspace)
        self._record, self._workspace, self._files = rec, workspace, rec.get("files")
        return rec

    # -- consumption in runs -----------------------------------------------------------------
    def as_named_input(self, name):
        """A DatasetConsumptionConfig naming this dataset ``name`` in a run; follow it with
        ``.as_mount()`` or ``.as_download()``."""
        return DatasetConsumptionConfig(name, self)

    def _default_input_name(self):
        basis = self.id or json.dumps(self._definition, sort_keys=True, default=str)
        return "input_" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:8]

    # -- display -------------------------------------------------------------------------------
    def _source_labels(self):
        out = []
        for s in self._definition.get("sources") or []:
            if s["type"] == "http":
                out.append(s["url"])
            elif s["type"] == "datastore":
                out.append("('%s', '%s')" % (s["datastore"], s["path"]))
            else:
                out.append(s.get("path"))
        return out

    def __repr__(self):
        d = {"source": self._source_labels(), "definition": [self._definition_step()]}
        for t in self._definition.get("transforms") or []:
            d["definition"].append("%s(%s)" % (t["op"].capitalize(), t["count"]))
        if self._record is not None and self.name:
            d["registration"] = {"id": self.id, "name": self.name, "version": self.version,
                                 "description": self.description, "fingerprint": self.fingerprint,
                                 "workspace": repr(self._workspace)}
        return "%s\n%s" % (type(self).__name__, json.dumps(d, indent=2))

    def _definition_step(self):
        return "GetFiles"


class FileDataset(Dataset):
    """A set of files; create one with ``Dataset.File.from_files``."""
    _kind = "file"

    def to_path(self):
        """The dataset's file paths, relative to its root: ``['/a.csv', '/sub/b.csv']``."""
        return ["/" + e["path"] for e in self._manifest()]

    def download(self, target_path=None, overwrite=False, ignore_not_found=False):
        """Download the files into the folder ``target_path`` (a new temporary folder when
        None); returns their local paths. Existing files are refused, before anything is
        written, unless ``overwrite``. Files come through the node cache."""
        target = os.path.abspath(target_path or tempfile.mkdtemp(prefix="kyanite-dataset-"))
        entries = self._manifest()
        dests = [os.path.join(target, *e["path"].split("/")) for e in entries]
        existing = [d for d in dests if os.path.lexists(d)]
        if existing and not overwrite:
            raise UserErrorException(
                "%d file(s) exist in %s already: %s%s. Pass overwrite=True to replace them." % (
                    len(existing), target, ", ".join(os.path.relpath(d, target) for d in existing[:5]),
                    " and %d more" % (len(existing) - 5) if len(existing) > 5 else ""))
        cache, fetcher = NodeCache(), Fetcher(self._fetch_client())
        if ignore_not_found:
            pairs = []
            for e, d in zip(entries, dests):
                try:
                    pairs.append((cache.ensure([e], fetcher)[0][0], d))
                except DataError:
                    continue
        else:
            pairs = list(zip(cache.ensure(entries, fetcher)[0], dests))
        out = []
        for src, dest in pairs:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = dest + ".kyanite-part"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            out.append(dest)
        return out

    def mount(self, mount_point=None, **kwargs):
        """A MountContext: ``with ds.mount() as m: os.listdir(m.mount_point)``. The mount
        point is a read-only folder of links into the node cache (see the module doc)."""
        return MountContext(self, mount_point)

    def as_mount(self, path_on_compute=None):
        """Consume in a run as a read-only folder (the argument becomes its path)."""
        return DatasetConsumptionConfig(self._default_input_name(), self, "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        """Consume in a run as a folder of downloaded copies (the argument becomes its path)."""
        return DatasetConsumptionConfig(self._default_input_name(), self, "download", path_on_compute)


class MountContext(object):
    """The lifetime of a mounted FileDataset: ``start()`` / ``stop()`` or ``with``."""

    def __init__(self, dataset, mount_point=None):
        self._dataset = dataset
        self._given = mount_point
        self._mount_point = os.path.abspath(mount_point) if mount_point else None
        self._placed = []
        self._made_root = False

    @property
    def mount_point(self):
        return self._mount_point

    def start(self):
        entries, paths = self._dataset._local_files()
        if self._mount_point is None:
            self._mount_point = tempfile.mkdtemp(prefix="kyanite-mount-")
            self._made_root = True
        elif not os.path.exists(self._mount_point):
            self._made_root = True
        self._placed = place(entries, paths, self._mount_point, "mount")
        return self

    def stop(self):
        if self._mount_point is None:
            return
        if self._made_root:
            shutil.rmtree(self._mount_point, ignore_errors=True)
        else:
            for p in self._placed:
                try:
                    os.unlink(p)
                except OSError:
                    pass
            for root, dirs, files in os.walk(self._mount_point, topdown=False):
                if root != self._mount_point and not os.listdir(root):
                    os.rmdir(root)
        self._placed = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class TabularDataset(Dataset):
    """Rows of delimited files; create one with ``Dataset.Tabular.from_delimited_files``."""
    _kind = "tabular"

    def _definition_step(self):
        return "ParseDelimited"

    def _with_transform(self, op, count):
        if not isinstance(count, int) or count < 0:
            raise UserErrorException("%s(count): count must be a non-negative int, got %r." % (op, count))
        d = dict(self._definition, transforms=list(self._definition.get("transforms") or []) + [
            {"op": op, "count": count}])
        files = self._manifest() if self._record is not None else self._files
        return TabularDataset(d, workspace=self._workspace, datastores=self._datastores, files=files)

    def take(self, count):
        """A new (unregistered) dataset of the first ``count`` rows."""
        return self._with_transform("take", count)

    def skip(self, count):
        """A new (unregistered) dataset without the first ``count`` rows."""
        return self._with_transform("skip", count)

    def to_path(self):
        return ["/" + e["path"] for e in self._manifest()]

    def to_pandas_dataframe(self, on_error="null", out_of_range_datetime="null"):
        """Load every file into one pandas DataFrame (files in path order; with
        ``include_path`` a first column ``Path``). Needs pandas: ``pip install
        'kyanite[tabular]'``."""
        try:
            import pandas as pd
        except ImportError:
            raise UserErrorException("to_pandas_dataframe needs pandas: pip install 'kyanite[tabular]'.")
        opts = self._definition.get("tabular") or {}
        entries, paths = self._local_files()
        frames = []
        for e, p in zip(entries, paths):
            kw = {"sep": opts.get("separator", ","), "header": 0 if opts.get("header", True) else None,
                  "encoding": _encoding(opts.get("encoding")), "compression": _compression(e["path"])}
            if not opts.get("infer_column_types", True):
                kw["dtype"] = str
            if opts.get("empty_as_string"):
                kw["keep_default_na"] = False
            try:
                df = pd.read_csv(p, **kw)
            except Exception as exc:
                raise DataError("Cannot parse %s as delimited text: %s" % (e["path"], exc))
            if opts.get("include_path"):
                df.insert(0, "Path", "/" + e["path"])
            frames.append(df)
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        for col, typ in (opts.get("set_column_types") or {}).items():
            df[col] = _convert(pd, df[col], typ)
        for t in self._definition.get("transforms") or []:
            df = (df.iloc[:t["count"]] if t["op"] == "take" else df.iloc[t["count"]:]).reset_index(drop=True)
        return df

    def as_mount(self, path_on_compute=None):
        return DatasetConsumptionConfig(self._default_input_name(), self, "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        return DatasetConsumptionConfig(self._default_input_name(), self, "download", path_on_compute)


def _encoding(enc):
    enc = (enc or "utf8").lower()
    return {"utf8": "utf-8", "iso88591": "latin-1", "latin1": "latin-1", "ascii": "ascii",
            "utf16": "utf-16", "windows1252": "cp1252"}.get(enc, enc)


def _compression(path):
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {"gz": "gzip", "bz2": "bz2", "zip": "zip", "xz": "xz", "zst": "zstd"}.get(ext)


def _convert(pd, series, typ):
    name = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    name = name.lower()
    if name in ("int", "integer", "int64", "long"):
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    if name in ("float", "double", "decimal", "float64"):
        return pd.to_numeric(series, errors="coerce")
    if name in ("str", "string"):
        return series.astype("string")
    if name in ("bool", "boolean"):
        return series.map(lambda v: str(v).strip().lower() in ("true", "1", "yes", "t", "y")).astype("boolean")
    if name in ("datetime", "date", "timestamp"):
        return pd.to_datetime(series, errors="coerce")
    raise UserErrorException("set_column_types: unknown type %r (use int, float, str, bool or datetime)." % (typ,))


# -- factories ------------------------------------------------------------------------------
class FileDatasetFactory(object):
    """``Dataset.File``."""

    @staticmethod
    def from_files(path, validate=True, partition_format=None, is_file=False):
        """A FileDataset of ``path``: an http(s) URL, a local file, folder or glob, a
        ``(datastore, 'folder/**')`` pair or DataPath, or a list of them. With
        ``validate`` the sources are checked now (URLs answer, globs match, folders hold
        files) and errors name the failing one."""
        sources, stores = parse_paths(path)
        ds = FileDataset({"sources": sources}, datastores=stores, workspace=_workspace_of(stores))
        if validate:
            ds._manifest()
        return ds

    @staticmethod
    def upload_directory(src_dir, target, pattern=None, overwrite=False, show_progress=True):
        """Upload ``src_dir`` to ``target`` (a (datastore, path) pair or DataPath) and
        return a FileDataset of it."""
        store, path = (target.datastore, target.path_on_datastore) if hasattr(target, "path_on_datastore") \
            else target
        store.upload(src_dir, target_path=path, overwrite=overwrite, show_progress=show_progress)
        return FileDatasetFactory.from_files((store, (path.strip("/") + "/" if path else "") + (pattern or "**")))


class TabularDatasetFactory(object):
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(path, validate=True, include_path=False, infer_column_types=True,
                             set_column_types=None, separator=",", header=True, partition_format=None,
                             support_multi_line=False, empty_as_string=False, encoding="utf8"):
        """A TabularDataset of delimited text files (CSV by default; ``.gz``/``.bz2``/
        ``.zip``/``.xz`` are decompressed). Sources as for ``Dataset.File.from_files``."""
        sources, stores = parse_paths(path)
        if hasattr(header, "value"):  # a header-behavior enum: 0 means no header
            header = bool(header.value)
        types = None
        if set_column_types:
            types = dict((str(k), v if isinstance(v, str) else getattr(v, "__name__", str(v)))
                         for k, v in set_column_types.items())
        opts = {"separator": separator, "header": bool(header), "include_path": bool(include_path),
                "infer_column_types": bool(infer_column_types), "set_column_types": types,
                "empty_as_string": bool(empty_as_string), "encoding": encoding,
                "support_multi_line": bool(support_multi_line)}
        ds = TabularDataset({"sources": sources, "tabular": opts}, datastores=stores,
                            workspace=_workspace_of(stores))
        if validate:
            ds._manifest()
        return ds


def _workspace_of(stores):
    for s in stores.values():
        return s._workspace
    return None


Dataset.File = FileDatasetFactory
Dataset.Tabular = TabularDatasetFactory


# -- consumption config ---------------------------------------------------------------------------
class DatasetConsumptionConfig(object):
    """How a run receives a dataset: ``name`` (the key of ``input_datasets`` and an
    environment variable in the run), ``mode`` ('mount', 'download' or 'direct') and
    ``path_on_compute`` (absolute, or relative to the run's inputs folder).

    In ScriptRunConfig arguments it becomes the placeholder
    ``DatasetConsumptionConfig:<name>``, replaced on the node by the local folder. A
    FileDataset consumed 'direct' is mounted; a TabularDataset consumed 'direct' gives
    the dataset id (``Dataset.get_by_id`` loads it in the script)."""

    def __init__(self, name, dataset, mode="direct", path_on_compute=None):
        if not isinstance(name, str) or not _INPUT_NAME.match(name):
            raise UserErrorException("Input name %r must be letters, digits and '_' (not first a digit): "
                                     "it becomes an environment variable in the run." % (name,))
        if mode not in ("direct", "mount", "download"):
            raise UserErrorException("mode must be 'direct', 'mount' or 'download', not %r." % (mode,))
        if not isinstance(dataset, Dataset):
            raise UserErrorException("DatasetConsumptionConfig needs a Dataset, got %s." % type(dataset).__name__)
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute=None):
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def _spec(self, workspace):
        rec = self.dataset._ensure_saved(workspace)
        mode = self.mode
        if mode == "direct" and rec.get("kind") != "tabular":
            mode = "mount"
        return {"id": rec["id"], "name": rec.get("name"), "version": rec.get("version"),
                "fingerprint": rec["fingerprint"], "kind": rec.get("kind"), "mode": mode,
                "path_on_compute": self.path_on_compute}

    def __repr__(self):
        return "DatasetConsumptionConfig(name=%r, mode=%r, path_on_compute=%r)" % (
            self.name, self.mode, self.path_on_compute)


def _run_inputs(workspace, arguments, data=None):
    """For ScriptRunConfig: ``(arguments with placeholders, inputDatasets)``. Datasets
    and DatasetConsumptionConfigs among ``arguments`` and in ``run_config.data`` are saved
    in ``workspace`` (unregistered ones without a name) and described for the run host."""
    inputs = {}

    def add(cfg):
        if isinstance(cfg, Dataset):
            cfg = DatasetConsumptionConfig(cfg._default_input_name(), cfg, "direct")
        spec = cfg._spec(workspace)
        if cfg.name in inputs and inputs[cfg.name] != spec:
            raise UserErrorException("Two different run inputs are named %r; give each its own "
                                     "as_named_input(name)." % cfg.name)
        inputs[cfg.name] = spec
        return PLACEHOLDER % cfg.name

    out = [add(a) if isinstance(a, (Dataset, DatasetConsumptionConfig)) else a for a in arguments]
    for value in (data or {}).values():
        if isinstance(value, (Dataset, DatasetConsumptionConfig)):
            add(value)
    return out, inputs
