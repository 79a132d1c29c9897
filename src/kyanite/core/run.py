"""The SDK's Run (SDK v1 ``azureml.core.Run``): the in-script run plus what needs the SDK.

``kyanite.runtime.run.Run`` is what a training script gets (standard library only, copied
into every run environment). This class builds on it with the parts that need the SDK:

- ``Run(experiment, run_id)`` and ``Run.get(workspace, run_id)`` fetch a run;
- ``run.experiment`` is an :class:`~kyanite.core.experiment.Experiment`;
- ``run.register_model(...)`` returns a :class:`~kyanite.core.model.Model`;
- a run of a known type comes back as that type's class (a sweep as ``HyperDriveRun``).

Importing this module registers these classes with the runtime (``register_sdk``), so
every run handed out in an SDK process, including ``Run.get_context()``, a parent and
children, is one of them.
"""

import importlib
from urllib.parse import quote

from kyanite.exceptions import UserErrorException
from kyanite.protocol.identifiers import DESCRIPTION_MAX
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.runtime import run as _runtime

__all__ = ["Run", "RunStatus", "TERMINAL_STATES"]

#: Run types whose runs come back as their own class, as SDK v1's run type providers:
#: ``{runType: "module:Class"}``, the module imported when such a run is first met (the
#: class subclasses Run; ``kyanite.train`` builds on ``kyanite.core``, never the reverse).
RUN_TYPES = {"hyperdrive": "kyanite.train.hyperdrive._run:HyperDriveRun"}


def _run_type_class(run_type):
    target = RUN_TYPES.get(run_type)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class Run(_runtime.Run):
    """A run of an experiment.

    ``Run(experiment, run_id)`` fetches an existing run. Use ``Run.get_context()`` in a
    training script and ``Experiment.submit`` or ``Experiment.start_logging`` elsewhere.
    """

    def __init__(self, experiment, run_id, _client=None, _details=None, _sink=None):
        if _client is None:
            if getattr(experiment, "workspace", None) is None:
                raise UserErrorException(
                    "Run(experiment, run_id) takes the run's Experiment, got %r; Run.get(workspace, "
                    "run_id) fetches a run by id alone." % (experiment,))
            _client = experiment.workspace._client
        super(Run, self).__init__(experiment, run_id, _client=_client, _details=_details, _sink=_sink)

    @classmethod
    def _from_details(cls, client, details, experiment=None, sink=None):
        """A run from its server record; ``Run`` gives the class of its run type (RUN_TYPES)."""
        if cls is Run:
            cls = _run_type_class(details.get("runType")) or Run
        return cls(experiment, details["runId"], _client=client, _details=details, _sink=sink)

    @staticmethod
    def get(workspace, run_id):
        """Fetch a run of ``workspace`` by id."""
        details = workspace._client.get("/api/runs/" + run_id)
        return Run._from_details(workspace._client, details)

    @staticmethod
    def list(experiment, type=None, tags=None, properties=None, status=None, include_children=False,
             _rehydrate_runs=True):
        """The runs of ``experiment``, newest first, as SDK v1's ``Run.list``: ``type`` a run
        type ('run', 'hyperdrive', 'interactive'...); ``tags``/``properties`` a key (the run
        has it), a list of keys, or a dict (each key has that value); ``status`` one state;
        ``include_children`` child runs too (else top-level runs only). A generator."""
        _check_filter("tags", tags)
        _check_filter("properties", properties)
        client = experiment.workspace._client
        if include_children:
            rows, offset = [], 0
            while True:
                page = client.get("/api/runs", params={"experiment": experiment.name, "all": "true",
                                                       "status": status, "limit": 500, "offset": offset})
                rows.extend(page["runs"])
                offset += len(page["runs"])
                if len(page["runs"]) < 500:
                    break
        else:
            rows = client.get("/api/experiments/%s/runs" % quote(experiment.name, safe=""),
                              params={"status": status})["runs"]
        for d in rows:
            if type is not None and d.get("runType", "run") != type:
                continue
            if tags is not None and not _runtime._match(d.get("tags") or {}, tags):
                continue
            if properties is not None and not _runtime._match(d.get("properties") or {}, properties):
                continue
            yield Run._from_details(client, d, experiment)

    @property
    def display_name(self):
        """The run's display name (its id until one is set); assigning it renames the run."""
        return self._details.get("displayName") or self._id

    @display_name.setter
    def display_name(self, value):
        if not isinstance(value, str) or not value.strip():
            raise UserErrorException("display_name must be a non-empty string, got %r." % (value,))
        self._details = self._client.patch("/api/runs/%s" % self._id, {"display_name": value})

    @property
    def description(self):
        """The run's description (None until one is set); assigning it saves it (text of at
        most 10000 characters; None or "" clears it)."""
        return self._details.get("description")

    @description.setter
    def description(self, value):
        if value is not None and not isinstance(value, str):
            raise UserErrorException("description must be text (or None to clear it), got %r." % (value,))
        if value is not None and len(value) > DESCRIPTION_MAX:
            raise UserErrorException("description has %d characters, more than the %d allowed; shorten it."
                                     % (len(value), DESCRIPTION_MAX))
        self._details = self._client.patch("/api/runs/%s" % self._id, {"description": value or ""})

    def create_children(self, count=None, tag_key=None, tag_values=None):
        """Create ``count`` child runs (status Running; log to them and ``complete()`` each)
        and return them. With ``tag_key`` and ``tag_values``, child ``i`` gets the tag
        ``tag_key=tag_values[i]`` (``count`` defaults to their number)."""
        if tag_values is not None:
            tag_values = list(tag_values)
            if tag_key is None:
                raise UserErrorException("create_children: tag_values needs tag_key (the tag to set).")
            if count is not None and count != len(tag_values):
                raise UserErrorException("create_children: count=%r but %d tag_values; give one value per child."
                                         % (count, len(tag_values)))
            count = len(tag_values)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise UserErrorException("create_children needs count, a whole number of children >= 1, got %r."
                                     % (count,))
        children = []
        for i in range(count):
            child = self.child_run()
            if tag_key is not None:
                child.tag(tag_key, tag_values[i] if tag_values is not None else None)
            children.append(child)
        return children

    def restore_snapshot(self, snapshot_id=None, path=None):
        """Save the run's source snapshot (or ``snapshot_id``) as a ZIP file and return its
        path: ``path`` itself when it ends in .zip, else ``<path or cwd>/<snapshot id>.zip``."""
        import io
        import os
        import tarfile
        import zipfile
        sid = snapshot_id or (self.get_details().get("runDefinition") or {}).get("snapshotId")
        if not sid:
            raise UserErrorException("Run %s has no source snapshot (only submitted runs have one)." % self._id)
        data = self._client.get("/api/snapshots/%s" % quote(sid, safe=""), raw=True)
        path = os.path.abspath(path or os.getcwd())
        target = path if path.lower().endswith(".zip") else os.path.join(path, sid + ".zip")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar, \
                zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for member in tar.getmembers():
                if member.isfile():
                    name = member.name[2:] if member.name.startswith("./") else member.name
                    out.writestr(name, tar.extractfile(member).read())
        return target

    def get_environment(self):
        """The Environment the run was submitted with: the registered version when it
        names one, else rebuilt from the packages recorded in its definition."""
        from kyanite.core.conda_dependencies import CondaDependencies
        from kyanite.core.environment import Environment
        env_def = (self.get_details().get("runDefinition") or {}).get("environment")
        if not env_def:
            raise UserErrorException("Run %s has no environment (only submitted runs have one)." % self._id)
        if env_def.get("version"):
            return Environment.get(self.experiment.workspace, env_def["name"], version=env_def["version"])
        spec = env_def.get("spec") or {}
        env = Environment(env_def.get("name") or "run-environment")
        env.python.user_managed_dependencies = bool(spec.get("user_managed"))
        env.python.interpreter_path = spec.get("interpreter")
        if not env.python.user_managed_dependencies:
            env.python.conda_dependencies = CondaDependencies.create(
                python_version=spec.get("python"),
                pip_packages=list(spec.get("pip_options") or []) + list(spec.get("pip") or []))
        env.docker._set(env_def.get("docker") or {})
        env.environment_variables = dict(env_def.get("environmentVariables") or {})
        return env

    def get_all_logs(self, destination=None):
        """Download the run's logs (the driver log and the files of ./logs) into
        ``destination`` (default ``./logs``), keeping their folders; returns the local paths."""
        import os
        destination = os.path.abspath(destination or os.path.join(os.getcwd(), "logs"))
        paths = []
        for name in sorted(self.get_details().get("logFiles") or {}):
            local = os.path.join(destination, *name.split("/"))
            self.download_file(name, local)
            paths.append(local)
        return paths

    @property
    def experiment(self):
        """The run's Experiment."""
        if self._experiment is None:
            from kyanite.core.experiment import Experiment
            from kyanite.core.workspace import Workspace
            ws = Workspace._from_client(self._client)
            name = self._details.get("experiment") or self._refresh()["experiment"]
            self._experiment = Experiment(ws, name)
        return self._experiment

    def _registered_model(self, record):
        from kyanite.core.model import Model
        from kyanite.core.workspace import Workspace
        if self._experiment is not None:
            return Model._from_record(self._experiment.workspace, record)
        return Model._from_record(Workspace._from_client(self._client), record)


def _check_filter(what, value):
    if value is not None and not isinstance(value, (str, dict, list, tuple, set)):
        raise UserErrorException("%s filters runs by a key (str), keys (list) or key=value pairs (dict), got %s."
                                 % (what, type(value).__name__))


class _OfflineRun(_runtime._OfflineRun, Run):
    """``Run.get_context()`` outside of a run, in an SDK process: the runtime's offline run,
    and an instance of the SDK's Run."""


_runtime.register_sdk(Run, _OfflineRun)
