"""A server restart while a run executes loses nothing: the run finishes Completed with every
metric point and the whole driver log, and the server comes back on the same port."""

import threading
import time

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.core._server import ensure_server, stop_server
from kyanite.server.layout import WorkspaceLayout

SCRIPT = """
    import time
    from kyanite.core import Run
    run = Run.get_context()
    for i in range(60):
        run.log("step", i)
        print("line %02d" % i, flush=True)
        time.sleep(0.1)
    open("outputs/done.txt", "w").write("done")
"""


def test_run_survives_server_restart(ws, make_script, current_env, wait_until, capsys):
    layout = WorkspaceLayout.for_path(ws.path)
    before = layout.server_info()
    src = make_script(SCRIPT)
    run = Experiment(ws, "restart").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                           environment=current_env))
    wait_until(lambda: run.get_metrics().get("step"), 30, what="the run to log")
    # a follower streams the log across the restart (its long polls are cut and retried)
    streamed = {}
    follower = threading.Thread(target=lambda: streamed.setdefault("details", run.wait_for_completion(
        show_output=True, raise_on_error=False)))
    follower.start()
    time.sleep(0.3)
    t0 = time.time()
    assert stop_server(layout) is True
    assert time.time() - t0 < 4  # the follower's long poll does not hold the shutdown
    assert layout.server_info() is None
    time.sleep(1.0)  # the run goes on without a server
    url = ensure_server(layout, quiet=True)
    after = layout.server_info()
    assert after["pid"] != before["pid"]
    assert after["port"] == before["port"] and url == ws.server_url
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    follower.join(30)
    assert streamed["details"]["status"] == "Completed"
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("line ")] == ["line %02d" % i for i in range(60)]
    assert run.get_metrics()["step"] == [float(i) for i in range(60)]
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    lines = [line for line in log.splitlines() if line.startswith("line ")]
    assert lines == ["line %02d" % i for i in range(60)]
    assert "outputs/done.txt" in run.get_file_names()
