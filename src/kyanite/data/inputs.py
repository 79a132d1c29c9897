"""Materialize a run's input datasets on the node, before its script starts.

The run definition holds ``inputDatasets``: ``{input name: {"id", "name", "version",
"fingerprint", "mode", "path_on_compute", "kind"}}`` and its arguments hold the
placeholder ``DatasetConsumptionConfig:<input name>`` where a dataset was passed.
``materialize_run_inputs`` (called by the run host while the run is Preparing):

1. reads each dataset's manifest (node cache of records, else the server);
2. makes every file available in the node cache (downloads only what is missing, with
   progress in the run's log; a changed source fails the run naming the file);
3. lays the files out per input: ``mount`` is a read-only folder of hard links into the
   cache (no FUSE: a view of the cached files, made in microseconds; do not write into
   it), ``download`` a folder of real copies. The folder is ``path_on_compute`` when that
   is absolute (it must be empty or absent, and is left in place after the run), else
   ``<run folder>.inputs/<path_on_compute or input name>``, removed with the run folder;
4. returns the arguments with the placeholders replaced by those folders and the
   environment variables for the script: ``KYANITE_INPUT_DATASETS`` (JSON name -> path,
   read by ``Run.get_context().input_datasets``) and, as in the SDK v1, a variable named
   after the input (unless the environment has one of that name already).

A tabular dataset consumed ``direct`` is not materialized: its argument and
``input_datasets`` entry are the dataset id.
"""

import json
import os
import shutil
import time

from kyanite.data._common import DataError, human_size
from kyanite.data.cache import Fetcher, NodeCache, place

__all__ = ["materialize_run_inputs", "RunInputs", "PLACEHOLDER"]

PLACEHOLDER = "DatasetConsumptionConfig:%s"


class RunInputs(object):
    def __init__(self, arguments, env, paths):
        self.arguments = arguments
        self.env = env
        self.paths = paths


def materialize_run_inputs(client, definition, cache_dir, run_dir, log=None):
    """See the module docstring; ``definition`` is the run's ``RunDefinition``. Raises
    DataError with a message naming the dataset and file when an input cannot be prepared."""
    inputs = definition.input_datasets
    cache = NodeCache(cache_dir)
    fetcher = Fetcher(client)
    root = run_dir.rstrip(os.sep) + ".inputs"
    paths = {}
    for name in sorted(inputs):
        spec = inputs[name]
        t0 = time.time()
        mode = (spec.get("mode") or "mount").lower()
        if mode == "direct" and spec.get("kind") == "tabular":
            paths[name] = spec["id"]
            continue
        rec = cache.dataset_record(client, spec["id"], spec.get("fingerprint"))
        desc = "%s (%s)" % (name, _dataset_label(rec))
        files = rec.get("files") or []
        entries_paths, stats = cache.ensure(files, fetcher, log=log, label="dataset %s" % desc)
        where = spec.get("path_on_compute")
        dest = where if where and os.path.isabs(where) else os.path.join(root, where or name)
        if os.path.isdir(dest) and not (where and os.path.isabs(where)):
            shutil.rmtree(dest)
        if mode == "direct":
            mode = "mount"
        if mode not in ("mount", "download"):
            raise DataError("Input %r: unknown mode %r (use as_mount() or as_download())." % (name, mode))
        place(files, entries_paths, dest, mode)
        paths[name] = dest
        if log:
            log("dataset %s: %d files, %s: %d from the node cache, %d downloaded; %s %s in %.3fs" % (
                desc, len(files), human_size(rec.get("totalSize")), stats["cached"], stats["downloaded"],
                "mounted at" if mode == "mount" else "copied to", dest, time.time() - t0))
    arguments = [_substitute(str(a), paths) for a in definition.arguments]
    env = {"KYANITE_INPUT_DATASETS": json.dumps(paths)}
    for name, p in paths.items():
        if name not in os.environ:
            env[name] = p
    return RunInputs(arguments, env, paths)


def _dataset_label(rec):
    if rec.get("name"):
        return "%s:%s" % (rec["name"], rec.get("version"))
    return "unregistered %s" % rec.get("id", "")[:8]


def _substitute(arg, paths):
    for name in sorted(paths, key=len, reverse=True):  # "x:ab" before "x:a"
        p = paths[name]
        ph = PLACEHOLDER % name
        if arg == ph:
            return p
        if ph in arg:
            arg = arg.replace(ph, p)
    return arg
