"""Data for runs: resolution of dataset sources, the node-local cache, run inputs.

- ``kyanite.data.sources``: what ``Dataset.File.from_files(path=...)`` accepts (local
  files, folders and globs, http(s) URLs, ``(datastore, 'folder/**')`` pairs) and how it
  becomes a manifest of files with sizes and checksums or ETags;
- ``kyanite.data.cache``: the content cache under ``KYANITE_CACHE_DIR`` (a dataset
  version is downloaded once per node, resumably, verified, never half-written);
- ``kyanite.data.inputs``: ``materialize_run_inputs``, which the run host calls before a
  script starts (mount = read-only folder of links into the cache, download = copies);
- ``kyanite.data.backends``: the datastore backends of the workspace server (workspace
  storage, S3-compatible buckets through fsspec/s3fs).

As in the SDK v1's data package, ``FileDataset``, ``TabularDataset``, ``DatasetConsumptionConfig``
and ``DataPath`` can be imported from here (loaded on first use, so the run host does
not import the SDK).
"""

from kyanite.data._common import DataError
from kyanite.data.inputs import materialize_run_inputs

__all__ = ["DataError", "materialize_run_inputs", "FileDataset", "TabularDataset",
           "DatasetConsumptionConfig", "DataPath"]


def __getattr__(name):
    if name in ("FileDataset", "TabularDataset", "DatasetConsumptionConfig"):
        from kyanite.core import dataset
        return getattr(dataset, name)
    if name == "DataPath":
        from kyanite.data.datapath import DataPath
        return DataPath
    raise AttributeError("module 'kyanite.data' has no attribute %r" % name)
