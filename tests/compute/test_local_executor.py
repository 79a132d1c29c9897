"""The local executor hands runs to a warm spare host started ahead of time."""

import os
import time

import psutil

from kyanite.core import Experiment, ScriptRunConfig


def test_second_run_goes_to_a_host_started_before_it_was_submitted(ws, make_script, current_env):
    src = make_script("print('hello from the script')\n")
    exp = Experiment(ws, "warm-host")
    cfg = ScriptRunConfig(source_directory=str(src), script="train.py", environment=current_env)
    exp.submit(cfg).wait_for_completion()  # the first launch also starts the spare
    time.sleep(1.0)
    submitted = time.time()
    run = exp.submit(cfg)
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    host = details["host"]
    # the host existed before the run did: it was the spare, waiting on its stdin
    assert host["create_time"] < submitted
    log = os.path.join(ws._layout.hosts_dir, "%s.log" % run.id)
    assert os.path.isfile(log)
    spare = [p for p in psutil.process_iter(["cmdline"])
             if "--standby" in (p.info["cmdline"] or []) and p.pid != host["pid"]]
    assert spare, "a new spare host is waiting for the next run"
