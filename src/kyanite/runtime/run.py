"""The in-script Run: one tracked execution of a script, as in the Azure ML SDK v1.

This is what a training script gets from ``Run.get_context()``: metrics, tags and
properties, files, child runs, status. It talks to the workspace server over REST only.
Standard library only and Python 3.6 compatible, because it is placed into every run
environment; it never imports the SDK. The SDK's Run (``kyanite.core.run.Run``, which
``experiment.submit`` and ``start_logging`` return) subclasses it and registers itself
here on import (``register_sdk``), so the runs this module builds (the context run, a
parent, children) are SDK runs wherever the SDK is loaded.

Inside a run the run host sets ``KYANITE_RUN_ID``, ``KYANITE_SERVER_URL``,
``KYANITE_TOKEN``, ``KYANITE_EXPERIMENT`` and ``KYANITE_METRICS_SPOOL``; without them
``Run.get_context()`` returns an offline run that prints what is logged.
"""

import io
import json
import numbers
import os
import sys
import time
from urllib.parse import quote

from kyanite.exceptions import (
    ActivityFailedException, NotFoundException, RunEnvironmentException, UserErrorException,
)
from kyanite import settings
from kyanite.protocol.runfiles import DRIVER_LOG
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.runtime import _sinks
from kyanite.runtime._http import Client

__all__ = ["Run", "RunStatus", "TERMINAL_STATES"]


_context_run = None
#: Names of the metrics the run host samples (kyanite.runtime.system_metrics).
SYSTEM_PREFIX = "system/"

#: Filled when the SDK is imported (``kyanite.core.run`` calls ``register_sdk``): the classes
#: the runs built here take. Empty in a run environment, where this module's classes serve.
_SDK = {}


def register_sdk(run_class, offline_class):
    """Build the runs this module makes (``Run.get_context()``, ``run.parent``,
    ``child_run``, ``get_children``) as ``run_class``, a subclass of Run taking the same
    constructor arguments, and the offline context run as ``offline_class``. The SDK calls
    this once, on import; nothing else should."""
    _SDK["run"], _SDK["offline"] = run_class, offline_class


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise UserErrorException("A metric name must be a non-empty string, got %r." % (name,))


def _as_value(name, value):
    """A ``run.log`` value as it is stored: text stays a str, an integer (Python, numpy)
    stays an int, any other number (bool, numpy/jax 0-d arrays) becomes a float."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes) or value is None:
        raise UserErrorException(
            "Metric %r: value %r is neither a number nor text. run.log takes int, float or str "
            "values." % (name, value))
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Number):
        return float(value)
    if getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u") and getattr(value, "ndim", 1) == 0:
        return int(value)  # a 0-d integer array
    try:
        return float(value)  # numpy/jax 0-d arrays and other scalars
    except (TypeError, ValueError):
        raise UserErrorException(
            "Metric %r: value of type %s is not a number or text. run.log takes int, float or "
            "str values; log a sequence with run.log_list." % (name, type(value).__name__))


class Run(object):
    """A run of an experiment, as a training script sees it.

    Use ``Run.get_context()`` in a training script. Fetching a run by id
    (``Run(experiment, run_id)``, ``Run.get(workspace, run_id)``) is the SDK's Run.
    """

    def __init__(self, experiment, run_id, _client=None, _details=None, _sink=None):
        if _client is None:
            raise RunEnvironmentException(
                "Run(experiment, run_id) needs the kyanite SDK (kyanite.core), which this environment "
                "lacks; in a training script use Run.get_context().")
        self._experiment = experiment
        self._client = _client
        self._id = run_id
        self._details = _details if _details is not None else self._client.get("/api/runs/" + run_id)
        self._sink_obj = _sink
        self._offline = False

    @property
    def _sink(self):
        """Where this run's points go: the spool in a script, else a shared HTTP batcher."""
        if self._sink_obj is None:
            self._sink_obj = _http_sink(self._client)
        return self._sink_obj

    # -- construction helpers ------------------------------------------------
    @classmethod
    def _from_details(cls, client, details, experiment=None, sink=None):
        """A run of this class from its record as the server sent it (no request)."""
        return cls(experiment, details["runId"], _client=client, _details=details, _sink=sink)

    @classmethod
    def get_context(cls, allow_offline=True):
        """The run this script executes in; offline (printing) outside of a run."""
        global _context_run
        if _context_run is not None:
            return _context_run
        run_id = settings.get("KYANITE_RUN_ID")
        if not run_id:
            if not allow_offline:
                raise RunEnvironmentException(
                    "Run.get_context(allow_offline=False) called outside of a kyanite run.")
            _context_run = _SDK.get("offline", _OfflineRun)()
            return _context_run
        client = Client(settings.require("KYANITE_SERVER_URL"), settings.get("KYANITE_TOKEN"),
                        retry_seconds=300.0)
        spool = settings.get("KYANITE_METRICS_SPOOL")
        sink = _sinks.SpoolSink(spool) if spool else _sinks.HttpSink(client)
        details = {"runId": run_id, "experiment": settings.get("KYANITE_EXPERIMENT"),
                   "status": RunStatus.RUNNING}
        run_class = _SDK.get("run", Run) if cls is Run else cls
        _context_run = run_class(None, run_id, _client=client, _details=details, _sink=sink)
        return _context_run

    # -- identity ------------------------------------------------------------
    @property
    def id(self):
        return self._id

    @property
    def name(self):
        return self._details.get("displayName") or self._id

    display_name = name

    @property
    def number(self):
        return self._details.get("number")

    @property
    def type(self):
        return self._details.get("runType", "run")

    @property
    def parent(self):
        pid = self._refresh().get("parentRunId")
        return _run_from_details(self._client, self._client.get("/api/runs/" + pid)) if pid else None

    @property
    def experiment(self):
        """The run's Experiment: an SDK object, so the SDK's Run makes it when not given."""
        if self._experiment is None:
            raise RunEnvironmentException(
                "run.experiment needs the full kyanite package in this environment.")
        return self._experiment

    @property
    def status(self):
        return self.get_status()

    @property
    def input_datasets(self):
        """Inside the run's script: ``{input name: local folder}`` of the datasets passed
        with as_mount()/as_download() (a tabular dataset consumed direct gives its id).
        Elsewhere: the run's record of its inputs (name, id, version, fingerprint, mode)."""
        paths = settings.get("KYANITE_INPUT_DATASETS")
        if paths and self._id == settings.get("KYANITE_RUN_ID"):
            return dict(paths)
        return dict(self._refresh().get("inputDatasets") or {})

    # -- details ---------------------------------------------------------------
    def _refresh(self):
        self._details = self._client.get("/api/runs/" + self._id)
        return self._details

    def get_status(self):
        return self._refresh()["status"]

    def get_details(self):
        """The run's record: runId, target, status, times, properties, runDefinition,
        logFiles, error (when failed), resolvedPackages."""
        return dict(self._refresh())

    def get_details_with_logs(self):
        details = self.get_details()
        details["logFiles"] = dict((name, self._read_log(name, 0)[0].decode("utf-8", "replace"))
                                   for name in details.get("logFiles", {}))
        return details

    # -- metrics ---------------------------------------------------------------
    def log(self, name, value, description="", step=None):
        """Log a number or a string; logging a name again appends to its series. An int
        comes back from get_metrics as an int, a str as the str."""
        _check_name(name)
        self._sink.scalar(self._id, name, _as_value(name, value))

    def log_list(self, name, value, description=""):
        """Log a list of numbers and strings as one series."""
        _check_name(name)
        values = [_as_value(name, v) for v in value]  # all or nothing
        for v in values:
            self._sink.scalar(self._id, name, v)

    def log_row(self, name, description=None, **kwargs):
        """Log one row of a table metric; get_metrics gives ``{column: [values]}``."""
        _check_name(name)
        self._sink.record(self._id, name, "row", _jsonable(name, kwargs))

    def log_table(self, name, value, description=""):
        """Log a table as ``{column: [values]}``."""
        _check_name(name)
        if not isinstance(value, dict):
            raise UserErrorException("log_table %r: value must be a dict of column lists." % name)
        self._sink.record(self._id, name, "table", _jsonable(name, value))

    def log_image(self, name, path=None, plot=None, description=""):
        """Log an image from a file ``path`` or a matplotlib figure ``plot``."""
        _check_name(name)
        if (path is None) == (plot is None):
            raise UserErrorException("log_image %r: give exactly one of path= or plot=." % name)
        if plot is not None:
            buf = io.BytesIO()
            fig = plot.gcf() if hasattr(plot, "gcf") else plot
            fig.savefig(buf, format="png")
            data, ext = buf.getvalue(), ".png"
        else:
            if not os.path.isfile(path):
                raise UserErrorException("log_image %r: no such file %r." % (name, path))
            with open(path, "rb") as f:
                data = f.read()
            ext = os.path.splitext(path)[1] or ".png"
        artifact = "images/%s_%d%s" % (_safe_name(name), int(time.time() * 1000), ext)
        self._client.put("/api/runs/%s/artifacts/%s" % (self._id, artifact), data=data)
        self._sink.record(self._id, name, "image", artifact)

    def flush(self):
        """Send buffered metric points now (they are sent in the background anyway)."""
        self._sink.flush()

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False, include_system=False):
        """Metrics by name: a value logged once, a list when logged repeatedly, a dict
        of column lists for rows and tables. ``recursive`` returns ``{run_id: metrics}``
        for this run and its descendants. The run host's samples (``system/...``: CPU,
        memory, GPUs) are left out, as in SDK v1, unless ``include_system`` is true or
        ``name`` asks for one."""
        self.flush()
        if recursive:
            out = {self._id: self.get_metrics(name, include_system=include_system)}
            for child in self.get_children(recursive=True):
                out[child.id] = child.get_metrics(name, include_system=include_system)
            return out
        data = self._client.get("/api/runs/%s/metrics" % self._id, params={"name": name})
        return dict((m["name"], _shape_metric(m)) for m in data["metrics"]
                    if include_system or name is not None or not m["name"].startswith(SYSTEM_PREFIX))

    # -- tags and properties -----------------------------------------------------
    def tag(self, key, value=None):
        self.set_tags({key: "" if value is None else value})

    def set_tags(self, tags):
        self._details = self._client.patch("/api/runs/%s" % self._id,
                                           {"tags": dict((k, str(v)) for k, v in tags.items())})

    def remove_tags(self, tags):
        self._details = self._client.patch("/api/runs/%s" % self._id, {"remove_tags": list(tags)})

    def get_tags(self):
        return dict(self._refresh().get("tags") or {})

    def add_properties(self, properties):
        """Add immutable properties; changing an existing key's value is refused."""
        self._details = self._client.patch("/api/runs/%s" % self._id,
                                           {"properties": dict((k, str(v)) for k, v in properties.items())})

    def get_properties(self):
        return dict(self._refresh().get("properties") or {})

    # -- files -------------------------------------------------------------------
    def get_file_names(self):
        return [f["path"] for f in self._client.get("/api/runs/%s/artifacts" % self._id)["files"]]

    def download_file(self, name, output_file_path=None, _validate_checksum=False):
        """Download the run file ``name`` to ``output_file_path`` (a file or a folder)."""
        name = _check_artifact_name(name)
        if output_file_path is None:
            output_file_path = os.path.basename(name)
        elif os.path.isdir(output_file_path):
            output_file_path = os.path.join(output_file_path, os.path.basename(name))
        parent = os.path.dirname(os.path.abspath(output_file_path))
        if not os.path.isdir(parent):
            os.makedirs(parent)
        try:
            return self._client.download("/api/runs/%s/artifacts/%s" % (self._id, quote(name, safe="/")),
                                         output_file_path)
        except NotFoundException:
            raise NotFoundException("Run %s has no file %r. Files: %s" % (
                self._id, name, ", ".join(self.get_file_names()[:20]) or "(none)"))

    def download_files(self, prefix=None, output_directory=None, output_paths=None,
                       batch_size=100, append_prefix=True):
        """Download every run file under ``prefix`` into ``output_directory``."""
        output_directory = output_directory or os.getcwd()
        names = [n for n in self.get_file_names() if not prefix or n.startswith(prefix)]
        for n in names:
            rel = n if append_prefix or not prefix else n[len(prefix):].lstrip("/")
            self.download_file(n, os.path.join(output_directory, rel))
        return names

    def upload_file(self, name, path_or_stream):
        """Store a local file (or stream) as the run file ``name``."""
        name = _check_artifact_name(name)
        if hasattr(path_or_stream, "read"):
            data = path_or_stream.read()
        else:
            if not os.path.isfile(path_or_stream):
                raise UserErrorException("upload_file: no such file %r." % (path_or_stream,))
            with open(path_or_stream, "rb") as f:
                data = f.read()
        self._client.put("/api/runs/%s/artifacts/%s" % (self._id, quote(name, safe="/")), data=data)

    def upload_files(self, names, paths):
        for n, p in zip(names, paths):
            self.upload_file(n, p)

    def upload_folder(self, name, path):
        """Store every file under the local folder ``path`` beneath the run folder ``name``."""
        if not os.path.isdir(path):
            raise UserErrorException("upload_folder: no such folder %r." % (path,))
        for root, _dirs, files in os.walk(path):
            for fn in files:
                full = os.path.join(root, fn)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                self.upload_file(name.rstrip("/") + "/" + rel, full)

    # -- models ------------------------------------------------------------------
    def register_model(self, model_name, model_path=None, tags=None, properties=None, model_framework=None,
                       model_framework_version=None, description=None, datasets=None,
                       sample_input_dataset=None, sample_output_dataset=None, resource_configuration=None,
                       **kwargs):
        """Register the run's file or folder ``model_path`` (default: ``model_name``, e.g.
        ``'outputs/model'``) as the next version of model ``model_name``, linked to this run
        (``model.run_id``; ``Model.list(ws, run_id=run.id)``). Inside the running script a
        path not uploaded yet is sent from the working folder first. Returns the Model."""
        path = _check_artifact_name((model_path or model_name).replace("\\", "/").strip("/"))
        if settings.get("KYANITE_RUN_ID") == self._id:  # outputs are uploaded at the end: send them now
            local = os.path.join(os.getcwd(), *path.split("/"))
            if os.path.isdir(local):
                self.upload_folder(path, local)
            elif os.path.isfile(local):
                self.upload_file(path, local)
        sets = []
        for item in datasets or []:
            scenario, ds = item if isinstance(item, (list, tuple)) else ("training", item)
            sets.append([str(scenario), str(getattr(ds, "name", None) or getattr(ds, "id", None) or ds)])
        rec = self._client.post("/api/models", {
            "name": model_name, "run_id": self._id, "path": path, "description": description,
            "tags": dict((str(k), str(v)) for k, v in (tags or {}).items()),
            "properties": dict((str(k), str(v)) for k, v in (properties or {}).items()),
            "model_framework": model_framework, "model_framework_version": model_framework_version,
            "datasets": sets})
        return self._registered_model(rec)

    def _registered_model(self, record):
        """What register_model returns for the server's model ``record``: here the runtime's
        record-backed Model (the SDK's Run returns the SDK's Model)."""
        from kyanite.runtime.model_path import Model as RecordModel
        return RecordModel(record, _client=self._client)

    # -- logs --------------------------------------------------------------------
    def _read_log(self, name, offset):
        resp = self._client.request("GET", "/api/runs/%s/logs" % self._id,
                                    params={"name": name, "offset": offset}, stream=True)
        try:
            data = resp.read()
            return data, int(resp.getheader("X-Log-Size", offset + len(data))), resp.getheader("X-Run-Status")
        finally:
            resp.close()

    # -- lifecycle -----------------------------------------------------------------
    def wait_for_completion(self, show_output=False, wait_post_processing=False, raise_on_error=True):
        """Block until the run ends; with ``show_output`` stream its driver log live.

        Returns the details. Raises ActivityFailedException when the run Failed and
        ``raise_on_error`` is set."""
        offset = 0
        status = None
        if show_output:
            print("RunId: %s" % self._id)
            print("Web View: %s" % self.get_portal_url())
            print("\nStreaming %s\n%s\n" % (DRIVER_LOG, "=" * (10 + len(DRIVER_LOG))))
        while True:
            if show_output:
                data, offset, status = self._read_log(DRIVER_LOG, offset)
                if data:
                    sys.stdout.write(data.decode("utf-8", "replace"))
                    sys.stdout.flush()
                if status in TERMINAL_STATES:
                    data, offset, status = self._read_log(DRIVER_LOG, offset)  # the tail
                    if data:
                        sys.stdout.write(data.decode("utf-8", "replace"))
                    break
                self._client.get("/api/runs/%s/wait" % self._id,
                                 params={"log_offset": offset, "status": status, "timeout": 5})
            else:
                details = self._client.get("/api/runs/%s/wait" % self._id,
                                           params={"status": status, "timeout": 10})
                status = details["status"]
                if status in TERMINAL_STATES:
                    break
        details = self.get_details()
        if show_output:
            print("\nExecution Summary\n=================\nRunId: %s\nStatus: %s\n" % (self._id, details["status"]))
            if details.get("error"):
                print("Error: %s\n" % details["error"].get("message"))
        if raise_on_error and details["status"] == RunStatus.FAILED:
            err = (details.get("error") or {}).get("message", "no reason recorded")
            raise ActivityFailedException(
                "Run %s failed: %s" % (self._id, err), run_id=self._id, error_details=details.get("error"))
        return details

    def cancel(self):
        """Ask the run to stop; its whole process tree is ended and it becomes Canceled."""
        self._details = self._client.post("/api/runs/%s/cancel" % self._id)

    def complete(self, _set_status=True):
        self.flush()
        self._details = self._client.post("/api/runs/%s/status" % self._id, {"status": RunStatus.COMPLETED})

    def fail(self, error_details=None, error_code=None, _set_status=True):
        self.flush()
        msg = str(error_details) if error_details is not None else "Marked failed by the user"
        self._details = self._client.post("/api/runs/%s/status" % self._id, {
            "status": RunStatus.FAILED, "error": {"message": msg, "code": error_code or "UserError"}})

    def start(self):
        self._details = self._client.post("/api/runs/%s/status" % self._id, {"status": RunStatus.RUNNING})

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            self.complete()
        else:
            self.fail(error_details=exc)
        return False

    # -- children --------------------------------------------------------------------
    def child_run(self, name=None, run_id=None, outputs=None):
        """Start a child run (status Running) that logs like this one."""
        details = self._client.post("/api/runs", {
            "experiment": self._details.get("experiment") or self._refresh()["experiment"],
            "parent_id": self._id, "run_id": run_id, "display_name": name, "status": RunStatus.RUNNING,
            "target": self._details.get("target")})
        return _run_from_details(self._client, details, self._experiment, self._sink)

    def get_children(self, recursive=False, tags=None, properties=None, type=None, status=None,
                     _rehydrate_runs=True):
        rows = self._client.get("/api/runs/%s/children" % self._id,
                                params={"recursive": "true" if recursive else "false"})["runs"]
        runs = [_run_from_details(self._client, d, self._experiment, self._sink_obj) for d in rows]
        if status:
            runs = [r for r in runs if r._details["status"] == status]
        if tags:
            runs = [r for r in runs if _match(r._details.get("tags") or {}, tags)]
        if properties:
            runs = [r for r in runs if _match(r._details.get("properties") or {}, properties)]
        return runs

    # -- display -----------------------------------------------------------------------
    def get_portal_url(self):
        return "%s/runs/%s" % (self._client.base_url, self._id)

    def __repr__(self):
        d = self._details
        return "Run(Experiment: %s,\nId: %s,\nType: %s,\nStatus: %s)" % (
            d.get("experiment"), self._id, d.get("runType", "run"), d.get("status"))

    def _repr_html_(self):
        d = self._details
        cells = [d.get("experiment"), self._id, d.get("runType", "run"), d.get("status"),
                 '<a href="%s" target="_blank">Link to run page</a>' % self.get_portal_url()]
        head = "".join("<th>%s</th>" % h for h in ("Experiment", "Id", "Type", "Status", "Details Page"))
        row = "".join("<td>%s</td>" % _html_escape(str(c)) if i < 4 else "<td>%s</td>" % c
                      for i, c in enumerate(cells))
        return "<table style=\"width:100%%\"><tr>%s</tr><tr>%s</tr></table>" % (head, row)


class _OfflineRun(Run):
    """What ``Run.get_context()`` returns outside of a run: logging prints, nothing is stored."""

    def __init__(self):
        self._experiment = None
        self._client = None
        self._id = "OfflineRun_%d" % int(time.time())
        self._details = {"runId": self._id, "experiment": None, "status": RunStatus.RUNNING}
        self._sink_obj = _sinks.PrintSink()
        self._offline = True

    def _offline_only(self, *args, **kwargs):
        raise RunEnvironmentException(
            "This is an offline run (the script is not running inside a kyanite run): it can "
            "log (printed) but has no files, details or children.")

    def _refresh(self):
        return self._details

    get_metrics = get_file_names = download_file = download_files = _offline_only
    child_run = get_children = cancel = wait_for_completion = register_model = _offline_only
    experiment = property(_offline_only)

    def upload_file(self, name, path_or_stream):
        print("Attempted to upload file %s" % name)

    def upload_folder(self, name, path):
        print("Attempted to upload folder %s" % name)

    def log_image(self, name, path=None, plot=None, description=""):
        print("Attempted to log image metric %s" % name)

    def set_tags(self, tags):
        self._details.setdefault("tags", {}).update(tags)

    def add_properties(self, properties):
        self._details.setdefault("properties", {}).update(properties)

    def complete(self, _set_status=True):
        self._details["status"] = RunStatus.COMPLETED

    def fail(self, error_details=None, error_code=None, _set_status=True):
        self._details["status"] = RunStatus.FAILED

    def __repr__(self):
        return "Run(Experiment: None, Id: %s, Type: offline, Status: %s)" % (self._id, self._details["status"])


def _run_from_details(client, details, experiment=None, sink=None):
    """A run this module hands out (parent, child): the SDK's Run where it is loaded."""
    return _SDK.get("run", Run)._from_details(client, details, experiment, sink)


_HTTP_SINKS = {}


def _http_sink(client):
    key = (client.base_url, client.token)
    if key not in _HTTP_SINKS:
        _HTTP_SINKS[key] = _sinks.HttpSink(Client(client.base_url, client.token))
    return _HTTP_SINKS[key]


#: The server sends a non-finite number as one of these strings (strict JSON has none).
_NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _from_wire(value):
    """A number as the server sent it: "NaN", "Infinity" and "-Infinity" become floats."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    return value


def _shape_metric(m):
    """One series of ``GET /api/runs/{id}/metrics`` as get_metrics gives it. The wire form
    (see ``kyanite.server.routes.runs.metrics_wire``): a scalar series without ``types``
    holds floats only, so every string in it is a non-finite float; with ``types``
    ("float", "int" or "str" per point) only a "float" point's string is one. In rows and
    tables, ``nonFinite`` lists the paths (point index, then keys and indices) of the
    non-finite floats; every other string is text as logged."""
    kind, values = m["kind"], m["values"]
    if kind == "scalar":
        types = m.get("types")
        if types is None:
            values = [_from_wire(v) for v in values]
        else:
            values = [_from_wire(v) if t == "float" else v for v, t in zip(values, types)]
    elif kind != "image":  # images are file names
        values = list(values)
        for path in m.get("nonFinite") or ():
            _set_path(values, path)
    if kind == "row":
        cols = {}
        for row in values:
            for k in row:
                cols.setdefault(k, [])
        for row in values:
            for k in cols:
                cols[k].append(row.get(k))
        return cols
    if kind == "table":
        return values[-1]
    return values[0] if len(values) == 1 else list(values)


def _set_path(doc, path):
    """Turn the string at ``path`` (keys and indices) inside ``doc`` back into its float."""
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = _from_wire(doc[path[-1]])


def _jsonable(name, value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise UserErrorException("Metric %r: value is not JSON serializable: %r" % (name, value))
    return value


def _safe_name(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _check_artifact_name(name):
    """``name`` as the server's key rule wants it ('/' between names, no '.' or empty
    names: ``outputs\\a.txt`` and ``./outputs//a.txt`` become ``outputs/a.txt``);
    UserErrorException for an absolute name or one with '..'."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not name or name.startswith("/") or ".." in parts or not parts:
        raise UserErrorException(
            "File name %r is not allowed: use a relative path inside the run, without '..'." % name)
    return "/".join(parts)


def _match(have, want):
    if isinstance(want, dict):
        return all(have.get(k) == str(v) for k, v in want.items())
    if isinstance(want, str):
        return want in have
    return all(k in have for k in want)


def _html_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
