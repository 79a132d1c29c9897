"""Repository of datastores and datasets (tables ``datastores``, ``datasets``; rev. 0003).

- A *datastore* record is ``{"name", "type", "default", "bucket", "endpointUrl",
  "region", "prefix", "credentials", "createdUtc"}``; ``credentials`` are masked
  (``mask_secret``). The credentials themselves are returned only by
  ``datastore_secret`` for the server's own use and never put into an API reply. The
  workspace datastore ``workspaceblobstore`` is built in and has no row.
- A *dataset* record is ``{"id", "name", "version", "kind", "description", "tags",
  "definition", "fingerprint", "fileCount", "totalSize", "createdUtc"}`` plus ``files``
  (the manifest) when asked for. Versions of a name count 1, 2, ... Datasets saved for a
  run without registration have no name and no version. Records never change after they
  are written, so a node may cache them by id.

Thread safety: writers hold the store's write lock, so version numbers never collide.
"""

import json
import time
import uuid
from typing import Any

from sqlalchemy import select

from kyanite.data._common import fingerprint
from kyanite.data.backends import DEFAULT_DATASTORE
from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.store import schema as s

__all__ = ["DataRepository", "mask_secret"]


def _iso(t: Any) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "/" in name or name != name.strip():
        raise UserErrorException("Invalid %s name %r: use 1-255 characters without '/'." % (what, name))


def mask_secret(secret: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"accessKeyId": "****WXYZ", "secretAccessKey": "********"}`` (None when unset)."""
    if not secret:
        return None
    out: dict[str, Any] = {}
    key = secret.get("access_key_id")
    if key:
        out["accessKeyId"] = "****" + key[-4:] if len(key) >= 12 else "****"
    if secret.get("secret_access_key"):
        out["secretAccessKey"] = "********"
    return out or None


def default_datastore_record() -> dict[str, bool | str | None]:
    return {"name": DEFAULT_DATASTORE, "type": "Workspace", "default": True, "bucket": None,
            "endpointUrl": None, "region": None, "prefix": None, "credentials": None, "createdUtc": None}


class DataRepository(object):
    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine

    # -- datastores ------------------------------------------------------------------
    def _ds_record(self, row: Any) -> dict[str, Any]:
        cfg = json.loads(row.config)
        return {"name": row.name, "type": row.type, "default": False, "bucket": cfg.get("bucket"),
                "endpointUrl": cfg.get("endpoint_url"), "region": cfg.get("region"),
                "prefix": cfg.get("prefix"), "credentials": mask_secret(json.loads(row.secret or "null")),
                "createdUtc": _iso(row.created)}

    def create_datastore(self, name: str, type_: str, config: Any, secret: str, overwrite: bool = False) -> Any:
        _check_name("datastore", name)
        if name == DEFAULT_DATASTORE:
            raise ConflictException("%r is the workspace's built-in datastore; choose another name." % name)
        with self.store._write_lock, self.engine.begin() as conn:
            exists = conn.execute(select(s.datastores.c.name).where(s.datastores.c.name == name)).first()
            if exists and not overwrite:
                raise ConflictException("Datastore %r already exists; pass overwrite=True to replace it." % name)
            if exists:
                conn.execute(s.datastores.delete().where(s.datastores.c.name == name))
            conn.execute(s.datastores.insert().values(
                name=name, type=type_, config=json.dumps(config), created=time.time(),
                secret=json.dumps(secret) if secret else None))
        return self.datastore(name)

    def datastore(self, name: str) -> Any:
        if name == DEFAULT_DATASTORE:
            return default_datastore_record()
        with self.engine.connect() as conn:
            row = conn.execute(select(s.datastores).where(s.datastores.c.name == name)).first()
        if row is None:
            raise NotFoundException("No datastore named %r in this workspace. Datastores: %s." % (
                name, ", ".join(d["name"] for d in self.list_datastores())))
        return self._ds_record(row)

    def datastore_config(self, name: str) -> tuple[Any, Any, Any]:
        """``(record, config, secret)``: for the server's backends only."""
        rec = self.datastore(name)
        if rec["default"]:
            return rec, {}, None
        with self.engine.connect() as conn:
            row = conn.execute(select(s.datastores).where(s.datastores.c.name == name)).first()
        return rec, json.loads(row.config), json.loads(row.secret or "null")

    def list_datastores(self) -> list[Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.datastores).order_by(s.datastores.c.name)).all()
        return [default_datastore_record()] + [self._ds_record(r) for r in rows]

    def delete_datastore(self, name: str) -> None:
        if name == DEFAULT_DATASTORE:
            raise UserErrorException("The workspace datastore %r cannot be unregistered." % name)
        self.datastore(name)
        with self.store._write_lock, self.engine.begin() as conn:
            conn.execute(s.datastores.delete().where(s.datastores.c.name == name))

    # -- datasets ----------------------------------------------------------------------
    def _record(self, row: Any, with_files: bool) -> dict[str, Any]:
        rec = {"id": row.id, "name": row.name, "version": row.version, "kind": row.kind,
               "description": row.description, "tags": json.loads(row.tags or "{}"),
               "definition": json.loads(row.definition), "fingerprint": row.fingerprint,
               "fileCount": row.file_count, "totalSize": row.total_size, "createdUtc": _iso(row.created)}
        if with_files:
            rec["files"] = json.loads(row.files)
        return rec

    def save_dataset(self, name: str, kind: str, definition: Any, files: Any, description: str | None = None, tags: dict[str, Any] | None = None,
                     create_new_version: bool = False) -> Any:
        """Register (``name``) or save (no name) a dataset; returns its record.

        The same files and options as the latest version of ``name`` give that version
        back. Other files under an existing name need ``create_new_version``."""
        if kind not in ("file", "tabular"):
            raise UserErrorException("Dataset kind must be 'file' or 'tabular', not %r." % kind)
        if name is not None:
            _check_name("dataset", name)
        if not files:
            raise UserErrorException("A dataset needs at least one file.")
        fp = fingerprint(files, {"kind": kind, "tabular": definition.get("tabular"),
                                 "transforms": definition.get("transforms")})
        sizes = [f.get("size") for f in files]
        total = sum(sizes) if all(x is not None for x in sizes) else None
        t = s.datasets
        with self.store._write_lock, self.engine.begin() as conn:
            if name is None:
                row = conn.execute(select(t).where(t.c.name.is_(None), t.c.fingerprint == fp)
                                   .order_by(t.c.created).limit(1)).first()
                if row is not None:
                    return self._record(row, True)
                version = None
            else:
                row = conn.execute(select(t).where(t.c.name == name).order_by(t.c.version.desc())
                                   .limit(1)).first()
                if row is not None and row.fingerprint == fp:
                    return self._record(row, True)
                if row is not None and not create_new_version:
                    raise ConflictException(
                        "A dataset named %r is already registered (latest version %d) with other files. "
                        "Pass create_new_version=True to register them as version %d." % (
                            name, row.version, row.version + 1))
                version = (row.version if row is not None else 0) + 1
            new_id = str(uuid.uuid4())
            conn.execute(t.insert().values(
                id=new_id, name=name, version=version, kind=kind, description=description,
                tags=json.dumps(dict((str(k), str(v)) for k, v in (tags or {}).items())),
                definition=json.dumps(definition), files=json.dumps(files), fingerprint=fp,
                file_count=len(files), total_size=total, created=time.time()))
        return self.dataset_by_id(new_id)

    def dataset_by_id(self, dataset_id: str, with_files: bool = True) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.datasets).where(s.datasets.c.id == dataset_id)).first()
        if row is None:
            raise NotFoundException("No dataset with id %r in this workspace." % dataset_id)
        return self._record(row, with_files)

    def versions(self, name: str) -> list[Any]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(s.datasets.c.version).where(s.datasets.c.name == name)
                                               .order_by(s.datasets.c.version))]

    def dataset(self, name: str, version: Any = None, with_files: bool = True) -> Any:
        """Version ``version`` of ``name`` (None or "latest": the newest)."""
        t = s.datasets
        q = select(t).where(t.c.name == name)
        if version is None or str(version).lower() == "latest":
            q = q.order_by(t.c.version.desc()).limit(1)
        else:
            try:
                q = q.where(t.c.version == int(version))
            except (TypeError, ValueError):
                raise UserErrorException("Dataset version must be a number or 'latest', not %r." % (version,))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            versions = self.versions(name)
            if not versions:
                names = [d["name"] for d in self.list_datasets()]
                raise NotFoundException("No dataset named %r is registered in this workspace. Registered: %s." % (
                    name, ", ".join(names) if names else "none"))
            raise NotFoundException("Dataset %r has no version %s. Versions: %s." % (
                name, version, ", ".join(str(v) for v in versions)))
        return self._record(row, with_files)

    def list_datasets(self) -> list[Any]:
        """The latest version of every registered dataset, by name."""
        t = s.datasets
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.name.is_not(None))
                                .order_by(t.c.name, t.c.version.desc())).all()
        out, seen = [], set()
        for r in rows:
            if r.name not in seen:
                seen.add(r.name)
                out.append(self._record(r, False))
        return out
