#!/usr/bin/env python
"""Run overhead: ``submit`` -> Completed for a trivial script, against ``python script.py``.

    python bench/run_overhead.py [-n 10] [--skip-uv-env] [--keep]

For two environments, with a warm environment cache:

- ``user-managed``: ``Environment`` with ``python.user_managed_dependencies = True`` (this
  interpreter, nothing built);
- ``uv env``: ``Environment.from_conda_specification`` of a conda YAML with this Python's
  version and no pip packages, built once by uv into the cache and reused after that
  (the cache is ``KYANITE_CACHE_DIR``, default ``~/.cache/kyanite-bench``, so later
  invocations find it built);

it submits ``print("hi")`` N times and measures the wall time from the ``submit`` call to
``run.wait_for_completion()`` returning Completed, and runs the same script N times as
``<the same interpreter> script.py`` (the baseline), interleaved with the runs. It
prints median and p90 of each and of the overhead (the per-pair difference), then a
breakdown of one more run: the client's, the server's and the run host's timestamps.

Target: overhead under 0.5 s. Exit status 0 when the benchmark ran (whether or not the
target was met; ``--check`` exits 1 when it was missed).
"""

import argparse
import os
import re
import subprocess
import sys
import textwrap
import time

import _common as C

TARGET_OVERHEAD_S = 0.5
HELLO = 'print("hi")\n'

# The breakdown run: the same work plus its own process start and end times, so the
# script's own share can be told from the host's. Standard library only.
TIMED = textwrap.dedent('''\
    import os, time
    def _started():
        try:
            with open("/proc/self/stat") as f:
                ticks = int(f.read().rsplit(")", 1)[1].split()[19])
            with open("/proc/uptime") as f:
                up = float(f.read().split()[0])
            return time.time() - (up - ticks / float(os.sysconf("SC_CLK_TCK")))
        except Exception:
            return -1.0
    print("hi")
    print("bench-times %.6f %.6f" % (_started(), time.time()))
''')


def direct(python, src, script):
    t = time.perf_counter()
    subprocess.run([python, script], cwd=src, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t


def submit_wait(exp, src, script, env):
    from kyanite.core import ScriptRunConfig
    t = time.perf_counter()
    run = exp.submit(ScriptRunConfig(source_directory=src, script=script, environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    dt = time.perf_counter() - t
    if details["status"] != "Completed":
        raise SystemExit("bench: run %s ended %s: %s\n%s" % (run.id, details["status"], details.get("error"),
                                                            C.driver_log(run)))
    return dt, run


def run_python(run):
    """The interpreter the host started the script with (from the driver log)."""
    m = re.search(r"\[kyanite\].*starting: (\S+) ", C.driver_log(run))
    return m.group(1) if m else None


def measure(label, exp, src, env, n):
    t = time.perf_counter()
    _dt, first = submit_wait(exp, src, "hello.py", env)  # warms the env cache (builds a uv env once)
    warm_s = time.perf_counter() - t
    python = run_python(first) or sys.executable
    base, kya, diff = [], [], []
    direct(python, src, "hello.py")  # page cache / bytecode warm-up for the baseline too
    for _ in range(n):
        b = direct(python, src, "hello.py")
        k, _run = submit_wait(exp, src, "hello.py", env)
        base.append(b)
        kya.append(k)
        diff.append(k - b)
    return {"label": label, "python": python, "warm_s": warm_s, "base": base, "kya": kya, "diff": diff,
            "build_line": _build_line(first)}


def _build_line(run):
    for line in C.driver_log(run).splitlines():
        if "built in" in line or "reused cached" in line or "user-managed interpreter" in line:
            return line.replace("[kyanite] ", "").strip()
    return ""


def breakdown(ws, exp, src, env):
    """One more run, with every timestamp we can get."""
    from kyanite.core import ScriptRunConfig
    host_start = {}

    def on_state(state, details):
        h = details.get("host") or {}
        if h.get("pid") and "t" not in host_start:  # read while the host still lives
            t = C.proc_start_time(int(h["pid"]))
            if t is not None:
                host_start["t"] = t

    t0 = time.time()
    run = exp.submit(ScriptRunConfig(source_directory=src, script="timed.py", environment=env))
    t_submitted = time.time()
    watcher = C.StatusWatcher(ws._client, run.id, on_state)
    details = run.wait_for_completion(raise_on_error=False)
    t_returned = time.time()
    seen = watcher.join(15)
    log = C.driver_log(run)
    m = re.search(r"bench-times (\S+) (\S+)", log)
    script_start, script_end = (float(m.group(1)), float(m.group(2))) if m else (None, None)
    if script_start is not None and script_start < 0:
        script_start = None
    if not host_start and details.get("host", {}).get("create_time"):
        host_start["t"] = details["host"]["create_time"]  # psutil's, whole-second boot-time base
    created = C.iso_to_epoch(details.get("createdUtc"))
    started = C.iso_to_epoch(details.get("startTimeUtc"))
    ended = C.iso_to_epoch(details.get("endTimeUtc"))

    events = [
        ("submit() called", "client", t0),
        ("run record created (Queued)", "server createdUtc", created),
        ("submit() returned", "client", t_submitted),
        ("Preparing seen", "long-poll", seen.get("Preparing")),
        ("run host process started", "/proc", host_start.get("t")),
        ("Starting seen", "long-poll", seen.get("Starting")),
        ("Running (startTimeUtc)", "server", started),
        ("script process started", "script /proc", script_start),
        ("script's last line", "script", script_end),
        ("Finalizing seen", "long-poll", seen.get("Finalizing")),
        ("Completed (endTimeUtc)", "server", ended),
        ("wait_for_completion() returned", "client", t_returned),
    ]
    # in the order they happened (the scheduler may start the host before submit() returns);
    # a state that passed quicker than one long-poll round trip has no time and goes last
    timed = sorted((e for e in events if e[2] is not None), key=lambda e: e[2])
    rows, prev = [], None
    for name, source, t in timed + [e for e in events if e[2] is None]:
        step = (t - prev) if (t is not None and prev is not None) else None
        rows.append([name, source, C.fmt_s(None if t is None else t - t0), C.fmt_s(step)])
        if t is not None:
            prev = t
    host_lines = [l.replace("[kyanite] ", "") for l in log.splitlines() if l.startswith("[kyanite]")]
    return rows, host_lines, t_returned - t0, details


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=10, help="measured runs per environment (default 10)")
    p.add_argument("--skip-uv-env", action="store_true", help="only the user-managed environment")
    C.add_standard_args(p, "the target")
    args = p.parse_args(argv)
    notes = C.start_notes(args)

    from kyanite.core import Environment, Experiment

    t_all = time.perf_counter()
    with C.bench_workspace("bench-overhead", keep=args.keep) as (ws, tmp):
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "hello.py"), "w") as f:
            f.write(HELLO)
        with open(os.path.join(src, "timed.py"), "w") as f:
            f.write(TIMED)
        exp = Experiment(ws, "run-overhead")

        current = C.current_python_env()
        envs = [("user-managed", current)]
        if not args.skip_uv_env:
            yml = os.path.join(tmp, "conda_dependencies.yml")
            with open(yml, "w") as f:
                f.write("name: bench-empty\ndependencies:\n  - python=%d.%d\n  - pip: []\n" % sys.version_info[:2])
            envs.append(("uv env", Environment.from_conda_specification("bench-empty", yml)))

        results = [measure(label, exp, src, env, args.n) for label, env in envs]
        bd_rows, host_lines, bd_total, _ = breakdown(ws, exp, src, envs[-1][1])

    print()
    print("Run overhead: submit -> Completed of print(\"hi\") vs `python script.py`, "
          "N=%d per env, warm env cache (%s)" % (args.n, os.environ.get("KYANITE_CACHE_DIR")))
    for n in notes:
        print(n)
    print()
    rows = []
    for r in results:
        ok = C.median(r["diff"]) < TARGET_OVERHEAD_S
        rows.append([r["label"],
                     C.fmt_s(C.median(r["base"])), C.fmt_s(C.percentile(r["base"], 90)),
                     C.fmt_s(C.median(r["kya"])), C.fmt_s(C.percentile(r["kya"], 90)), C.fmt_s(max(r["kya"])),
                     C.fmt_s(C.median(r["diff"])), C.fmt_s(C.percentile(r["diff"], 90)),
                     "< %.1f s %s" % (TARGET_OVERHEAD_S, "met" if ok else "MISSED")])
    print(C.table(["environment", "direct med", "direct p90", "kyanite med", "kyanite p90", "kyanite max",
                   "overhead med", "overhead p90", "target"], rows))
    print("(seconds; overhead = kyanite - direct, per interleaved pair; the target applies to the median)")
    for r in results:
        print("  %-13s interpreter %s; first (warming) run %.2f s: %s" % (
            r["label"], r["python"], r["warm_s"], r["build_line"]))

    print()
    print("Breakdown of one run (%s, the script also prints its own start/end), total %.3f s:" % (
        envs[-1][0], bd_total))
    print(C.table(["event", "clock", "t (s)", "step (s)"], bd_rows))
    print("run host's own lines (driver log):")
    for l in host_lines:
        print("  " + l)

    print()
    worst = max(C.median(r["diff"]) for r in results)
    met = worst < TARGET_OVERHEAD_S
    print("SUMMARY run_overhead: " + "; ".join(
        "%s overhead median %.3f s (p90 %.3f s, direct %.3f s)" % (
            r["label"], C.median(r["diff"]), C.percentile(r["diff"], 90), C.median(r["base"]))
        for r in results) + "; target < %.1f s %s [%.0f s]" % (
        TARGET_OVERHEAD_S, "MET" if met else "MISSED", time.perf_counter() - t_all))
    return 0 if (met or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())
