"""The model registry and deployment records (tables ``models``, ``deployments`` and
``deployment_models``, Alembic revision 0002).

``ModelStore(store)`` works on the engine of a :class:`kyanite.store.database.Store` and
shares its write lock, so it keeps that class's thread-safety contract: any thread of the
server may call any method; every method opens its own short transaction.

Models are ``(name, version)`` with versions counted from 1 per name; their id is
``"name:version"``. A model's files live in the artifact store under
``models/<name>/<version>/<asset>`` where ``asset`` is the registered file's or folder's
own name (see :class:`ModelFiles`). A model used by a deployment cannot be deleted: the
``deployment_models`` rows hold a foreign key to it, and ``delete_model`` says which
deployments use it.

Deployment records hold the desired configuration (``spec``), the current ``state``
(Transitioning, Healthy, Unhealthy, Failed), a ``generation`` bumped by every
(re)deployment, the keys, and the handle of the scoring process. The deployment manager
(:mod:`kyanite.server.deployments`) owns state transitions; routes only read and request.
"""

import json
import os
import secrets
import shutil
import threading
import time
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from kyanite.exceptions import ConflictException, ModelNotFoundException, NotFoundException, UserErrorException
from kyanite.store import schema as s
from kyanite.store.artifacts import LocalArtifactStore, check_key

__all__ = ["ModelStore", "ModelFiles", "model_to_api", "deployment_to_api", "parse_model_id"]

DEPLOYMENT_STATES = ("Transitioning", "Healthy", "Unhealthy", "Failed")


def _iso(t: Any) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def _strs(d: Any) -> dict[str, str]:
    return dict((str(k), "" if v is None else str(v)) for k, v in (d or {}).items())


def check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "/" in name or ":" in name \
            or name in (".", ".."):
        raise UserErrorException("Invalid %s name %r: use 1-255 characters without '/' or ':'." % (what, name))
    return name


def parse_model_id(model_id: str) -> tuple[str, int]:
    """``"name:version"`` -> ``(name, int(version))``."""
    name, sep, version = str(model_id).rpartition(":")
    if not sep or not name:
        raise UserErrorException("Model id %r is not of the form 'name:version'." % (model_id,))
    try:
        return name, int(version)
    except ValueError:
        raise UserErrorException("Model id %r: version %r is not a number." % (model_id, version))


def model_to_api(row: Any, deployments: Any = ()) -> dict[str, Any]:
    return {
        "id": "%s:%d" % (row.name, row.version),
        "name": row.name,
        "version": row.version,
        "asset": row.asset,
        "isFolder": bool(row.is_folder),
        "size": row.size,
        "fileCount": row.file_count,
        "url": "models/%s/%d/%s" % (row.name, row.version, row.asset),
        "description": row.description,
        "tags": json.loads(row.tags or "{}"),
        "properties": json.loads(row.properties or "{}"),
        "modelFramework": row.framework,
        "modelFrameworkVersion": row.framework_version,
        "runId": row.run_id,
        "experimentName": row.experiment_name,
        "datasets": json.loads(row.datasets or "[]"),
        "createdTime": _iso(row.created),
        "updatedTime": _iso(row.updated),
        "deployments": sorted(deployments),
    }


def deployment_to_api(row: Any, models: Any = ()) -> dict[str, Any]:
    spec = json.loads(row.spec)
    config = spec.get("config") or {}
    inference = spec.get("inference") or {}
    host = config.get("host") or "127.0.0.1"
    url = "http://%s:%d" % (host, row.port) if row.port else None
    keys = json.loads(row.keys) if row.keys else None
    process = json.loads(row.process) if row.process else None
    env = inference.get("environment") or {}
    return {
        "name": row.name,
        "computeType": row.compute_type,
        "state": row.state,
        "generation": row.generation,
        "scoringUri": url + "/score" if url else None,
        "swaggerUri": url + "/swagger.json" if url else None,
        "port": row.port,
        "models": ["%s:%d" % m for m in sorted(models)],
        "authEnabled": bool(config.get("authEnabled")),
        "tokenAuthEnabled": bool(config.get("tokenAuthEnabled")),
        "hasKeys": bool(keys),
        "cpuCores": config.get("cpuCores"),
        "memoryGb": config.get("memoryGb"),
        "entryScript": inference.get("entryScript"),
        "environment": {"name": env.get("name"), "version": env.get("version")},
        "inference": inference,
        "tags": json.loads(row.tags or "{}"),
        "properties": json.loads(row.properties or "{}"),
        "description": row.description,
        "createdTime": _iso(row.created),
        "updatedTime": _iso(row.updated),
        "error": json.loads(row.error) if row.error else None,
        "pid": process.get("pid") if process else None,
    }


class ModelStore(object):
    """Repository of models and deployments on a Store's engine (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine
        self._write_lock = store._write_lock
        self._register_lock = threading.Lock()  # allocates versions; files move in under it

    # -- models ---------------------------------------------------------------------
    def _deployments_of(self, conn: Connection, pairs: Any) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        if not pairs:
            return out
        q = select(s.deployment_models.c.model_name, s.deployment_models.c.model_version,
                   s.deployment_models.c.deployment)
        names = sorted(set(n for n, _ in pairs))
        for r in conn.execute(q.where(s.deployment_models.c.model_name.in_(names))):
            out.setdefault((r.model_name, r.model_version), []).append(r.deployment)
        return out

    def register_model(self, name: str, place_files: Any, asset: Any, is_folder: Any, size: int, file_count: Any, description: str | None = None,
                       tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None, framework: str | None = None, framework_version: Any = None, run_id: str | None = None,
                       experiment_name: str | None = None, datasets: Any = None) -> Any:
        """Add the next version of ``name``. ``place_files(version)`` puts the files where
        that version's files belong; it runs under the version lock, before the row exists,
        so a reader never sees a model without its files."""
        check_name("model", name)
        with self._register_lock:
            with self.engine.connect() as conn:
                last = conn.execute(select(func.max(s.models.c.version)).where(s.models.c.name == name)).scalar()
            version = (last or 0) + 1
            place_files(version)
            now = time.time()
            with self._write_lock, self.engine.begin() as conn:
                conn.execute(s.models.insert().values(
                    name=name, version=version, asset=asset, is_folder=bool(is_folder), size=int(size),
                    file_count=int(file_count), description=description, tags=json.dumps(_strs(tags)),
                    properties=json.dumps(_strs(properties)), framework=framework,
                    framework_version=framework_version, run_id=run_id, experiment_name=experiment_name,
                    datasets=json.dumps(datasets or []), created=now, updated=now))
        return self.model(name, version)

    def model(self, name: str, version: Any = None) -> Any:
        q = select(s.models).where(s.models.c.name == name)
        if version is None:
            q = q.order_by(s.models.c.version.desc()).limit(1)
        else:
            try:
                q = q.where(s.models.c.version == int(version))
            except (TypeError, ValueError):
                raise UserErrorException("Model version %r is not a number." % (version,))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
            if row is None:
                versions = [r.version for r in conn.execute(
                    select(s.models.c.version).where(s.models.c.name == name).order_by(s.models.c.version))]
                if version is None or not versions:
                    raise ModelNotFoundException("ModelNotFound: no model named %r is registered in this "
                                                 "workspace." % name)
                raise ModelNotFoundException("ModelNotFound: model %r has no version %s; its versions are %s."
                                             % (name, version, ", ".join(str(v) for v in versions)))
            deps = self._deployments_of(conn, [(row.name, row.version)])
        return model_to_api(row, deps.get((row.name, row.version), ()))

    def list_models(self, name: str | None = None, run_id: str | None = None, framework: str | None = None, latest: bool = False, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None) -> list[Any]:
        """Models newest first within each name. ``tags``/``properties``: a list whose items
        are a key (must be present) or ``[key, value]`` (must be equal)."""
        q = select(s.models)
        if name is not None:
            q = q.where(s.models.c.name == name)
        if run_id is not None:
            q = q.where(s.models.c.run_id == run_id)
        if framework is not None:
            q = q.where(s.models.c.framework == framework)
        q = q.order_by(s.models.c.name, s.models.c.version.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            deps = self._deployments_of(conn, [(r.name, r.version) for r in rows])
        out, seen = [], set()
        for r in rows:
            if latest and r.name in seen:
                continue
            rec = model_to_api(r, deps.get((r.name, r.version), ()))
            if _matches(rec["tags"], tags) and _matches(rec["properties"], properties):
                out.append(rec)
                seen.add(r.name)
        return out

    def update_model(self, name: str, version: Any, add_tags: Any = None, remove_tags: list[str] | None = None, set_tags: Any = None,
                     add_properties: Any = None, description: str | None = None) -> Any:
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.models).where(and_(
                s.models.c.name == name, s.models.c.version == int(version)))).first()
            if row is None:
                raise ModelNotFoundException("ModelNotFound: no model %s:%s." % (name, version))
            values: dict[str, Any] = {}
            if set_tags is not None or add_tags or remove_tags:
                cur = _strs(set_tags) if set_tags is not None else json.loads(row.tags)
                cur.update(_strs(add_tags))
                for k in remove_tags or ():
                    cur.pop(k, None)
                values["tags"] = json.dumps(cur)
            if add_properties:
                cur = json.loads(row.properties)
                for k, v in _strs(add_properties).items():
                    if k in cur and cur[k] != v:
                        raise ConflictException("Property %r of model %s:%s is already %r; properties cannot "
                                                "be changed once set." % (k, name, version, cur[k]))
                    cur[k] = v
                values["properties"] = json.dumps(cur)
            if description is not None:
                values["description"] = description
            if values:
                values["updated"] = time.time()
                conn.execute(update(s.models).where(and_(
                    s.models.c.name == name, s.models.c.version == int(version))).values(**values))
        return self.model(name, version)

    def delete_model(self, name: str, version: Any) -> Any:
        """Delete the record; refused (ConflictException) while a deployment uses it."""
        rec = self.model(name, version)
        if rec["deployments"]:
            raise ConflictException("Model %s is used by deployment(s) %s; delete or update them first."
                                    % (rec["id"], ", ".join(rec["deployments"])))
        with self._write_lock, self.engine.begin() as conn:
            used = conn.execute(select(s.deployment_models.c.deployment).where(and_(
                s.deployment_models.c.model_name == name,
                s.deployment_models.c.model_version == int(version)))).first()
            if used is not None:
                raise ConflictException("Model %s is used by deployment %s." % (rec["id"], used.deployment))
            conn.execute(s.models.delete().where(and_(s.models.c.name == name, s.models.c.version == int(version))))
        return rec

    # -- deployments ------------------------------------------------------------------
    def _models_of(self, conn: Connection, names: Any) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        q = select(s.deployment_models)
        if names is not None:
            q = q.where(s.deployment_models.c.deployment.in_(list(names)))
        for r in conn.execute(q):
            out.setdefault(r.deployment, []).append((r.model_name, r.model_version))
        return out

    def _set_models(self, conn: Connection, name: str, models: Any) -> None:
        conn.execute(s.deployment_models.delete().where(s.deployment_models.c.deployment == name))
        for mname, mversion in sorted(set(models)):
            exists = conn.execute(select(s.models.c.version).where(and_(
                s.models.c.name == mname, s.models.c.version == mversion))).first()
            if exists is None:
                raise ModelNotFoundException("ModelNotFound: no model %s:%s is registered." % (mname, mversion))
            conn.execute(s.deployment_models.insert().values(deployment=name, model_name=mname,
                                                             model_version=mversion))

    def create_deployment(self, name: str, compute_type: str, spec: Any, models: Any, keys: dict[str, str] | None = None, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
                          description: str | None = None, state: str = "Transitioning", generation: int = 1) -> Any:
        check_name("service", name)
        now = time.time()
        with self._write_lock, self.engine.begin() as conn:
            if conn.execute(select(s.deployments.c.name).where(s.deployments.c.name == name)).first():
                raise ConflictException("A service named %r already exists; use overwrite=True, "
                                        "service.update(...) or service.delete() first." % name)
            conn.execute(s.deployments.insert().values(
                name=name, compute_type=compute_type, state=state, generation=generation,
                spec=json.dumps(spec),
                keys=json.dumps(keys) if keys else None, secret=secrets.token_urlsafe(32), port=None,
                process=None, error=None, tags=json.dumps(_strs(tags)), properties=json.dumps(_strs(properties)),
                description=description, created=now, updated=now))
            self._set_models(conn, name, models)
        return self.deployment(name)

    def deployment_row(self, name: str) -> tuple[Any, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.deployments).where(s.deployments.c.name == name)).first()
            if row is None:
                raise NotFoundException("No service named %r in this workspace." % name)
            models = self._models_of(conn, [name]).get(name, [])
        return row, models

    def deployment(self, name: str) -> Any:
        row, models = self.deployment_row(name)
        return deployment_to_api(row, models)

    def list_deployments(self, compute_type: str | None = None, model_name: str | None = None, model_id: str | None = None, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None) -> list[Any]:
        q = select(s.deployments).order_by(s.deployments.c.name)
        if compute_type is not None:
            q = q.where(func.lower(s.deployments.c.compute_type) == compute_type.lower())
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            models = self._models_of(conn, None)
        out = []
        want = parse_model_id(model_id) if model_id else None
        for r in rows:
            ms = models.get(r.name, [])
            if model_name is not None and model_name not in [m[0] for m in ms]:
                continue
            if want is not None and want not in ms:
                continue
            rec = deployment_to_api(r, ms)
            if _matches(rec["tags"], tags) and _matches(rec["properties"], properties):
                out.append(rec)
        return out

    def update_deployment(self, name: str, models: Any = None, expect_generation: int | None = None, **values: Any) -> Any:
        """Change columns (``spec``/``keys``/``process``/``error`` given as objects) and,
        with ``models``, the models used. With ``expect_generation`` the change applies only
        while the record is at that generation; returns None when it did not."""
        for k in ("spec", "keys", "process", "error"):
            if k in values and values[k] is not None and not isinstance(values[k], str):
                values[k] = json.dumps(values[k])
        for k in ("tags", "properties"):
            if k in values:
                values[k] = json.dumps(_strs(values[k]))
        values["updated"] = time.time()
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.deployments.c.generation).where(s.deployments.c.name == name)).first()
            if row is None:
                raise NotFoundException("No service named %r in this workspace." % name)
            if expect_generation is not None and row.generation != expect_generation:
                return None
            conn.execute(update(s.deployments).where(s.deployments.c.name == name).values(**values))
            if models is not None:
                self._set_models(conn, name, models)
        return self.deployment(name)

    def delete_deployment(self, name: str) -> None:
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(s.deployment_models.delete().where(s.deployment_models.c.deployment == name))
            n = conn.execute(s.deployments.delete().where(s.deployments.c.name == name)).rowcount
        if not n:
            raise NotFoundException("No service named %r in this workspace." % name)

    def deployment_names(self) -> list[Any]:
        with self.engine.connect() as conn:
            return [r.name for r in conn.execute(select(s.deployments.c.name).order_by(s.deployments.c.name))]


def _matches(have: Any, want: Any) -> bool:
    """``want``: None, a dict, or a list of keys and ``[key, value]`` pairs (SDK v1 filters)."""
    if not want:
        return True
    if isinstance(want, dict):
        return all(have.get(str(k)) == str(v) for k, v in want.items())
    for item in want:
        if isinstance(item, (list, tuple)):
            if len(item) != 2 or have.get(str(item[0])) != str(item[1]):
                return False
        elif str(item) not in have:
            return False
    return True


class ModelFiles(object):
    """The files of registered models, in an artifact store under ``models/<name>/<version>/``.

    Files come in through a staging prefix (``models/.staging/<token>/``) and are moved to
    their version's prefix once the version is known; on the local store that is one rename.
    """

    def __init__(self, artifacts: Any) -> None:
        self.artifacts = artifacts

    @staticmethod
    def prefix(name: str, version: Any) -> str:
        return "models/%s/%d" % (name, int(version))

    def _local(self, key: str) -> Any:
        if isinstance(self.artifacts, LocalArtifactStore):
            return os.path.join(self.artifacts.root, *check_key(key).split("/"))
        return None

    def new_staging(self) -> str:
        return "models/.staging/%s" % secrets.token_hex(8)

    def move(self, src_prefix: Any, dst_prefix: Any) -> None:
        src, dst = self._local(src_prefix), self._local(dst_prefix)
        if src is not None:
            if os.path.exists(dst):
                shutil.rmtree(dst)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.rename(src, dst)
            return
        for f in self.artifacts.list(src_prefix):  # a store without rename: copy
            with open(self.artifacts.local_path(src_prefix + "/" + f["path"]), "rb") as fh:
                self.artifacts.put(dst_prefix + "/" + f["path"], fh)
        self.remove(src_prefix)

    def remove(self, prefix: str) -> None:
        path = self._local(prefix)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        elif hasattr(self.artifacts, "delete_prefix"):
            self.artifacts.delete_prefix(prefix)

    def copy_in(self, staging: Any, rel: str, local_file: Any) -> Any:
        with open(local_file, "rb") as fh:
            return self.artifacts.put(staging + "/" + rel, fh)

    def list(self, name: str, version: Any) -> Any:
        return self.artifacts.list(self.prefix(name, version))

    def local_path(self, name: str, version: Any, rel: str) -> Any:
        return self.artifacts.local_path(self.prefix(name, version) + "/" + check_key(rel))

    def local_dir(self, name: str, version: Any) -> Any:
        """The folder holding the version's files when the store is local, else None."""
        return self._local(self.prefix(name, version))
