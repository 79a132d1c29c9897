"""Files a run's script writes under ./logs reach the server while the run runs
(``kyanite.runtime.logs_sync``), and the final upload still has the last word.

The server of this module (and its run hosts) sync ./logs every 0.2 s.
"""

import os

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.runtime.logs_sync import LogsSync

SERVER_ENV = {"KYANITE_LOGS_SYNC_INTERVAL": "0.2"}

SCRIPT = """
    import os, sys, time
    os.makedirs("logs/tb", exist_ok=True)
    with open("logs/tb/events.out", "wb") as tb:
        tb.write(b"\\x00event-1")
    with open("logs/progress.log", "w") as f:
        f.write("epoch 1\\n")
        f.flush()
        release = os.path.join(sys.argv[1], "release")
        deadline = time.time() + 60
        while not os.path.exists(release) and time.time() < deadline:
            time.sleep(0.05)
        f.write("epoch 2\\n")
"""


def _content(run, name, tmp_path):
    if name not in run.get_file_names():
        return None
    with open(run.download_file(name, str(tmp_path / "got")), "rb") as f:
        return f.read()


def test_logs_are_shipped_while_the_run_runs(ws, make_script, current_env, tmp_path, wait_until):
    gate = tmp_path / "gate"
    gate.mkdir()
    src = make_script(SCRIPT)
    run = Experiment(ws, "logs-sync").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(gate)], environment=current_env))
    try:
        wait_until(lambda: _content(run, "logs/progress.log", tmp_path) == b"epoch 1\n", 60,
                   interval=0.1, what="logs/progress.log to be shipped while the script runs")
        assert _content(run, "logs/tb/events.out", tmp_path) == b"\x00event-1"
        assert run.get_status() == "Running"  # the script is still waiting for the gate
    finally:
        (gate / "release").write_text("")
    details = run.wait_for_completion(raise_on_error=True)
    assert details["status"] == "Completed"
    assert _content(run, "logs/progress.log", tmp_path) == b"epoch 1\nepoch 2\n"
    assert _content(run, "logs/tb/events.out", tmp_path) == b"\x00event-1"
    assert "logs/progress.log" in details["logFiles"]


def test_sync_uploads_only_what_changed(ws, tmp_path):
    run = Experiment(ws, "logs-sync-unit").start_logging()
    logs = tmp_path / "work" / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "a.log").write_text("one\n")
    (logs / "sub" / "b name.txt").write_text("bee")
    (logs / "big.bin").write_bytes(b"x" * 2048)
    lines = []
    sync = LogsSync(ws._client, run.id, str(tmp_path / "work"), lines.append, interval=0, max_bytes=1024)
    try:
        assert sorted(sync.sync_once()) == ["a.log", "sub/b name.txt"]
        assert sync.sync_once() == []  # nothing changed: nothing sent
        assert _content(run, "logs/a.log", tmp_path) == b"one\n"
        assert "logs/sub/b name.txt" in run.get_file_names()  # sent quoted (the SDK's download does not quote)
        assert ws._client.get("/api/runs/%s/artifacts/logs/sub/b%%20name.txt" % run.id, raw=True) == b"bee"
        assert "logs/big.bin" not in run.get_file_names()
        assert lines == ["logs/big.bin is larger than 1024 bytes: it is uploaded when the run ends"]

        with open(str(logs / "a.log"), "a") as f:
            f.write("two\n")
        assert sync.sync_once() == ["a.log"]  # replaced on the server
        assert _content(run, "logs/a.log", tmp_path) == b"one\ntwo\n"
        assert len(lines) == 1  # the big file is named once
    finally:
        run.complete()


def test_errors_go_to_the_driver_log_once_per_file(ws, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("one\n")
    lines = []
    sync = LogsSync(ws._client, "no-such-run", str(tmp_path), lines.append, interval=0, retry_seconds=1)
    assert sync.sync_once() == []
    assert sync.sync_once() == []  # tried again, not named again
    assert len(lines) == 1 and lines[0].startswith("could not upload logs/a.log while the run runs:")


def test_thread_ships_and_stops(ws, tmp_path, wait_until):
    run = Experiment(ws, "logs-sync-thread").start_logging()
    os.makedirs(str(tmp_path / "logs"))
    sync = LogsSync(ws._client, run.id, str(tmp_path), [].append, interval=0.05).start()
    try:
        (tmp_path / "logs" / "p.log").write_text("hello")
        wait_until(lambda: _content(run, "logs/p.log", tmp_path) == b"hello", 10, what="the thread's upload")
    finally:
        sync.stop(timeout=10)
        run.complete()
    assert not sync._thread.is_alive()


def test_interval_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KYANITE_LOGS_SYNC_INTERVAL", "0.5")
    assert LogsSync(None, "r", str(tmp_path), print).interval == 0.5
    monkeypatch.setenv("KYANITE_LOGS_SYNC_INTERVAL", "0")
    sync = LogsSync(None, "r", str(tmp_path), print).start()  # off: no thread
    assert sync._thread is None
    sync.stop()
    monkeypatch.delenv("KYANITE_LOGS_SYNC_INTERVAL")
    assert LogsSync(None, "r", str(tmp_path), print).interval == 2.0
