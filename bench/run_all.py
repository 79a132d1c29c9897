#!/usr/bin/env python
"""Run every benchmark in this folder and print one table: each figure, its baseline
measured in the same run, and the ratio.

    python bench/run_all.py [--quick] [--only NAME,...] [--skip NAME,...] [--timeout S]
                            [--log-dir DIR] [--verbose]

Each ``bench/*.py`` (but this file and ``_*.py``) runs in turn as its own process, with
the interpreter running this script, from the repository root: one at a time, since each
starts its own workspace server and they would skew one another's timings. Its output
goes to ``<log-dir>/<name>.log`` (``--verbose`` also echoes it) and the figures are read
from the tables it prints. A benchmark that is missing, fails, times out or prints no
figure the parser knows gets a row that says so, and the others still run; one this
script has no parser for is run and reported by its ``SUMMARY`` line. One still running
after ``--timeout`` seconds gets Ctrl-C (its own clean-up stops its server), then SIGKILL
15 s later.

``--quick`` passes smaller sizes (fewer runs, points, children) for a check in a couple of
minutes; the figures are then noisier and not comparable with full runs.

``ratio`` is figure / baseline. ``better`` says which way is good for that figure: for a
time, lower (a ratio under 1 means kyanite is faster than the baseline); for a rate,
higher. Exit status: 0 when every benchmark ran and was parsed, 1 otherwise.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# Preferred order (cheap and central first); any other bench/*.py runs after these.
ORDER = ["run_overhead", "metric_ingest", "sweep", "studio", "runs_filter", "ray_overhead", "system_metrics",
         "mlflow_log_batch"]

QUICK_ARGS = {
    "run_overhead": ["-n", "5"],
    "metric_ingest": ["-n", "100000", "--mlflow-n", "1000", "--mlflow-batch-n", "20000"],
    "sweep": ["-n", "10"],
    "studio": ["--runs", "2000", "--points", "200000", "--repeat", "10"],
    "runs_filter": ["--runs", "2000", "--compare-runs", "4", "--points", "20000", "--repeat", "5"],
    "ray_overhead": ["-n", "3"],
    "mlflow_log_batch": ["--points", "20000"],
}


# -- reading the benchmarks' tables ---------------------------------------------------------------
def _num(text):
    """``'1,234.5 /pt'`` -> 1234.5; None when there is no number."""
    m = re.search(r"-?[0-9][0-9,]*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", text or "")
    return float(m.group(0).replace(",", "")) if m else None


def read_table(output, required):
    """The rows of the first aligned table (columns split by 2+ spaces, a dashes line under
    the header) whose header holds every name in ``required``: a list of dicts."""
    lines = output.splitlines()
    for i, line in enumerate(lines[:-1]):
        header = re.split(r"\s{2,}", line.strip())
        if not all(r in header for r in required) or not set(lines[i + 1].strip()) <= set("- "):
            continue
        rows = []
        for row in lines[i + 2:]:
            if not row.strip():
                break
            cells = re.split(r"\s{2,}", row.strip())
            if len(cells) < max(2, len(header) - 1) or len(cells) > len(header) + 1:
                break  # the table has ended (a note printed right under it)
            names = [""] + header if len(cells) == len(header) + 1 else header  # an empty first header
            rows.append(dict(zip(names, cells)))
        return rows
    return []


def summary_lines(output):
    return [l.strip() for l in output.splitlines() if l.startswith("SUMMARY")]


def row(figure, value, unit, baseline, base_value, better, note=""):
    ratio = value / base_value if value is not None and base_value else None
    return {"figure": figure, "value": value, "unit": unit, "baseline": baseline, "base": base_value,
            "ratio": ratio, "better": better, "note": note}


def parse_run_overhead(out):
    rows = []
    for r in read_table(out, ["environment", "direct med", "kyanite med"]):
        rows.append(row("submit -> Completed, print('hi'), median (%s)" % r["environment"],
                        _num(r.get("kyanite med")), "s", "python script.py, same interpreter", _num(r.get("direct med")),
                        "lower", "overhead %s s, target %s" % (r.get("overhead med", "?"), r.get("target", "?"))))
    return rows


def parse_metric_ingest(out):
    table = read_table(out, ["system", "µs/call", "stored pts/s"])
    kya = [r for r in table if r["system"].startswith("kyanite")]
    if not kya:
        return []
    k = kya[0]
    single = [r for r in table if "log_metric" in r["system"]]
    batch = [r for r in table if "log_batch" in r["system"]]
    rows = []
    for base in batch or [None]:
        rows.append(row("metric points stored per second (run.log)", _num(k["stored pts/s"]), "pts/s",
                        base["system"] if base else "MLflow not installed", _num(base["stored pts/s"]) if base else None,
                        "higher", "target >= 100,000 pts/s"))
    for base in single or [None]:
        rows.append(row("run.log call in the script", _num(k["µs/call"]), "µs",
                        base["system"] if base else "MLflow not installed", _num(base["µs/call"]) if base else None,
                        "lower", "target < 10 µs"))
    if "read pts/s" in k:
        for base in batch[:1]:
            rows.append(row("metric read-back, points per second", _num(k["read pts/s"]), "pts/s",
                            "MLflow get_metric_history", _num(base.get("read pts/s")), "higher"))
    return rows


def parse_sweep(out):
    walls = {}
    for line in out.splitlines():
        m = re.match(r"^(\S.*?)\s+([0-9.]+)\s+([0-9.]+)\s+(-?[0-9.]+)\s*$", line)
        if m:
            walls[m.group(1).strip()] = float(m.group(2))
    sweep = walls.get("kyanite sweep")
    ideal = next((v for k, v in walls.items() if k.startswith("ideal")), None)
    if sweep is None:
        return []
    target = re.search(r"^target \(.*\): (\w+)", out, re.M)
    note = "target: within 20%% of ideal, %s" % (target.group(1) if target else "?")
    rows = [row("sweep wall time, submit -> all children done", sweep, "s",
                next((k for k in walls if k.startswith("ideal")), "ideal"), ideal, "lower", note)]
    for name, base in walls.items():
        if name.startswith("optuna") or "plain runs" in name:
            rows.append(row("sweep wall time, submit -> all children done", sweep, "s", name, base, "lower"))
    return rows


def parse_studio(out):
    table = read_table(out, ["request", "ms"])
    ms = dict((r["request"], _num(r["ms"])) for r in table)

    def find(prefix):
        return next(((k, v) for k, v in ms.items() if k.startswith(prefix)), (None, None))
    rows = []
    base_name, base = find("baseline: every run")
    for name in [k for k in ms if k.startswith("runs page:")]:
        rows.append(row("studio " + name, ms[name], "ms", base_name or "n/a", base, "lower", "target < 100 ms"))
    base_name, base = find("baseline: the raw series")
    for name in [k for k in ms if k.startswith("chart:")]:
        note = "once per series and server start" if "first request" in name else "target < 100 ms"
        rows.append(row("studio " + name, ms[name], "ms", base_name or "n/a", base, "lower", note))
    return rows


def parse_runs_filter(out):
    table = read_table(out, ["request", "ms"])
    ms = dict((r["request"], _num(r["ms"])) for r in table)
    rows = []
    for prefix, base_prefix in (("filter:", "baseline: runs page unfiltered"), ("compare:", "baseline: one raw series")):
        base_name = next((k for k in ms if k.startswith(base_prefix)), None)
        for name in [k for k in ms if k.startswith(prefix)]:
            rows.append(row("runs " + name, ms[name], "ms", base_name or "n/a", ms.get(base_name), "lower",
                            "target < 100 ms"))
    return rows


def parse_ray_overhead(out):
    table = read_table(out, ["median s", "p90 s"])
    med = dict((r.get("", ""), _num(r.get("median s"))) for r in table)
    kya = next((v for k, v in med.items() if k.startswith("kyanite on Ray")), None)
    bare_name = next((k for k in med if k.startswith("bare Ray job")), None)
    if kya is None:
        return []
    over = next((v for k, v in med.items() if k.startswith("overhead")), None)
    verdict = re.search(r"^SUMMARY ray_overhead:.*target < [0-9.]+ s: (\w+)", out, re.M)
    return [row("submit -> Completed on a Ray target, median", kya, "s", bare_name or "bare Ray job",
                med.get(bare_name), "lower", "overhead %s s, target < 0.5 s %s" % (
                    fmt(over), verdict.group(1) if verdict else "?"))]


def parse_system_metrics(out):
    table = read_table(out, ["case", "CPU ms/sample", "% of one core"])
    idle = next((_num(r["% of one core"]) for r in table if r["case"].startswith("idle process")), None)
    return [row("system metrics sampler, %s" % r["case"], _num(r["% of one core"]), "% core",
                "this process idle", idle, "lower", "%s ms per sample, target < 1%% of one core" % r["CPU ms/sample"])
            for r in table if r["case"].startswith("sampler")]


def parse_mlflow_log_batch(out):
    table = read_table(out, ["system", "pts/s", "server-side pts/s", "read back"])
    kya = next((r for r in table if r["system"].startswith("kyanite")), None)
    base = next((r for r in table if r["system"].startswith("MLflow server")), None)
    if kya is None:  # MLflow not installed: the benchmark says so in its SUMMARY line
        skipped = re.search(r"^SUMMARY mlflow_log_batch: skipped \((.*)\)", out, re.M)
        return [row("MLflow log_batch into kyanite (skipped)", None, "", skipped.group(1), None, "")] if skipped else []
    return [row("MLflow log_batch into kyanite, server-side points per second", _num(kya["server-side pts/s"]),
                "pts/s", base["system"] if base else "n/a", _num(base["server-side pts/s"]) if base else None,
                "higher", "%s of %s points read back, target >= 10x" % (kya["read back"], kya["N"])),
            row("MLflow log_batch into kyanite, end to end (with the client's own work)", _num(kya["pts/s"]),
                "pts/s", base["system"] if base else "n/a", _num(base["pts/s"]) if base else None, "higher", "")]


PARSERS = {"run_overhead": parse_run_overhead, "metric_ingest": parse_metric_ingest, "sweep": parse_sweep,
           "studio": parse_studio, "runs_filter": parse_runs_filter, "ray_overhead": parse_ray_overhead,
           "system_metrics": parse_system_metrics, "mlflow_log_batch": parse_mlflow_log_batch}


# -- running --------------------------------------------------------------------------------------
def discover():
    names = sorted(f[:-3] for f in os.listdir(HERE)
                   if f.endswith(".py") and not f.startswith("_") and f != os.path.basename(__file__))
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def run_one(name, extra, timeout, log_path, verbose):
    cmd = [sys.executable, os.path.join(HERE, name + ".py")] + extra
    t0 = time.time()
    chunks = []
    with open(log_path, "w") as log:
        log.write("$ %s\n" % " ".join(cmd))
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                start_new_session=True)  # its own process group, to stop it whole
        deadline = t0 + timeout
        timed_out = False
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            if time.time() > deadline:
                timed_out = True
                stop_group(proc)
                break
            if not sel.select(timeout=1.0):
                continue
            line = proc.stdout.readline()
            if not line:
                break
            chunks.append(line)
            log.write(line)
            log.flush()
            if verbose:
                sys.stdout.write("    | " + line)
                sys.stdout.flush()
        proc.wait()
        proc.stdout.close()
    return {"rc": proc.returncode, "timed_out": timed_out, "seconds": time.time() - t0, "output": "".join(chunks)}


def stop_group(proc, grace=15.0):
    """Ctrl-C to the benchmark's process group (its ``finally`` blocks stop its workspace
    server and remove its temp folder), then SIGKILL to what is left after ``grace`` s."""
    import signal
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    except OSError:
        pass


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        text = "{:,.0f}".format(value)
    elif abs(value) >= 100:
        text = "%.1f" % value
    elif abs(value) >= 1:
        text = "%.2f" % value
    else:
        text = "%.3f" % value
    return text + (" " + unit if unit else "")


def fmt_ratio(ratio):
    if ratio is None:
        return "n/a"
    return ("%.0fx" if ratio >= 100 else "%.2fx" if ratio >= 0.1 else "%.2gx") % ratio


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes: a check in a few minutes, noisier figures")
    p.add_argument("--only", default="", help="comma-separated benchmark names (e.g. run_overhead,sweep)")
    p.add_argument("--skip", default="", help="comma-separated benchmark names to leave out")
    p.add_argument("--timeout", type=float, default=900, help="seconds per benchmark (default 900)")
    p.add_argument("--log-dir", default=None, help="where each benchmark's output goes (default: a temp folder)")
    p.add_argument("--verbose", "-v", action="store_true", help="echo each benchmark's output as it runs")
    args = p.parse_args(argv)

    from _common import machine_line, table

    names = discover()
    only = [n.strip().replace(".py", "") for n in args.only.split(",") if n.strip()]
    skip = set(n.strip().replace(".py", "") for n in args.skip.split(",") if n.strip())
    missing = [n for n in only if n not in names]
    if only:
        names = [n for n in only if n in names]
    names = [n for n in names if n not in skip]
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="kyanite-bench-all-")
    os.makedirs(log_dir, exist_ok=True)

    print(machine_line())
    print("benchmarks: %s%s; logs in %s" % (", ".join(names) or "(none)", " (quick sizes)" if args.quick else "",
                                             log_dir))
    t_all = time.time()
    results, summaries, problems = [], [], []
    for name in missing:
        problems.append("%s: not found in %s" % (name, HERE))
        results.append((name, [row("(benchmark not found)", None, "", "", None, "", "")]))
    for i, name in enumerate(names, 1):
        extra = QUICK_ARGS.get(name, []) if args.quick else []
        print("[%d/%d] %s ..." % (i, len(names), " ".join([name] + extra)), end="" if not args.verbose else "\n",
              flush=True)
        log_path = os.path.join(log_dir, name + ".log")
        r = run_one(name, extra, args.timeout, log_path, args.verbose)
        parser = PARSERS.get(name)
        try:
            rows = parser(r["output"]) if parser else []
        except Exception as exc:  # a changed output format must not stop the others
            rows = []
            problems.append("%s: parser error %r" % (name, exc))
        summaries += ["%s" % s for s in summary_lines(r["output"])]
        status = "timed out after %.0f s" % args.timeout if r["timed_out"] else "exit %d" % r["rc"]
        print(" %s in %.0f s, %d figure(s)" % (status, r["seconds"], len(rows)), flush=True)
        if r["rc"] != 0 or r["timed_out"]:
            tail = [l for l in r["output"].strip().splitlines()[-3:]]
            problems.append("%s: %s; last lines: %s (log %s)" % (name, status, " | ".join(tail), log_path))
        if not rows:
            if parser is None:
                note = "no parser: see its SUMMARY line" if summary_lines(r["output"]) else "no parser, no SUMMARY"
            else:
                note = "no figures read (%s); see %s" % (status, log_path)
                if r["rc"] == 0 and not r["timed_out"]:
                    problems.append("%s: ran, but no figure was read from its output (log %s)" % (name, log_path))
            rows = [row("(%s)" % note, None, "", "", None, "", "")]
        results.append((name, rows))

    print("\nAll benchmarks, %s (%.0f s)%s\n" % (time.strftime("%Y-%m-%d %H:%M"), time.time() - t_all,
                                                 ", quick sizes" if args.quick else ""))
    out = []
    for name, rows in results:
        for r in rows:
            out.append([name, r["figure"], fmt(r["value"], r["unit"]), r["baseline"], fmt(r["base"], r["unit"]),
                        fmt_ratio(r["ratio"]), r["better"], r["note"]])
    print(table(["benchmark", "figure", "value", "baseline (same run)", "baseline", "ratio", "better", "note"], out,
                ["<", "<", ">", "<", ">", ">", "<", "<"]))
    if summaries:
        print("\nSUMMARY lines:")
        for s in summaries:
            print("  " + s)
    if problems:
        print("\nProblems:")
        for prob in problems:
            print("  " + prob)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
