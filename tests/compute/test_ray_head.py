"""LocalRayHead knows its ``ray start`` process by pid and start time (kyanite.supervisor)
and stops its whole tree; no Ray needed: a stand-in process tree plays the head."""

import os
import sys
import time

from kyanite import supervisor
from kyanite.compute.ray_head import LocalRayHead
from kyanite_testing import running

#: the stand-in ``ray start``: a child that leaves the process group, and one that ignores SIGTERM
HEAD = r"""
import os, signal, subprocess, sys, time
out = sys.argv[1]
a = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(120)"])
b = subprocess.Popen([sys.executable, "-c",
                      "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
with open(out + ".tmp", "w") as f:
    f.write("%d %d" % (a.pid, b.pid))
os.rename(out + ".tmp", out)
time.sleep(120)
"""


def test_a_head_record_names_its_process_by_pid_and_start_time_and_stop_ends_its_tree(tmp_path):
    temp_dir = str(tmp_path / "kyray-x")
    out = str(tmp_path / "pids")
    proc = supervisor.start([sys.executable, "-c", HEAD, out, "--temp-dir", temp_dir])
    children = []
    try:
        deadline = time.time() + 15
        while not os.path.exists(out) and time.time() < deadline:
            time.sleep(0.05)
        children = [int(x) for x in open(out).read().split()]
        head = LocalRayHead(proc, "http://127.0.0.1:1", temp_dir, "127.0.0.1:2", str(tmp_path / "log"))
        record = head.record()
        assert record["pid"] == proc.pid and record["create_time"] == proc.create_time
        assert LocalRayHead.from_record(record).running()
        # the same pid with another start time is another head's: stopping that one spares this one
        other = LocalRayHead.from_record(dict(record, create_time=proc.create_time - 5,
                                              temp_dir=str(tmp_path / "kyray-other")))
        assert other.running() is False
        other.stop(grace=1, remove_temp_dir=False)
        assert all(running(p) for p in [proc.pid] + children)
        t0 = time.time()
        LocalRayHead.from_record(record).stop(grace=1, remove_temp_dir=False)
        assert time.time() - t0 >= 1.0  # one child ignored SIGTERM: SIGKILL came after the grace
        assert not any(running(p) for p in [proc.pid] + children)
        assert head.running() is False
    finally:
        for p in [proc.pid] + children:
            try:
                os.kill(p, 9)
            except OSError:
                pass
