#!/usr/bin/env python
"""System metrics sampler overhead: the CPU the run host's sampler thread spends, in percent
of one core, at the default rate (one sample every 5 s).

    python bench/system_metrics.py [--children 8] [--seconds 3] [--check]

A process tree like a training script with data-loader workers (a parent and ``--children``
sleeping children) is sampled by ``kyanite.runtime.system_metrics.SystemSampler`` at a fast
interval (0.05 s) for ``--seconds``; the CPU time of the sampler thread (``time.thread_time``)
per sample, times the sample rate, is the overhead. Each reader (psutil, /proc; NVML when
``pynvml`` and a GPU are there) is measured.

Baseline, measured in the same invocation: this process idle for ``--seconds`` (its whole CPU
time, ``time.process_time``, in percent of one core), and this process with the fast sampler
running (the same measure), which the per-sample figure must agree with.

Target: under 1% of one core at the default interval. Exit 0 when it ran (``--check``: 1
when the target is missed).
"""

import argparse
import os
import subprocess
import sys
import time

import _common as C

TARGET_PCT = 1.0
DEFAULT_INTERVAL = 5.0
FAST = 0.05

TREE = """
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(int(sys.argv[1]))]
sys.stdout.write("ready\\n"); sys.stdout.flush()
time.sleep(600)
"""


def process_pct(seconds, work=None):
    """This process's CPU time over ``seconds`` s of wall time, in percent of one core."""
    c0, t0 = time.process_time(), time.time()
    if work is not None:
        work()
    time.sleep(max(0.0, seconds - (time.time() - t0)))
    return 100.0 * (time.process_time() - c0) / (time.time() - t0)


def measure(backend, pids, seconds, gpus=None):
    from kyanite.runtime.system_metrics import SystemSampler
    n = [0]
    s = SystemSampler(pids, lambda name, value: n.__setitem__(0, n[0] + 1), interval=FAST, backend=backend, gpus=gpus)
    pct = process_pct(seconds, s.start)
    s.stop()
    per_sample = s.cpu_seconds / max(1, s.samples)
    return dict(samples=s.samples, per_sample_ms=per_sample * 1000.0, metrics=n[0] / max(1, s.samples),
                pct_default=100.0 * per_sample / DEFAULT_INTERVAL, pct_fast_process=pct)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--children", type=int, default=8, help="sleeping children of the sampled tree (default 8)")
    p.add_argument("--seconds", type=float, default=3.0, help="measuring window per case (default 3)")
    p.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = p.parse_args(argv)
    print(C.machine_line())
    from kyanite.runtime import system_metrics as sm

    tree = subprocess.Popen([sys.executable, "-c", TREE, str(args.children)], stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        tree.stdout.readline()
        idle = process_pct(args.seconds)
        rows, worst = [], 0.0
        backends = []
        try:
            import psutil  # noqa: F401
            backends.append("psutil")
        except ImportError:
            pass
        if os.path.exists("/proc/self/stat"):
            backends.append("proc")
        for b in backends:
            r = measure(b, [tree.pid], args.seconds)
            worst = max(worst, r["pct_default"])
            rows.append(["sampler (%s), every %g s" % (b, DEFAULT_INTERVAL), "%.3f" % r["per_sample_ms"],
                         "%.0f" % r["metrics"], "%.4f" % r["pct_default"], "%.2f" % r["pct_fast_process"]])
        gpus = sm.open_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"))
        if gpus is not None:
            r = measure(backends[0] if backends else None, [tree.pid], args.seconds, gpus=gpus)
            worst = max(worst, r["pct_default"])
            rows.append(["sampler + NVML (%d GPU), every %g s" % (len(gpus.handles), DEFAULT_INTERVAL),
                         "%.3f" % r["per_sample_ms"], "%.0f" % r["metrics"], "%.4f" % r["pct_default"],
                         "%.2f" % r["pct_fast_process"]])
        else:
            print("NVML: not measured (no pynvml or no GPU here)")
        rows.append(["idle process (baseline)", "-", "-", "%.4f" % idle, "%.4f" % idle])
    finally:
        os.killpg(tree.pid, 9)
        tree.wait()
    print("\n\"%% of one core\": CPU ms per sample / %g s. The check column is this whole process's CPU "
          "while sampling every %g s: it should be about CPU ms/sample / %g s." % (DEFAULT_INTERVAL, FAST, FAST))
    print("\nSampled tree: 1 parent + %d children; %g s per case\n" % (args.children, args.seconds))
    print(C.table(["case", "CPU ms/sample", "metrics/sample", "% of one core",
                   "check: whole process %% at %g s" % FAST], rows))
    ok = worst < TARGET_PCT
    print("\ntarget (< %g%% of one core at %g s): %s" % (TARGET_PCT, DEFAULT_INTERVAL, "met" if ok else "MISSED"))
    print("SUMMARY system_metrics: sampler %.4f%% of one core at one sample per %g s (idle process %.4f%%)"
          % (worst, DEFAULT_INTERVAL, idle))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
