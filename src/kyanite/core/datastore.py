"""Datastore: where a workspace keeps data files (the SDK v1 ``Datastore``).

Every workspace has the built-in datastore ``workspaceblobstore`` in its own storage
(``ws.get_default_datastore()``). ``Datastore.register_s3`` adds an S3-compatible bucket
(any endpoint URL); its credentials are kept by the workspace server, which reads and
writes the bucket itself: they never come back from the API (``credentials`` shows them
masked), nor appear in run logs.

    ds = ws.get_default_datastore()
    ds.upload(src_dir='./data', target_path='mnist', overwrite=True)
    files = Dataset.File.from_files(path=(ds, 'mnist/**'))
"""

import os
import urllib.parse

from kyanite.data.datapath import DataPath
from kyanite.exceptions import UserErrorException

__all__ = ["Datastore", "DataPath"]

DEFAULT_DATASTORE = "workspaceblobstore"


class Datastore(object):
    """``Datastore(workspace, name)`` fetches a registered datastore (the default one
    when ``name`` is None), like ``Datastore.get``."""

    def __init__(self, workspace, name=None, _record=None):
        self._workspace = workspace
        if _record is None:
            _record = workspace._client.get("/api/datastores/%s" % _q(name or DEFAULT_DATASTORE))
        self._record = _record

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def get(workspace, datastore_name):
        """The datastore ``datastore_name`` of ``workspace`` (NotFoundException when absent)."""
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace):
        return Datastore(workspace, DEFAULT_DATASTORE)

    @staticmethod
    def list(workspace):
        return [Datastore(workspace, _record=r) for r in workspace._client.get("/api/datastores")["datastores"]]

    @staticmethod
    def register_s3(workspace, datastore_name, bucket_name, endpoint_url=None, access_key_id=None,
                    secret_access_key=None, region_name=None, prefix=None, overwrite=False,
                    create_if_not_exists=False):
        """Register an S3-compatible bucket (``endpoint_url`` for storage other than the
        default S3 endpoint, e.g. ``http://127.0.0.1:9000``). The server checks that the
        bucket can be listed with these credentials (creating it when
        ``create_if_not_exists``) and keeps the credentials to itself."""
        rec = workspace._client.post("/api/datastores", {
            "name": datastore_name, "type": "S3", "bucket": bucket_name, "endpoint_url": endpoint_url,
            "region": region_name, "prefix": prefix, "access_key_id": access_key_id,
            "secret_access_key": secret_access_key, "overwrite": overwrite,
            "create_if_not_exists": create_if_not_exists})
        return Datastore(workspace, _record=rec)

    def unregister(self):
        """Remove this datastore's registration (its files are left where they are)."""
        self._workspace._client.delete("/api/datastores/%s" % _q(self.name))

    # -- properties ---------------------------------------------------------------------
    @property
    def name(self):
        return self._record["name"]

    @property
    def datastore_type(self):
        return self._record["type"]

    @property
    def workspace(self):
        return self._workspace

    @property
    def is_default(self):
        return bool(self._record.get("default"))

    @property
    def bucket_name(self):
        return self._record.get("bucket")

    container_name = bucket_name

    @property
    def endpoint_url(self):
        return self._record.get("endpointUrl")

    @property
    def region_name(self):
        return self._record.get("region")

    @property
    def prefix(self):
        return self._record.get("prefix")

    @property
    def credentials(self):
        """The credentials as the server shows them: masked."""
        return dict(self._record.get("credentials") or {})

    # -- paths and files ------------------------------------------------------------------
    def path(self, path=None, data_reference_name=None):
        """A DataPath to ``path`` in this datastore (a file, a folder or a glob)."""
        return DataPath(self, path or "", data_reference_name)

    def _files(self, pattern="**"):
        return self._workspace._client.get("/api/datastores/%s/files" % _q(self.name),
                                           params={"pattern": pattern})["files"]

    def upload(self, src_dir, target_path=None, overwrite=False, show_progress=True):
        """Upload every file under the local folder ``src_dir`` to ``target_path`` in the
        datastore. Files that exist there already are skipped unless ``overwrite``.
        Returns a DataPath to ``target_path``."""
        if not os.path.isdir(src_dir):
            raise UserErrorException("upload: %r is not a folder." % (src_dir,))
        files = []
        for root, dirs, names in os.walk(src_dir):
            dirs.sort()
            for fn in sorted(names):
                files.append(os.path.join(root, fn))
        self.upload_files(files, relative_root=src_dir, target_path=target_path, overwrite=overwrite,
                          show_progress=show_progress)
        return self.path(target_path)

    def upload_files(self, files, relative_root=None, target_path=None, overwrite=False, show_progress=True):
        """Upload the local ``files``; each lands at ``target_path`` + its path relative
        to ``relative_root`` (default: the files' common folder). Existing files are
        skipped unless ``overwrite``. Returns a DataPath to ``target_path``."""
        files = [os.path.abspath(f) for f in files]
        for f in files:
            if not os.path.isfile(f):
                raise UserErrorException("upload_files: no such file %r." % f)
        if not files:
            raise UserErrorException("upload_files: no files given.")
        if relative_root is None:
            relative_root = os.path.commonpath([os.path.dirname(f) for f in files])
        relative_root = os.path.abspath(relative_root)
        prefix = (target_path or "").replace("\\", "/").strip("/")
        n = len(files)
        if show_progress:
            print("Uploading an estimated of %d files" % n)
        uploaded = skipped = 0
        for i, f in enumerate(files):
            rel = os.path.relpath(f, relative_root).replace(os.sep, "/")
            if rel.startswith("../"):
                raise UserErrorException("upload_files: %s is not under relative_root %s." % (f, relative_root))
            dest = "%s/%s" % (prefix, rel) if prefix else rel
            with open(f, "rb") as fh:
                reply = self._workspace._client.put(
                    "/api/datastores/%s/files/%s" % (_q(self.name), urllib.parse.quote(dest)), data=fh,
                    params={"overwrite": "true" if overwrite else "false"})
            if reply.get("skipped"):
                skipped += 1
                if show_progress:
                    print("Target already exists. Skipping upload for %s" % dest)
            else:
                uploaded += 1
                if show_progress:
                    print("Uploaded %s, %d files out of an estimated total of %d" % (rel, i + 1, n))
        if show_progress:
            print("Uploaded %d files%s" % (uploaded, ", skipped %d that exist (overwrite=False)" % skipped
                                           if skipped else ""))
        return self.path(target_path)

    def download(self, target_path, prefix=None, overwrite=False, show_progress=True):
        """Download the files under ``prefix`` into the local folder ``target_path``
        (keeping their datastore paths); returns how many were downloaded."""
        pattern = ((prefix or "").strip("/") + "/**").lstrip("/")
        count = 0
        for f in self._files(pattern):
            dest = os.path.join(target_path, *f["path"].split("/"))
            if os.path.exists(dest) and not overwrite:
                if show_progress:
                    print("Target already exists. Skipping download for %s" % f["path"])
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            self._workspace._client.download("/api/datastores/%s/files/%s" % (
                _q(self.name), urllib.parse.quote(f["path"])), dest)
            count += 1
            if show_progress:
                print("Downloaded %s" % f["path"])
        return count

    def __repr__(self):
        d = {"name": self.name, "datastore_type": self.datastore_type}
        if self.bucket_name:
            d.update(bucket_name=self.bucket_name, endpoint_url=self.endpoint_url, prefix=self.prefix,
                     credentials=self.credentials)
        return "Datastore(%s)" % ", ".join("%s=%r" % kv for kv in d.items())

    def __eq__(self, other):
        return isinstance(other, Datastore) and other.name == self.name and other._workspace == self._workspace

    def __hash__(self):
        return hash(self.name)


def _q(name):
    return urllib.parse.quote(name, safe="")
