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
        """Runs of this experiment, newest first."""
        rows = self.workspace._client.get("/api/experiments/%s/runs" % self.name)["runs"]
        runs = [Run._from_details(self.workspace._client, d, self) for d in rows]
        if include_children:
            out = []
            for r in runs:
                out.append(r)
                out.extend(r.get_children(recursive=True))
            runs = out
        if tags:
            runs = [r for r in runs if all(r._details["tags"].get(k) == v for k, v in
                                            (tags.items() if isinstance(tags, dict) else [(t, "") for t in tags]))]
        return iter(runs)

    def __repr__(self):
        return "Experiment(Name: %s,\nWorkspace: %s)" % (self.name, self.workspace.name)

    def _repr_html_(self):
        return "<table><tr><th>Name</th><th>Workspace</th></tr><tr><td>%s</td><td>%s</td></tr></table>" % (
            self.name, self.workspace.name)
