"""Helpers shared by test modules (import as ``from kyanite_testing import ...``; a
uniquely named module, since several conftest.py files exist in this tree)."""

import http.client
import json
import os
import time
import urllib.parse
import uuid
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]

#: The Keras 3 / JAX environment the Keras tests build (the walkthrough's pins).
KERAS_CONDA = """name: keras-env
dependencies:
  - python=3.11
  - pip:
    - keras==3.15.1
    - jax==0.10.2
    - jaxlib==0.10.2
"""


def stop_workspace(path):
    """Stop a workspace's server and every run host it launched."""
    from kyanite.core._server import stop_server
    from kyanite.server.layout import WorkspaceLayout
    layout = WorkspaceLayout.for_path(path)
    info = layout.server_info()
    stop_server(layout)
    hosts = Path(layout.hosts_dir)
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "kyanite.runtime.host" in cmd and hosts.exists():
            run_id = cmd[cmd.index("--run-id") + 1] if "--run-id" in cmd else None
            try:  # a warm spare host that took a run names it only in its environment
                mine = info is not None and p.environ().get("KYANITE_SERVER_URL") == info.get("url")
            except (psutil.Error, OSError):
                mine = False
            if mine or (run_id and (hosts / ("%s.log" % run_id)).exists()):
                for q in [p] + p.children(recursive=True):
                    try:
                        q.kill()
                    except psutil.Error:
                        pass
    return info


def wait_until(predicate, timeout=30.0, interval=0.1, what="the condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout`` s."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            pytest.fail("Timed out after %.0f s waiting for %s." % (timeout, what))
        time.sleep(interval)


def running(pid):
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def remove_services(workspace):
    """Teardown of a module that deploys: delete every service ``workspace`` lists (a delete
    that fails is passed over), then kill every scoring process still running from its
    deployments folder (a service outlives a stopped server by design)."""
    from kyanite.core.webservice import Webservice
    for svc in Webservice.list(workspace):
        try:
            svc.delete()
        except Exception:
            pass
    base = os.path.join(workspace._layout.root, "deployments")
    for p in psutil.process_iter(["cmdline"]):
        if any(base in a for a in (p.info.get("cmdline") or [])):
            p.kill()


class Api(object):
    """Requests to a workspace's server over real HTTP, no SDK in between."""

    def __init__(self, ws, timeout=30):
        self.url, self.token = ws.server_url, ws._client.token
        parsed = urllib.parse.urlsplit(self.url)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port, timeout

    def call(self, method, path, body=None, token="default", raw=None, headers=None, encode_chunked=False):
        """``(status, reply)``: the reply decoded from JSON, its bytes when it is not JSON, None
        when it is empty. ``path`` is sent as it is (no dot-segment clean-up); ``body`` goes as
        JSON, else ``raw`` as it is; ``token`` None sends no Authorization header."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        hdrs = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=hdrs, encode_chunked=encode_chunked)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        try:
            decoded = json.loads(payload.decode()) if payload else None
        except ValueError:
            decoded = payload
        return resp.status, decoded


def made_sweep(ws, experiment, space, goal, metric, children):
    """A finished sweep made directly through the REST API (no scripts run): ``(sweep run id,
    child run ids)``. Each child is ``(hyperparameters, metric values, status)``, optionally
    with a fourth item, its termination reason (``hyperdrive.termination``)."""
    api = ws._client
    sid = "HD_%s" % uuid.uuid4()
    spec = {"sampling": {"name": "random", "parameterSpace": space, "properties": {}}, "policy": None,
            "primaryMetricName": metric, "primaryMetricGoal": goal, "maxTotalRuns": len(children),
            "maxConcurrentRuns": 2}
    api.post("/api/runs", {"experiment": experiment, "run_id": sid, "run_type": "hyperdrive", "status": "Completed",
                           "definition": {"hyperdrive": spec, "childDefinition": {}}})
    ids = []
    for i, child in enumerate(children):
        hp, values, status = child[:3]
        termination = child[3] if len(child) > 3 else None
        rid = "%s_%d" % (sid, i)
        props = {"hyperdrive.index": str(i), "hyperparameters": json.dumps(hp)}
        if termination:
            props["hyperdrive.termination"] = termination
        api.post("/api/runs", {"experiment": experiment, "run_id": rid, "parent_id": sid, "display_name": rid,
                               "status": status, "definition": {"hyperparameters": hp}, "properties": props})
        if values:
            api.post("/api/runs/%s/metrics" % rid, {"metrics": [
                {"name": metric, "kind": "scalar", "values": values,
                 "ts": [1700000000.0 + j for j in range(len(values))]}]})
        ids.append(rid)
    return sid, ids
