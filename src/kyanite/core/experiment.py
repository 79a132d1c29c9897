"""Experiment: a named group of runs (SDK v1 ``azureml.core.Experiment``)."""

from kyanite.exceptions import UserErrorException
from kyanite.core.run import Run
from kyanite.protocol.states import RunStatus

__all__ = ["Experiment"]


class Experiment(object):
    def __init__(self, workspace, name, _skip_name_validation=False, _id=None, _create=True, **kwargs):
        self.workspace = workspace
        self.name = name
        if _create:
            self._record = workspace._client.post("/api/experiments", {"name": name})
        else:
            self._record = {"name": name}

    @property
    def id(self):
        return self._record.get("id")

    @staticmethod
    def list(workspace, experiment_name=None, view_type=None, tags=None):
        exps = workspace._client.get("/api/experiments")["experiments"]
        return [Experiment(workspace, e["name"], _create=False) for e in exps
                if experiment_name is None or e["name"] == experiment_name]

    def submit(self, config, tags=None, **kwargs):
        """Submit a ScriptRunConfig (or another run config) and return the queued Run."""
        if not hasattr(config, "_submit"):
            raise UserErrorException("Experiment.submit takes a ScriptRunConfig or HyperDriveConfig, got %s."
                                     % type(config).__name__)
        return config._submit(self, tags=tags, **kwargs)

    def start_logging(self, *args, **kwargs):
        """Start an interactive run (status Running) to log to from this process; end it
        with ``run.complete()`` or use it as a context manager."""
        details = self.workspace._client.post("/api/runs", {
            "experiment": self.name, "status": RunStatus.RUNNING,
            "display_name": kwargs.get("display_name"), "run_type": "interactive"})
        return Run._from_details(self.workspace._client, details, self)

    def get_runs(self, type=None, tags=None, properties=None, include_children=False):
        """Runs of this experiment, newest first, filtered as SDK v1 does (see ``Run.list``):
        ``tags``/``properties`` a key the run has, or a dict of key=value pairs."""
        return Run.list(self, type=type, tags=tags, properties=properties, include_children=include_children)

    def __repr__(self):
        return "Experiment(Name: %s,\nWorkspace: %s)" % (self.name, self.workspace.name)

    def _repr_html_(self):
        return "<table><tr><th>Name</th><th>Workspace</th></tr><tr><td>%s</td><td>%s</td></tr></table>" % (
            self.name, self.workspace.name)
