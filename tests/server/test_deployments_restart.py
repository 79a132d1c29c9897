"""Deployments across workspace-server restarts and scoring-process crashes.

A service keeps answering while the server is down; a restarted server adopts the running
process (same pid); a process that died while the server was down is started again on
the same port; one that crashes while the server runs is restarted."""

import http.client
import json
import os
import signal
import textwrap

import numpy as np
import pytest

from kyanite.core import Model, Workspace
from kyanite.core._server import stop_server
from kyanite.core.model import InferenceConfig
from kyanite.core.webservice import LocalWebservice, Webservice
from kyanite_testing import remove_services

SCORE = """
    import json
    import numpy as np
    from kyanite.core import Model

    def init():
        global w
        w = np.load(Model.get_model_path("restart-m"))

    def run(raw):
        return (np.asarray(json.loads(raw)["data"], dtype=float) @ w).tolist()
"""


@pytest.fixture(scope="module", autouse=True)
def _remove_services(ws):
    yield
    remove_services(Workspace(path=ws.path))  # the server restarted: a fresh client


def _score(uri, key, rows):
    host, port = uri.split("//")[1].split("/")[0].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/score", json.dumps({"data": rows}), {"Authorization": "Bearer " + key})
    r = c.getresponse()
    return r.status, json.loads(r.read())


def test_service_survives_server_restarts_and_crashes(ws, tmp_path, current_env, wait_until):
    np.save(str(tmp_path / "w.npy"), np.array([1.0, 3.0]))
    model = Model.register(ws, str(tmp_path / "w.npy"), "restart-m")
    (tmp_path / "score.py").write_text(textwrap.dedent(SCORE))
    svc = Model.deploy(ws, "restart-svc", [model],
                       InferenceConfig(entry_script="score.py", source_directory=str(tmp_path),
                                       environment=current_env),
                       LocalWebservice.deploy_configuration(auth_enabled=True))
    svc.wait_for_deployment()
    key = svc.get_keys()[0]
    uri, pid = svc.scoring_uri, svc._record["pid"]
    assert _score(uri, key, [[1, 1]]) == (200, [4.0])

    # 1. the server dies hard: the service keeps answering; a new server adopts it
    os.kill(ws._layout.server_info()["pid"], signal.SIGKILL)
    assert _score(uri, key, [[1, 0]]) == (200, [1.0])
    ws2 = Workspace(path=ws.path)
    again = Webservice(ws2, "restart-svc")
    assert again.state == "Healthy" and again._record["pid"] == pid and again.scoring_uri == uri
    assert again.run({"data": [[0, 1]]}) == [3.0]
    assert "adopted the running scoring process (pid %d)" % pid in again.get_logs()

    # 2. the server is stopped and the scoring process dies meanwhile: it comes back on the same port
    stop_server(ws._layout)
    os.killpg(pid, signal.SIGKILL)
    ws3 = Workspace(path=ws.path)
    back = Webservice(ws3, "restart-svc")
    back.wait_for_deployment()
    assert back.state == "Healthy" and back.scoring_uri == uri and back._record["pid"] != pid
    assert _score(uri, key, [[2, 2]]) == (200, [8.0])  # the same keys still work
    assert "the scoring process was not running; starting it again" in back.get_logs()

    # 3. a crash while the server runs: restarted by the deployment manager
    pid2 = back._record["pid"]
    os.killpg(pid2, signal.SIGKILL)
    wait_until(lambda: Webservice(ws3, "restart-svc")._record["pid"] not in (pid2, None)
               and Webservice(ws3, "restart-svc").state == "Healthy", timeout=30, what="the restart")
    assert _score(uri, key, [[1, 1]]) == (200, [4.0])
    assert "was killed by signal 9; starting it again" in back.get_logs()
    back.delete()
    assert Webservice.list(ws3) == []
