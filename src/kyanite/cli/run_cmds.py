"""``kyanite run submit|list|show|logs|cancel|download``: runs from the shell."""

import json
import os
import shlex
import sys
import time
import urllib.parse

from kyanite.cli import _follow, _table
from kyanite.cli._workspace import open_workspace
from kyanite.core import Environment, Experiment, Run, ScriptRunConfig
from kyanite.exceptions import UserErrorException
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.protocol.runfiles import DRIVER_LOG

EXIT_RUN_FAILED = 1  # a followed run ended Failed or Canceled


def register(sub):
    p = sub.add_parser("run", help="submit, list, inspect, follow, cancel and download runs",
                       description="Runs of the workspace found from --path or the current folder.")
    rsub = p.add_subparsers(dest="run_command", metavar="COMMAND", required=True)

    s = rsub.add_parser(
        "submit", help="submit a script as a run", allow_abbrev=False,
        usage="kyanite run submit [options] SCRIPT [ARGS...] [-- ARGS...]",
        description="Submit SCRIPT as a tracked run and print its run id. Arguments the command does "
                    "not know are passed to the script; put them after `--` when they clash with "
                    "the command's own options (kyanite run submit train.py -- --follow 1).",
        epilog="Without --conda-file, --requirements, --environment or --current-python the run gets "
               "a fresh default environment (built once and cached).")
    s.add_argument("script", metavar="SCRIPT", help="the script; relative to --source-dir when given")
    s.add_argument("--source-dir", metavar="DIR",
                   help="the folder to snapshot and run in (default: the script's folder)")
    s.add_argument("--experiment", metavar="NAME", default="default",
                   help="experiment name (default: default)")
    s.add_argument("--target", metavar="NAME", default="local", help="compute target (default: local)")
    env = s.add_mutually_exclusive_group()
    env.add_argument("--conda-file", metavar="YML", help="environment from a conda specification")
    env.add_argument("--requirements", metavar="TXT", help="environment from a pip requirements file")
    env.add_argument("--environment", metavar="NAME[:VERSION]", help="a registered environment")
    env.add_argument("--current-python", action="store_true",
                     help="run with this Python (%s), nothing built" % sys.executable)
    s.add_argument("--follow", action="store_true",
                   help="stream the log until the run ends; exit 0 when Completed, 1 otherwise")
    _path_arg(s)
    s.set_defaults(func=submit, takes_script_args=True)

    s = rsub.add_parser("list", help="list runs, newest first")
    s.add_argument("--experiment", "-e", metavar="NAME", help="only this experiment's runs")
    s.add_argument("--limit", "-n", metavar="N", type=int, default=20, help="at most N runs (default 20, 0: all)")
    s.add_argument("--json", action="store_true", help="print the run records as JSON")
    _path_arg(s)
    s.set_defaults(func=list_runs)

    s = rsub.add_parser("show", help="a run's details, metrics and files")
    s.add_argument("run_id", metavar="RUN_ID")
    s.add_argument("--json", action="store_true", help="print the run record as JSON")
    _path_arg(s)
    s.set_defaults(func=show)

    s = rsub.add_parser("logs", help="print a run's log; --follow streams it until the run ends")
    s.add_argument("run_id", metavar="RUN_ID")
    s.add_argument("--follow", "-f", action="store_true",
                   help="keep printing until the run ends; exit 0 when Completed, 1 otherwise")
    s.add_argument("--name", default=DRIVER_LOG, help="which log (default: %s)" % DRIVER_LOG)
    _path_arg(s)
    s.set_defaults(func=logs)

    s = rsub.add_parser("cancel", help="cancel a run and wait until it has stopped")
    s.add_argument("run_id", metavar="RUN_ID")
    s.add_argument("--no-wait", action="store_true", help="return once the cancel is requested")
    s.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for the run to stop (default 60)")
    _path_arg(s)
    s.set_defaults(func=cancel)

    s = rsub.add_parser("download", help="download a run's files")
    s.add_argument("run_id", metavar="RUN_ID")
    s.add_argument("--prefix", "-p", metavar="P", help="only files whose name starts with P (e.g. outputs/)")
    s.add_argument("--output", "-o", metavar="DIR", help="where to put them (default: ./RUN_ID)")
    _path_arg(s)
    s.set_defaults(func=download)


def _path_arg(p):
    p.add_argument("--path", metavar="DIR", help="the workspace folder (default: search the current "
                                                   "folder and its parents)")


def _info(msg):
    print(msg, file=sys.stderr, flush=True)


def _get_run(ws, run_id):
    return Run.get(ws, run_id)


# -- submit --------------------------------------------------------------------------------
def submit(args):
    source_dir, script = _locate_script(args.script, args.source_dir)
    ws = open_workspace(args.path)
    env = _environment(ws, args)
    config = ScriptRunConfig(source_directory=source_dir, script=script, arguments=list(args.script_args),
                             compute_target=args.target, environment=env)
    run = Experiment(ws, args.experiment).submit(config)
    print(run.id, flush=True)
    _info("Submitted %s in %s to experiment %r on target %r, environment %s." % (
        script, source_dir, args.experiment, args.target, _env_label(env)))
    if not args.follow:
        _info("Follow it with: kyanite run logs %s --follow" % run.id)
        return 0
    return _follow_to_end(run)


def _locate_script(script, source_dir):
    if source_dir is not None:
        src = os.path.abspath(source_dir)
        if not os.path.isdir(src):
            raise UserErrorException("--source-dir %r is not a folder." % source_dir)
        if not os.path.isabs(script) and os.path.isfile(os.path.join(src, script)):
            return src, script
        full = os.path.abspath(script)
        if os.path.isfile(full) and full.startswith(src + os.sep):
            return src, os.path.relpath(full, src)
        raise UserErrorException("Script %r not found in the source folder %s." % (script, src))
    full = os.path.abspath(script)
    if not os.path.isfile(full):
        raise UserErrorException("Script %r not found (looked at %s)." % (script, full))
    return os.path.dirname(full), os.path.basename(full)


def _environment(ws, args):
    if args.current_python:
        env = Environment("current-python")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable
        return env
    if args.conda_file:
        return Environment.from_conda_specification(_stem(args.conda_file), args.conda_file)
    if args.requirements:
        return Environment.from_pip_requirements(_stem(args.requirements), args.requirements)
    if args.environment:
        name, _, version = args.environment.partition(":")
        return Environment.get(ws, name, version=version or None)
    return None  # the SDK's default environment


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0] or "environment"


def _env_label(env):
    if env is None:
        return "default"
    if env.python.user_managed_dependencies:
        return "%r (user managed: %s)" % (env.name, env.python.interpreter_path or "this Python")
    return repr(env.name) + (" version %s" % env.version if env.version else "")


def _follow_to_end(run):
    try:
        status = _follow.follow_log(run)
    except KeyboardInterrupt:
        _info("\nStopped following; run %s goes on. Cancel it with: kyanite run cancel %s" % (run.id, run.id))
        return 130
    details = run.get_details()
    _info("Run %s: %s after %s" % (run.id, status, _table.duration(details.get("durationSeconds"))))
    if details.get("error"):
        _info("Error: %s" % details["error"].get("message"))
    return 0 if status == RunStatus.COMPLETED else EXIT_RUN_FAILED


# -- list ----------------------------------------------------------------------------------
def list_runs(args):
    if args.limit < 0:
        raise UserErrorException("--limit must be 0 (all) or more, got %d." % args.limit)
    ws = open_workspace(args.path)
    params = {"limit": args.limit}
    if args.experiment:
        path = "/api/experiments/%s/runs" % urllib.parse.quote(args.experiment, safe="")
    else:
        path = "/api/runs"
    rows = ws._client.get(path, params=params)["runs"]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No runs%s yet. Submit one with: kyanite run submit SCRIPT" % (
            " in experiment %r" % args.experiment if args.experiment else ""))
        return 0
    for line in _table.table(
            ("RUN ID", "EXPERIMENT", "STATUS", "TARGET", "STARTED", "DURATION"),
            [(r["runId"], r["experiment"], r["status"], r.get("target"), _table.local_time(r.get("startTimeUtc")),
              _table.duration(r.get("durationSeconds"))) for r in rows]):
        print(line)
    return 0


# -- show ----------------------------------------------------------------------------------
def show(args):
    ws = open_workspace(args.path)
    run = _get_run(ws, args.run_id)
    d = run.get_details()
    metrics = ws._client.get("/api/runs/%s/metrics" % run.id)["metrics"]
    files = ws._client.get("/api/runs/%s/artifacts" % run.id)["files"]
    if args.json:
        print(json.dumps(dict(d, metrics=metrics, files=files), indent=2))
        return 0
    definition = d.get("runDefinition") or {}
    error = d.get("error") or {}
    pairs = [
        ("Run", d["runId"]),
        ("Name", d.get("displayName") if d.get("displayName") not in (None, d["runId"]) else None),
        ("Experiment", "%s (run #%s)" % (d.get("experiment"), d.get("number"))),
        ("Parent", d.get("parentRunId")),
        ("Status", d["status"]),
        ("Target", d.get("target")),
        ("Created", _table.local_time(d.get("createdUtc"))),
        ("Started", _table.local_time(d.get("startTimeUtc"))),
        ("Ended", _table.local_time(d.get("endTimeUtc"))),
        ("Duration", _table.duration(d.get("durationSeconds"))),
        ("Script", definition.get("script")),
        ("Arguments", " ".join(shlex.quote(str(a)) for a in definition.get("arguments") or []) or None),
        ("Source", definition.get("sourceDirectory")),
        ("Environment", _describe_env(definition.get("environment"), d.get("resolvedPackages"))),
        ("Tags", _pairs(d.get("tags"))),
        ("Properties", _pairs(d.get("properties"))),
        ("Error", error.get("message")),
    ]
    for line in _table.fields(pairs):
        print(line)
    tail = error.get("logTail") or []
    if tail:
        print("\nLast log lines:")
        for t in tail[-10:]:
            print("  " + t.rstrip("\n"))
    print("\nMetrics (last value of each):" if metrics else "\nMetrics: none")
    if metrics:
        for line in _table.table(("NAME", "LAST", "COUNT"), [_metric_row(m) for m in metrics]):
            print("  " + line)
    print("\nFiles:" if files else "\nFiles: none")
    if files:
        for line in _table.table(("NAME", "SIZE"), [(f["path"], _table.size(f["size"])) for f in files]):
            print("  " + line)
    return 0


def _describe_env(env, resolved):
    if not env:
        return None
    spec = env.get("spec") or {}
    name = env.get("name") or "?"
    if env.get("version"):
        name += " version %s" % env["version"]
    if spec.get("user_managed"):
        text = "%s (user managed: %s)" % (name, spec.get("interpreter") or "the server's Python")
    else:
        text = "%s (python %s, %d pip requirement(s))" % (name, spec.get("python") or "default",
                                                          len(spec.get("pip") or []))
    if resolved:
        text += ", %d package(s) resolved" % len(resolved)
    return text


def _pairs(d):
    return ", ".join("%s=%s" % (k, v) if v != "" else k for k, v in sorted(d.items())) if d else None


def _metric_row(m):
    values = m.get("values") or []
    kind = m.get("kind")
    last = values[-1] if values else None
    if kind == "table" and isinstance(last, dict):
        last = "table: " + ", ".join(last)
    elif kind == "row" and isinstance(last, dict):
        last = "row: " + ", ".join("%s=%s" % (k, _table.value(v, 20)) for k, v in last.items())
    elif kind == "image":
        last = "image %s" % last
    return m["name"], _table.value(last), len(values)


# -- logs ----------------------------------------------------------------------------------
def logs(args):
    ws = open_workspace(args.path)
    run = _get_run(ws, args.run_id)
    if not args.follow:
        _follow.print_log(run, args.name)
        return 0
    try:
        status = _follow.follow_log(run, args.name)
    except KeyboardInterrupt:
        _info("\nStopped following; run %s goes on." % run.id)
        return 130
    _info("Run %s: %s" % (run.id, status))
    return 0 if status == RunStatus.COMPLETED else EXIT_RUN_FAILED


# -- cancel --------------------------------------------------------------------------------
def cancel(args):
    ws = open_workspace(args.path)
    run = _get_run(ws, args.run_id)
    status = run._details["status"]
    if status in TERMINAL_STATES:
        print("Run %s already ended: %s." % (run.id, status))
        return 0
    run.cancel()
    status = run._details["status"]
    if args.no_wait or status in TERMINAL_STATES:
        print("Run %s: %s." % (run.id, status))
        return 0
    _info("Cancel requested for run %s; waiting for it to stop..." % run.id)
    deadline = time.time() + args.timeout
    while status not in TERMINAL_STATES and time.time() < deadline:
        status = ws._client.get("/api/runs/%s/wait" % run.id, params={
            "status": status, "timeout": max(0.1, min(10.0, deadline - time.time()))})["status"]
    if status not in TERMINAL_STATES:
        print("Run %s is still %s after %.0f s; it will be ended when its host answers." % (
            run.id, status, args.timeout))
        return EXIT_RUN_FAILED
    print("Run %s: %s." % (run.id, status))
    return 0


# -- download ------------------------------------------------------------------------------
def download(args):
    ws = open_workspace(args.path)
    run = _get_run(ws, args.run_id)
    files = ws._client.get("/api/runs/%s/artifacts" % run.id, params={"prefix": args.prefix})["files"]
    if not files:
        raise UserErrorException("Run %s has no files%s." % (
            run.id, " under %r" % args.prefix if args.prefix else ""))
    out = os.path.abspath(args.output or run.id)
    total = sum(f["size"] for f in files)
    width = len(str(len(files)))
    t0 = time.time()
    for i, f in enumerate(files, 1):
        dest = os.path.join(out, *f["path"].split("/"))
        print("[%*d/%d] %s (%s)" % (width, i, len(files), f["path"], _table.size(f["size"])), flush=True)
        run.download_file(f["path"], dest)
    print("Downloaded %d file(s), %s, to %s in %.1fs." % (len(files), _table.size(total), out, time.time() - t0))
    return 0
