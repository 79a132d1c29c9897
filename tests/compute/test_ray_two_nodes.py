"""A real 2-node Ray cluster: runs land on the node their custom resources pin them to,
and a node killed mid-run fails its run with Ray's reason.

Both nodes run on this machine inside a private network and pid namespace
(``unshare --net --pid --fork --mount-proc``), so every Ray address and all traffic stay
inside it and everything started there ends with it; the test session's own cluster is
not involved. Skipped where namespaces cannot be made (no privilege, no ``unshare``).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(540)
HERE = os.path.dirname(os.path.abspath(__file__))


def _namespace_prefix():
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    for prefix in (["unshare", "--net", "--pid", "--fork", "--mount-proc"],
                   ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount-proc"]):
        try:
            ok = subprocess.run(prefix + ["ip", "link", "set", "lo", "up"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok.returncode == 0:
            return prefix
    return None


def run_driver_in_namespace(driver, cwd, **env):
    """Run ``driver`` (a script beside this file) in a private network and pid namespace
    with ``env`` added; returns the JSON of its ``RESULT`` line. Skips the test where Ray or
    namespaces are not available; fails with the driver's output when it printed no result."""
    pytest.importorskip("ray.job_submission", reason="Ray is not installed: pip install 'kyanite[ray]'")
    prefix = _namespace_prefix()
    if prefix is None:
        pytest.skip("cannot make a private network and pid namespace here (unshare not permitted)")
    path = os.path.join(HERE, driver)
    cmd = prefix + ["bash", "-c", 'ip link set lo up && exec "$0" "$1"', sys.executable, path]
    proc = subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=480,
                          env=dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""), **env))
    line = next((t for t in proc.stdout.splitlines() if t.startswith("RESULT ")), None)
    assert line, "the driver failed (exit %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-5000:])
    return json.loads(line[len("RESULT "):])


def test_runs_are_placed_on_both_nodes_and_a_lost_node_fails_its_run(tmp_path):
    out = run_driver_in_namespace("_two_node_driver.py", tmp_path, KYANITE_HEARTBEAT_TIMEOUT="120")
    assert out["nodes"] == [["127.0.0.1", ["node_a"]], ["127.0.0.1", ["node_b"]]]
    for res in ("node_a", "node_b"):
        r = out["runs"][res]
        assert r["status"] == "Completed" and r["on_pinned_node"], out
        assert r["metrics"] == {"on_" + res: 1.0}
    lost = out["lost"]
    assert lost["status"] == "Failed" and lost["code"] == "HostLost", lost
    assert "its node has died" in lost["message"], lost["message"]
    assert lost["seconds"] < 60  # from Ray's node failure, long before the 120 s heartbeat timeout
