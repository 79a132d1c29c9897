"""HyperDriveRun: the run of a sweep, parent of its child runs (SDK v1 ``HyperDriveRun``)."""

import json
import sys
import time

from kyanite.exceptions import UserErrorException
from kyanite.core.run import Run
from kyanite.runtime.run import _from_wire
from kyanite.protocol.states import TERMINAL_STATES, RunStatus

__all__ = ["HyperDriveRun"]


def _hp_text(hp):
    return json.dumps(hp) if hp is not None else None


class HyperDriveRun(Run):
    """A submitted sweep. ``HyperDriveRun(experiment, run_id)`` fetches an existing one.

    The sweep is driven by the workspace server: it goes on when this process exits, and
    ``Run.get(ws, run_id)`` / ``HyperDriveRun(experiment, run_id)`` finds it again.
    """

    RUN_TYPE = "hyperdrive"

    def __init__(self, experiment, run_id, hyperdrive_config=None, **kwargs):
        super(HyperDriveRun, self).__init__(experiment, run_id, _client=kwargs.get("_client"),
                                            _details=kwargs.get("_details"), _sink=kwargs.get("_sink"))
        if self._details.get("runType") != self.RUN_TYPE:
            raise UserErrorException("Run %s is not a sweep (HyperDrive run); it is a %r run."
                                     % (run_id, self._details.get("runType")))
        self._hyperdrive_config = hyperdrive_config

    @property
    def hyperdrive_config(self):
        return self._hyperdrive_config

    def _summary(self, include_resumed=False):
        out = self._client.get("/api/sweeps/%s" % self._id,
                               params={"include_resumed": "true" if include_resumed else "false"})
        for c in out.get("children") or ():  # "NaN"/"Infinity" on the wire: floats again
            for key in ("bestMetric", "lastMetric"):
                c[key] = _from_wire(c.get(key))
        return out

    def get_spec(self):
        """The sweep's definition as the server keeps it (sampling, policy, limits, seed)."""
        return self._summary()["spec"]

    # -- results ---------------------------------------------------------------------------
    def get_children_sorted_by_primary_metric(self, top=0, reverse=False, discard_no_metric=False):
        """Children as ``{"run_id", "hyperparameters", "best_primary_metric", "status"}``, best
        first (``reverse`` puts the worst first). Children without the metric come last (the
        order of ``reverse`` does not touch them) unless ``discard_no_metric``. ``top`` > 0
        keeps the first ``top``."""
        summary = self._summary()
        maximize = summary["spec"].get("primaryMetricGoal") == "maximize"
        kids = summary["children"]
        scored = sorted([c for c in kids if c["bestMetric"] is not None], key=lambda c: c["bestMetric"],
                        reverse=maximize)
        if reverse:
            scored.reverse()
        rest = [] if discard_no_metric else [c for c in kids if c["bestMetric"] is None]
        out = [{"run_id": c["runId"], "hyperparameters": _hp_text(c["hyperparameters"]),
                "best_primary_metric": c["bestMetric"], "status": c["status"]} for c in scored + rest]
        return out[:top] if top and top > 0 else out

    def get_best_run_by_primary_metric(self, include_failed=True, include_canceled=True,
                                       include_resume_from_runs=True):
        """The child run with the best value of the primary metric (one of them on ties),
        or None when no child logged it. With ``include_resume_from_runs`` the children of
        ``resume_from`` sweeps compete too."""
        summary = self._summary(include_resumed=include_resume_from_runs)
        maximize = summary["spec"].get("primaryMetricGoal") == "maximize"
        skip = set()
        if not include_failed:
            skip.add(RunStatus.FAILED)
        if not include_canceled:
            skip.update((RunStatus.CANCELED, RunStatus.CANCEL_REQUESTED))
        best = None
        for c in summary["children"] + summary.get("resumed", []):
            if c["bestMetric"] is None or c["status"] in skip:
                continue
            if best is None or (c["bestMetric"] > best["bestMetric"] if maximize
                                else c["bestMetric"] < best["bestMetric"]):
                best = c
        if best is None:
            return None
        details = self._client.get("/api/runs/" + best["runId"])
        return Run._from_details(self._client, details, self._experiment)

    def get_hyperparameters(self):
        """``{child run id: its hyperparameters as a JSON string}`` (as in SDK v1; ``json.loads``
        gives the dict)."""
        return dict((c["runId"], _hp_text(c["hyperparameters"])) for c in self._summary()["children"])

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """``{child run id: metrics}`` for every child run of the sweep."""
        return dict((c.id, c.get_metrics(name)) for c in self.get_children())

    # -- lifecycle ---------------------------------------------------------------------------
    def cancel(self):
        """Cancel the sweep: no more child runs start, running ones are canceled. True when the
        sweep was still going."""
        before = self.get_status()
        self._details = self._client.post("/api/sweeps/%s/cancel" % self._id)
        return before not in TERMINAL_STATES

    def fail(self, error_details=None, error_code=None, _set_status=True):
        raise UserErrorException("A sweep (HyperDrive run) cannot be marked failed; cancel it with cancel().")

    def wait_for_completion(self, show_output=False, wait_post_processing=False, raise_on_error=True):
        """Block until the sweep ends. ``show_output`` prints each child run as it is created
        and as it ends, with its best primary metric."""
        if not show_output:
            return super(HyperDriveRun, self).wait_for_completion(
                show_output=False, wait_post_processing=wait_post_processing, raise_on_error=raise_on_error)
        print("RunId: %s" % self._id)
        print("Web View: %s\n" % self.get_portal_url())
        seen = {}
        status = None
        while True:
            summary = self._summary()
            spec = summary["spec"]
            metric = spec.get("primaryMetricName")
            for c in summary["children"]:
                prev = seen.get(c["runId"])
                if prev is None:
                    _say("%s: %s" % (c["runId"], json.dumps(c["hyperparameters"])))
                if c["status"] in TERMINAL_STATES and prev not in TERMINAL_STATES:
                    extra = ""
                    if c["bestMetric"] is not None:
                        extra = ", best %s %.6g" % (metric, c["bestMetric"])
                    if c.get("error") and c["status"] != RunStatus.COMPLETED:
                        extra += " (%s)" % c["error"]
                    _say("%s %s%s" % (c["runId"], c["status"], extra))
                seen[c["runId"]] = c["status"]
            status = summary["run"]["status"]
            if status in TERMINAL_STATES:
                break
            self._client.get("/api/runs/%s/wait" % self._id, params={"status": status, "timeout": 1})
        details = self.get_details()
        print("\nExecution Summary\n=================\nRunId: %s\nStatus: %s" % (self._id, details["status"]))
        tags = details.get("tags") or {}
        if tags.get("best_child_run_id"):
            print("Best child run: %s (%s %s)" % (tags["best_child_run_id"], metric, tags.get("best_metric")))
        if details.get("error"):
            print("Error: %s" % details["error"].get("message"))
        print("")
        if raise_on_error and details["status"] == RunStatus.FAILED:
            from kyanite.exceptions import ActivityFailedException
            err = (details.get("error") or {}).get("message", "no reason recorded")
            raise ActivityFailedException("Run %s failed: %s" % (self._id, err), run_id=self._id,
                                          error_details=details.get("error"))
        return details

    def __repr__(self):
        d = self._details
        return "Run(Experiment: %s,\nId: %s,\nType: hyperdrive,\nStatus: %s)" % (
            d.get("experiment"), self._id, d.get("status"))


def _say(text):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stdout.flush()
