#!/usr/bin/env python
"""Ray target overhead: ``submit`` -> Completed on a Ray target, against a bare Ray job.

    python bench/ray_overhead.py [-n 5] [--address http://HEAD:8265] [--keep]

Without ``--address`` it starts a private single-node Ray head on 127.0.0.1 (2 CPUs,
``kyanite.compute.ray_head.LocalRayHead``) and stops it, by its pids, at the end.

Interleaved, N times each (after one warm-up of each that is not counted):

- ``ray job``: ``JobSubmissionClient.submit_job(entrypoint="<python> script.py")`` of the
  trivial script, polled every 20 ms until SUCCEEDED (Ray's own latency);
- ``kyanite``: ``Experiment.submit(ScriptRunConfig(script, compute_target=<RayCompute>,
  environment=<user-managed>))`` -> ``wait_for_completion()`` returning Completed (the
  run host runs as a Ray job, fetches the snapshot, reuses the environment, runs the
  script, ships its log and reports).

Prints median and p90 of each and of the overhead (per interleaved pair), and one
``SUMMARY`` line. Target: kyanite adds under 0.5 s to Ray's own latency.
"""

import argparse
import os
import shlex
import sys
import tempfile
import time

import _common as C

TARGET_OVERHEAD_S = 0.5
HELLO = 'print("hi")\n'


def ray_job(client, python, script_dir):
    """The bare baseline: one CPU, as kyanite asks for a one-process run."""
    from ray.job_submission import JobStatus
    t = time.perf_counter()
    job = client.submit_job(entrypoint="cd %s && %s hello.py" % (shlex.quote(script_dir), shlex.quote(python)),
                            entrypoint_num_cpus=1)
    while True:
        st = client.get_job_status(job)
        if st in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
            break
        time.sleep(0.02)
    dt = time.perf_counter() - t
    if st != JobStatus.SUCCEEDED:
        raise SystemExit("bench: the bare Ray job %s ended %s:\n%s" % (job, st, client.get_job_logs(job)))
    return dt


def kyanite_run(exp, src, target, env):
    from kyanite.core import ScriptRunConfig
    t = time.perf_counter()
    run = exp.submit(ScriptRunConfig(source_directory=src, script="hello.py", compute_target=target,
                                     environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    dt = time.perf_counter() - t
    if details["status"] != "Completed":
        raise SystemExit("bench: run %s ended %s: %s" % (run.id, details["status"], details.get("error")))
    return dt, run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=5)
    p.add_argument("--address", help="an existing Ray cluster's dashboard address")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = p.parse_args(argv)
    from ray.job_submission import JobSubmissionClient

    from kyanite.compute.ray_head import LocalRayHead
    from kyanite.core import Environment, Experiment
    from kyanite.core.compute import ComputeTarget, RayCompute

    head = None
    address = args.address
    if not address:
        t = time.perf_counter()
        head = LocalRayHead.start(num_cpus=2)
        address = head.address
        print("started a private Ray head at %s in %.1f s" % (address, time.perf_counter() - t))
    try:
        src = tempfile.mkdtemp(prefix="kyanite-bench-ray-")
        with open(os.path.join(src, "hello.py"), "w") as f:
            f.write(HELLO)
        client = JobSubmissionClient(address)
        with C.bench_workspace("bench-ray", keep=args.keep) as (ws, _tmp):
            target = ComputeTarget.attach(ws, "ray", RayCompute.attach_configuration(address=address))
            env = Environment("bench-user-managed")
            env.python.user_managed_dependencies = True
            env.python.interpreter_path = sys.executable
            exp = Experiment(ws, "ray-overhead")
            python = sys.executable
            bare = lambda: ray_job(client, python, src)  # noqa: E731
            bare()                               # warm-up: Ray starts its workers
            kyanite_run(exp, src, target, env)   # warm-up: the snapshot reaches the node cache
            rows, bares, kys, over = [], [], [], []
            for i in range(args.n):
                b = bare()
                k, run = kyanite_run(exp, src, target, env)
                bares.append(b)
                kys.append(k)
                over.append(k - b)
                rows.append([i + 1, "%.3f" % b, "%.3f" % k, "%+.3f" % (k - b)])
            print(C.table(["#", "ray job s", "kyanite s", "overhead s"], rows))
            print()
            print(C.table(["", "median s", "p90 s"], [
                ["bare Ray job (submit -> SUCCEEDED)", "%.3f" % C.median(bares), "%.3f" % C.percentile(bares, 90)],
                ["kyanite on Ray (submit -> Completed)", "%.3f" % C.median(kys), "%.3f" % C.percentile(kys, 90)],
                ["overhead (per pair)", "%.3f" % C.median(over), "%.3f" % C.percentile(over, 90)],
            ]))
            ok = C.median(over) < TARGET_OVERHEAD_S
            print("\nSUMMARY ray_overhead: bare Ray job median %.3f s, kyanite on Ray median %.3f s, "
                  "overhead median %.3f s (p90 %.3f s), target < %.1f s: %s" % (
                      C.median(bares), C.median(kys), C.median(over), C.percentile(over, 90),
                      TARGET_OVERHEAD_S, "met" if ok else "MISSED"))
            if args.check and not ok:
                return 1
    finally:
        if head is not None:
            head.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
