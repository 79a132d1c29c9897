"""``kyanite sweep submit|show|best``: hyperparameter sweeps from the shell.

A sweep file (YAML) names the script and the search; paths are relative to the file::

    experiment: keras-mnist
    source_directory: .            # default: the sweep file's folder
    script: train.py
    arguments: [--epochs, 3]
    compute_target: cpu-cluster    # default: local
    environment:                   # one of: conda_file, requirements, name[/version], current_python
      conda_file: conda_dependencies.yml
    sampling:
      type: random                 # random | grid | bayesian
      seed: 1                      # random only; rule: sobol also works
      parameters:
        --learning-rate: loguniform(-6, -1)
        --batch-size: choice(25, 50, 100)
        --layers: [1, 2, 3]        # a list is a choice
    policy:                        # optional: bandit | median | truncation
      type: bandit
      evaluation_interval: 2
      slack_factor: 0.1
    primary_metric: {name: Accuracy, goal: maximize}
    max_total_runs: 20
    max_concurrent_runs: 4
    max_duration_minutes: 120

Register with ``register(subparsers)``.
"""

import ast
import json
import os
import re
import sys
import warnings

from kyanite.exceptions import UserErrorException

EXIT_SWEEP_FAILED = 1
_EXPR = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)


def register(sub):
    p = sub.add_parser("sweep", help="hyperparameter sweeps: submit, show, best",
                       description="Hyperparameter sweeps (HyperDrive runs) of the workspace found from --path "
                                   "or the current folder.")
    ssub = p.add_subparsers(dest="sweep_command", metavar="COMMAND", required=True)

    s = ssub.add_parser("submit", help="submit a sweep described by a YAML file",
                        description="Submit the sweep described by SWEEP_FILE (YAML; see `kyanite sweep submit "
                                    "--example`) and print its run id.")
    s.add_argument("sweep_file", metavar="SWEEP_FILE", nargs="?", help="the sweep file (YAML)")
    s.add_argument("--experiment", metavar="NAME", help="experiment name (overrides the file's)")
    s.add_argument("--follow", action="store_true",
                   help="print the children as they start and end; exit 0 when the sweep Completed, 1 otherwise")
    s.add_argument("--example", action="store_true", help="print an example sweep file and exit")
    _path_arg(s)
    s.set_defaults(func=submit)

    s = ssub.add_parser("show", help="a sweep's settings and its children with their best primary metric")
    s.add_argument("run_id", metavar="SWEEP_ID")
    s.add_argument("--json", action="store_true", help="print the sweep summary as JSON")
    _path_arg(s)
    s.set_defaults(func=show)

    s = ssub.add_parser("best", help="the best child run of a sweep: id, metric, hyperparameters, arguments")
    s.add_argument("run_id", metavar="SWEEP_ID")
    s.add_argument("--json", action="store_true", help="print the best child as JSON")
    _path_arg(s)
    s.set_defaults(func=best)


def _path_arg(p):
    p.add_argument("--path", metavar="DIR", help="the workspace folder (default: search the current "
                                                   "folder and its parents)")


def _info(msg):
    print(msg, file=sys.stderr, flush=True)


def _open(path):
    from kyanite.cli._workspace import open_workspace
    return open_workspace(path)


# -- the sweep file ---------------------------------------------------------------------------
def parse_expression(name, value):
    """``"loguniform(-6, -1)"``, ``[1, 2, 3]`` (a choice) or ``{"uniform": [0, 1]}``."""
    from kyanite.train import hyperdrive as hd
    from kyanite.sweep.expressions import KINDS
    if isinstance(value, list):
        return hd.choice(value)
    if isinstance(value, dict) and len(value) == 1:
        kind, args = next(iter(value.items()))
        args = args if isinstance(args, list) else [args]
    elif isinstance(value, str) and _EXPR.match(value):
        kind, inner = _EXPR.match(value).groups()
        try:
            args = ast.literal_eval("[%s]" % inner) if inner.strip() else []
        except (ValueError, SyntaxError):
            raise UserErrorException("Parameter %r: cannot read the arguments of %r." % (name, value))
    else:
        raise UserErrorException("Parameter %r: %r is not an expression; write e.g. 'choice(16, 32)', "
                                 "'uniform(0.1, 0.9)', 'loguniform(-6, -1)' or a list of values." % (name, value))
    if kind not in KINDS:
        raise UserErrorException("Parameter %r: unknown expression %r; known: %s." % (name, kind, ", ".join(KINDS)))
    if kind == "choice" and len(args) == 1 and isinstance(args[0], list):
        args = args[0]
    try:
        return getattr(hd, kind)(*args)
    except TypeError as exc:
        raise UserErrorException("Parameter %r: %s" % (name, exc))


def load_sweep_file(path, ws, experiment=None):
    """``(experiment name, HyperDriveConfig)`` from a sweep file."""
    import yaml
    from kyanite.core import Environment, ScriptRunConfig
    from kyanite.train import hyperdrive as hd
    if not os.path.isfile(path):
        raise UserErrorException("Sweep file %r not found." % path)
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise UserErrorException("%s is not valid YAML: %s" % (path, exc))
    if not isinstance(doc, dict):
        raise UserErrorException("%s must hold a mapping (script, sampling, primary_metric, ...)." % path)
    base = os.path.dirname(os.path.abspath(path))

    def rel(p):
        return p if os.path.isabs(p) else os.path.join(base, p)

    unknown = set(doc) - {"experiment", "source_directory", "script", "arguments", "compute_target", "environment",
                          "sampling", "policy", "primary_metric", "max_total_runs", "max_concurrent_runs",
                          "max_duration_minutes", "resume_from", "resume_child_runs"}
    if unknown:
        raise UserErrorException("%s: unknown key(s) %s." % (path, ", ".join(sorted(unknown))))
    if not doc.get("script"):
        raise UserErrorException("%s: 'script' is required (the training script, relative to source_directory)." % path)
    env_doc = doc.get("environment") or {"current_python": False}
    if not isinstance(env_doc, dict):
        raise UserErrorException("%s: 'environment' must be a mapping (conda_file, requirements, name or "
                                 "current_python)." % path)
    env = None
    if env_doc.get("conda_file"):
        env = Environment.from_conda_specification(env_doc.get("name") or "sweep-env", rel(env_doc["conda_file"]))
    elif env_doc.get("requirements"):
        env = Environment.from_pip_requirements(env_doc.get("name") or "sweep-env", rel(env_doc["requirements"]))
    elif env_doc.get("current_python"):
        env = Environment("current-python")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable
    elif env_doc.get("name"):
        env = Environment.get(ws, env_doc["name"], version=env_doc.get("version"))
    src = ScriptRunConfig(source_directory=rel(doc.get("source_directory") or "."), script=doc["script"],
                          arguments=list(doc.get("arguments") or []),
                          compute_target=doc.get("compute_target") or "local", environment=env)

    sampling = doc.get("sampling") or {}
    if not isinstance(sampling, dict) or not isinstance(sampling.get("parameters"), dict):
        raise UserErrorException("%s: 'sampling' needs 'parameters' (a mapping of argument name to expression)."
                                 % path)
    space = dict((str(k), parse_expression(k, v)) for k, v in sampling["parameters"].items())
    kind = str(sampling.get("type", "random")).lower()
    if kind == "random":
        ps = hd.RandomParameterSampling(space, seed=sampling.get("seed"), rule=sampling.get("rule"))
    elif kind == "grid":
        ps = hd.GridParameterSampling(space)
    elif kind == "bayesian":
        ps = hd.BayesianParameterSampling(space)
    else:
        raise UserErrorException("%s: sampling type must be random, grid or bayesian, got %r." % (path, kind))

    policy = None
    pol = doc.get("policy")
    if pol:
        if not isinstance(pol, dict) or "type" not in pol:
            raise UserErrorException("%s: 'policy' needs a 'type' (bandit, median, truncation, none)." % path)
        args = dict((k, v) for k, v in pol.items() if k != "type")
        ptype = str(pol["type"]).lower()
        classes = {"bandit": hd.BanditPolicy, "median": hd.MedianStoppingPolicy, "medianstopping": hd.MedianStoppingPolicy,
                   "truncation": hd.TruncationSelectionPolicy, "truncationselection": hd.TruncationSelectionPolicy,
                   "none": hd.NoTerminationPolicy}
        if ptype not in classes:
            raise UserErrorException("%s: policy type must be bandit, median, truncation or none, got %r." % (path, ptype))
        try:
            policy = classes[ptype](**args)
        except TypeError as exc:
            raise UserErrorException("%s: policy %s: %s" % (path, ptype, exc))

    pm = doc.get("primary_metric") or {}
    if isinstance(pm, str):
        pm = {"name": pm}
    config = hd.HyperDriveConfig(
        run_config=src, hyperparameter_sampling=ps, policy=policy, primary_metric_name=pm.get("name"),
        primary_metric_goal=pm.get("goal", "maximize"), max_total_runs=doc.get("max_total_runs"),
        max_concurrent_runs=doc.get("max_concurrent_runs"),
        max_duration_minutes=doc.get("max_duration_minutes") or 10080,
        resume_from=doc.get("resume_from"), resume_child_runs=doc.get("resume_child_runs"))
    return experiment or doc.get("experiment") or "default", config


# -- commands -----------------------------------------------------------------------------------
def submit(args):
    from kyanite.core import Experiment
    if args.example:
        print(__doc__[__doc__.index("    experiment:"):__doc__.index("Register with")].replace("\n    ", "\n")
              .strip())
        return 0
    if not args.sweep_file:
        raise UserErrorException("Give the sweep file: kyanite sweep submit SWEEP_FILE (see --example).")
    ws = _open(args.path)
    experiment, config = load_sweep_file(args.sweep_file, ws, args.experiment)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Experiment(ws, experiment).submit(config)
    for w in caught:
        _info("warning: %s" % w.message)
    print(run.id, flush=True)
    spec = config.to_json()
    _info("Submitted a sweep of %s to experiment %r: %s sampling, up to %s child runs, %s at a time." % (
        config.run_config.script, experiment, spec["sampling"]["name"], spec["maxTotalRuns"],
        run.get_spec()["maxConcurrentRuns"]))
    if not args.follow:
        _info("Watch it with: kyanite sweep show %s" % run.id)
        return 0
    try:
        details = run.wait_for_completion(show_output=True, raise_on_error=False)
    except KeyboardInterrupt:
        _info("\nStopped watching; sweep %s goes on. Cancel it with: kyanite run cancel %s" % (run.id, run.id))
        return 130
    return 0 if details["status"] == "Completed" else EXIT_SWEEP_FAILED


def _summary(ws, run_id):
    return ws._client.get("/api/sweeps/%s" % run_id)


def _fmt(x):
    return "-" if x is None else ("%.6g" % x if isinstance(x, float) else str(x))


def show(args):
    from kyanite.cli import _table
    ws = _open(args.path)
    s = _summary(ws, args.run_id)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    run, spec = s["run"], s["spec"]
    policy = spec.get("policy")
    for line in _table.fields([
            ("Sweep", run["runId"]), ("Experiment", run["experiment"]), ("Status", run["status"]),
            ("Target", run.get("target")),
            ("Primary metric", "%s (%s)" % (spec["primaryMetricName"], spec["primaryMetricGoal"])),
            ("Sampling", spec["sampling"]["name"]),
            ("Policy", "%s %s" % (policy["name"], json.dumps(policy["properties"])) if policy else "none"),
            ("Runs", "%d of %d, at most %d at a time" % (len(s["children"]), spec["maxTotalRuns"],
                                                          spec.get("maxConcurrentRuns") or spec["maxTotalRuns"])),
            ("Progress", (run.get("tags") or {}).get("hyperdrive.progress")),
            ("Error", (run.get("error") or {}).get("message"))]):
        print(line)
    if s["children"]:
        print("")
        maximize = spec["primaryMetricGoal"] == "maximize"
        kids = sorted(s["children"], key=lambda c: (c["bestMetric"] is None,
                                                    -(c["bestMetric"] or 0) if maximize else (c["bestMetric"] or 0)))
        for line in _table.table(("CHILD RUN", "STATUS", "BEST " + spec["primaryMetricName"].upper(), "POINTS",
                                  "HYPERPARAMETERS", "NOTE"),
                                 [(c["runId"], c["status"], _fmt(c["bestMetric"]), c["metricCount"],
                                   json.dumps(c["hyperparameters"]), c.get("termination") or "") for c in kids]):
            print(line)
    return 0


def best(args):
    ws = _open(args.path)
    s = _summary(ws, args.run_id)
    spec = s["spec"]
    maximize = spec["primaryMetricGoal"] == "maximize"
    scored = [c for c in s["children"] if c["bestMetric"] is not None]
    if not scored:
        raise UserErrorException("No child run of sweep %s has logged the primary metric %r yet." % (
            args.run_id, spec["primaryMetricName"]))
    top = (max if maximize else min)(scored, key=lambda c: c["bestMetric"])
    if args.json:
        print(json.dumps(top, indent=2))
        return 0
    print(top["runId"])
    _info("best %s: %s (%s)" % (spec["primaryMetricName"], _fmt(top["bestMetric"]), top["status"]))
    _info("hyperparameters: %s" % json.dumps(top["hyperparameters"]))
    _info("arguments: %s" % " ".join(top.get("arguments") or []))
    return 0
