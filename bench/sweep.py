#!/usr/bin/env python
"""Sweep throughput: a 20-child sweep of a 1-second script, 2 children at a time.

    python bench/sweep.py [-n 20] [--concurrency 2] [--seconds 1.0] [--keep]

In one fresh workspace (a temporary folder, its server started once, the user-managed
environment so nothing is built), after one warm-up run, it measures:

- **kyanite sweep**: ``Experiment.submit(HyperDriveConfig(..., max_total_runs=n,
  max_concurrent_runs=c))`` on a compute target with ``max_nodes=c``, from the submit call
  to ``wait_for_completion()`` returning; random sampling of ``--lr``.
- **plain runs**: the same n scripts submitted as n ordinary runs to the same target
  (the scheduler's queue alone, no sweep controller), to tell the controller's share from
  the per-run overhead.
- **optuna loop**: the same n trials (the sweep's sampled values, enqueued) driven by
  ``optuna.create_study().optimize(objective, n_jobs=c)``, where each objective runs the
  script as a subprocess and reads the metric from its output.

against the ideal ``n * seconds / c``. Prints a side-by-side table. Target: the sweep
within 20% of the ideal.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

SCRIPT = textwrap.dedent('''\
    import argparse, time
    from kyanite.core import Run
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seconds", type=float, default=1.0)
    a = p.parse_args()
    run = Run.get_context()
    time.sleep(a.seconds)
    acc = 1.0 - (a.lr - 0.3) ** 2
    run.log("Accuracy", acc)
    print("ACCURACY %r" % acc)
''')


def _t(iso):
    import calendar
    base, frac = iso.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="child runs (default 20)")
    ap.add_argument("--concurrency", "-c", type=int, default=2, help="max_concurrent_runs (default 2)")
    ap.add_argument("--seconds", type=float, default=1.0, help="how long the script sleeps (default 1.0)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = ap.parse_args(argv)

    os.environ.setdefault("KYANITE_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "kyanite-bench"))
    from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
    from kyanite.core._server import stop_server
    from kyanite.core.compute import AmlCompute, ComputeTarget
    from kyanite.train.hyperdrive import (HyperDriveConfig, PrimaryMetricGoal, RandomParameterSampling,
                                          uniform)

    root = tempfile.mkdtemp(prefix="kyanite-bench-sweep-")
    src = os.path.join(root, "src")
    os.makedirs(src)
    with open(os.path.join(src, "train.py"), "w") as f:
        f.write(SCRIPT)
    n, c, secs = args.n, args.concurrency, args.seconds
    ideal = n * secs / c
    try:
        ws = Workspace.create(name="bench-sweep", path=os.path.join(root, "ws"), show_output=False)
        target = ComputeTarget.create(ws, "bench-%d" % c, AmlCompute.provisioning_configuration(max_nodes=c))
        env = Environment("current-python")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable

        def config(*extra):
            return ScriptRunConfig(source_directory=src, script="train.py",
                                   arguments=["--seconds", secs] + list(extra), compute_target=target,
                                   environment=env)

        exp = Experiment(ws, "bench-sweep")
        exp.submit(config("--lr", 0.1)).wait_for_completion()  # warm-up: snapshot, caches, imports

        # -- the sweep ------------------------------------------------------------------
        hd = HyperDriveConfig(run_config=config(),
                              hyperparameter_sampling=RandomParameterSampling({"--lr": uniform(0.01, 1.0)}, seed=7),
                              primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=n, max_concurrent_runs=c)
        t0 = time.perf_counter()
        hd_run = exp.submit(hd)
        details = hd_run.wait_for_completion()
        sweep_wall = time.perf_counter() - t0
        assert details["status"] == "Completed", details
        kids = [k.get_details() for k in hd_run.get_children()]
        assert len(kids) == n and all(k["status"] == "Completed" for k in kids), [k["status"] for k in kids]
        lrs = [json.loads(p)["--lr"] for p in hd_run.get_hyperparameters().values()]
        run_secs = [k["durationSeconds"] for k in kids]
        created = sorted(_t(k["createdUtc"]) for k in kids)
        starts = [_t(k["startTimeUtc"]) - _t(k["createdUtc"]) for k in kids]
        ends = sorted(_t(k["endTimeUtc"]) for k in kids)
        # how soon after a child ended the controller created the next one
        reaction = [created[i] - ends[i - c] for i in range(c, n)]
        best = hd_run.get_best_run_by_primary_metric()
        best_lr = json.loads(hd_run.get_hyperparameters()[best.id])["--lr"]
        best_acc = best.get_metrics()["Accuracy"]

        # -- plain runs through the queue -------------------------------------------------
        t0 = time.perf_counter()
        runs = [exp.submit(config("--lr", lr)) for lr in lrs]
        for r in runs:
            r.wait_for_completion()
        plain_wall = time.perf_counter() - t0

        # -- a plain optuna loop of subprocesses ---------------------------------------------
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)

        def objective(trial):
            lr = trial.suggest_float("lr", 0.01, 1.0)
            out = subprocess.run([sys.executable, "train.py", "--seconds", str(secs), "--lr", repr(lr)], cwd=src,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True, text=True).stdout
            return float(out.rsplit("ACCURACY", 1)[1].split()[0])

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=7))
        for lr in lrs:
            study.enqueue_trial({"lr": lr})
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=n, n_jobs=c)
        optuna_wall = time.perf_counter() - t0
        assert abs(study.best_value - best_acc) < 1e-9

        stop_server(ws._layout)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("workspace kept at %s" % root)

    rows = [("ideal (%d x %.1f s / %d)" % (n, secs, c), ideal),
            ("kyanite sweep", sweep_wall),
            ("kyanite: %d plain runs, same queue" % n, plain_wall),
            ("optuna loop of subprocesses", optuna_wall)]
    print("\nsweep of %d children, %.1f s each, %d at a time (cpu count %s)\n" % (n, secs, c, os.cpu_count()))
    print("%-36s %9s %9s %11s" % ("", "wall s", "x ideal", "per child s"))
    for name, wall in rows:
        print("%-36s %9.2f %9.2f %11.3f" % (name, wall, wall / ideal, (wall - ideal) * c / n))
    print("\nchild run duration (host start -> end): median %.2f s, max %.2f s (script sleeps %.1f s)" % (
        sorted(run_secs)[len(run_secs) // 2], max(run_secs), secs))
    print("child created -> Running (queue, host start, snapshot, env lookup): median %.2f s" % (
        sorted(starts)[len(starts) // 2]))
    print("child ended -> next child created (the sweep controller): median %.3f s, max %.3f s" % (
        sorted(reaction)[len(reaction) // 2], max(reaction)))
    print("best: --lr %.4f, Accuracy %.5f (the same trial in both)" % (best_lr, best_acc))
    verdict = "met" if sweep_wall <= ideal * 1.2 else "missed"
    print("target (sweep within 20%% of ideal, <= %.1f s): %s (%.0f%% over)" % (
        ideal * 1.2, verdict, (sweep_wall / ideal - 1) * 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
