"""Every ``KYANITE_*`` environment variable, declared once: its type, default, meaning and
who reads it.

``TABLE`` lists them; ``get(name)`` reads one from the environment (or from a given
mapping) as its declared type::

    from kyanite import settings
    settings.get("KYANITE_HEARTBEAT_TIMEOUT")   # -> 60.0, or the float the variable holds
    settings.require("KYANITE_SERVER_URL")      # -> str; SettingError when it is not set

Contract:

- an unset or empty variable gives the declared default (``None`` where there is none);
- a malformed value raises :class:`SettingError` naming the variable, what it must be and
  what it holds (``KYANITE_HEARTBEAT_TIMEOUT must be a number of seconds, got 'abc'``);
- reading a name the table does not declare is a programming error (``KeyError``): a new
  variable is added here first, with its documentation;
- ``set_by`` tells who sets a variable: ``user`` for configuration, ``kyanite`` for the
  protocol between kyanite's own processes (the server sets ``KYANITE_TOKEN`` for a run
  host, the run host ``KYANITE_RUN_ID`` for the script, ...).

``python -m kyanite.settings --markdown`` prints ``docs/configuration.md``.

Standard library only and Python 3.6 compatible: the run host and the in-script runtime
read some of these, so this module travels with them (``kyanite.runtime.host.RUNTIME_FILES``).
"""

import json
import os
import sys

from kyanite.exceptions import UserErrorException

__all__ = ["Setting", "SettingError", "TABLE", "SETTINGS", "get", "require", "markdown"]

# who reads a variable
SERVER, RUN_HOST, SCRIPT, SDK, CLI, SCORING, TESTS, EXAMPLES = (
    "server", "run host", "script", "SDK", "CLI", "scoring", "tests", "examples")
# who sets it
USER, KYANITE = "user", "kyanite"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingError(UserErrorException, ValueError):
    """A ``KYANITE_*`` variable holds a value of the wrong form, or a required one is unset.
    ``name`` is the variable; the message says what it must be and what it holds."""

    def __init__(self, name, message):
        UserErrorException.__init__(self, message, name=name)


def _seconds(raw):
    return float(raw)


def _number(raw):
    return float(raw)


def _integer(raw):
    return int(raw)


def _flag(raw):
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(raw)


def _json_object(raw):
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(raw)
    return value


def _text(raw):
    return raw


#: type name -> (parser, what a value must be, how the default is written in the docs)
TYPES = {
    "seconds": (_seconds, "a number of seconds", lambda d: "%g s" % d),
    "megabytes": (_number, "a number of megabytes", lambda d: "%g MB" % d),
    "integer": (_integer, "a whole number", lambda d: "%d" % d),
    "flag": (_flag, "1 or 0 (true/false, yes/no, on/off)", lambda d: "1" if d else "0"),
    "json": (_json_object, "a JSON object", lambda d: "`%s`" % json.dumps(d)),
    "path": (_text, "a folder path", lambda d: "`%s`" % d),
    "url": (_text, "a URL", lambda d: "`%s`" % d),
    "text": (_text, "text", lambda d: "`%s`" % d),
}


class Setting(object):
    """One variable: ``name``, ``type`` (a key of ``TYPES``), ``default`` (typed; ``None``:
    none), ``doc`` (one line), ``who`` (the parts that read it), ``set_by`` (``user`` or
    ``kyanite``; kyanite-set variables are protocol between its processes)."""

    __slots__ = ("name", "type", "default", "doc", "who", "set_by")

    def __init__(self, name, type, default, doc, who, set_by=USER):
        if type not in TYPES:
            raise ValueError("%s: unknown type %r" % (name, type))
        self.name, self.type, self.default, self.doc = name, type, default, doc
        self.who = tuple(who)
        self.set_by = set_by

    def parse(self, raw):
        """The typed value of ``raw`` (a non-empty string); SettingError when malformed."""
        parser, what, _ = TYPES[self.type]
        try:
            return parser(raw)
        except ValueError:
            raise SettingError(self.name, "%s must be %s, got %r" % (self.name, what, raw))

    def default_value(self):
        if self.type == "path" and self.default:
            return os.path.expanduser(self.default)
        if isinstance(self.default, dict):
            return dict(self.default)  # a caller may change its copy
        return self.default

    def default_text(self):
        if self.default is None:
            return "unset"
        return TYPES[self.type][2](self.default)

    def __repr__(self):
        return "Setting(%r)" % self.name


TABLE = (
    # -- set by the user: configuration ----------------------------------------------------
    Setting("KYANITE_CACHE_DIR", "path", "~/.cache/kyanite",
            "The node cache: built environments, fetched snapshots, dataset files, the runtime shim.",
            (RUN_HOST, SDK, SERVER)),
    Setting("KYANITE_HEARTBEAT_TIMEOUT", "seconds", 60.0,
            "A run whose host sent no heartbeat for this long is marked Failed (host lost).",
            (SERVER,)),
    Setting("KYANITE_HEARTBEAT_INTERVAL", "seconds", 2.0,
            "How often a run host sends its heartbeat to the server.",
            (RUN_HOST,)),
    Setting("KYANITE_LOGS_SYNC_INTERVAL", "seconds", 2.0,
            "How often files under a running script's `./logs` are shipped to the server; 0 turns it off.",
            (RUN_HOST,)),
    Setting("KYANITE_SYSTEM_METRICS_INTERVAL", "seconds", 5.0,
            "How often a run host records the script's CPU, memory and GPU use as `system/` metrics of the run; 0 turns it off.",
            (RUN_HOST,)),
    Setting("KYANITE_RUN_TOKEN_GRACE", "seconds", 600.0,
            "How long a run's token keeps working after the run ends (a late log line or upload still lands).",
            (SERVER,)),
    Setting("KYANITE_SNAPSHOT_MAX_MB", "megabytes", 300.0,
            "The largest source snapshot a submit uploads; a bigger source folder is refused with its biggest files named.",
            (SDK, SERVER)),
    Setting("KYANITE_UPLOAD_MAX_MB", "megabytes", 20480.0,
            "The largest file upload (run artifact, datastore file) the server accepts (bigger: 413).",
            (SERVER,)),
    Setting("KYANITE_SCORING_MAX_BODY_MB", "megabytes", 100.0,
            "The largest request body a deployment's scoring server accepts (bigger: 413).",
            (SCORING,)),
    Setting("KYANITE_WARM_HOST", "flag", True,
            "Keep one local run host started ahead, waiting for the next run; 0 turns it off.",
            (SERVER,)),
    Setting("KYANITE_KEEP_WORKDIR", "flag", False,
            "Keep a run's working folder in the node cache after the run ends (for debugging the run host).",
            (RUN_HOST,)),
    Setting("KYANITE_RAY_SPREAD_TIMEOUT", "seconds", 900.0,
            "How long a run spread over several Ray nodes waits for its nodes to be reserved.",
            (RUN_HOST,)),
    Setting("KYANITE_NODE_IP", "text", None,
            "The address other nodes reach this node at, used as MASTER_ADDR of a distributed run "
            "(unset: 127.0.0.1).",
            (RUN_HOST,)),
    Setting("KYANITE_GPUS", "text", None,
            "The GPUs of this machine that kyanite gives to GPU targets' runs, as device ids for "
            "`CUDA_VISIBLE_DEVICES` (`0,1`), or `none`; unset: the GPUs that NVML or `nvidia-smi` finds. "
            "Tests set it to simulate GPUs on a CPU machine.",
            (SERVER, RUN_HOST)),
    Setting("KYANITE_DEBUG", "flag", False,
            "The CLI shows the full traceback of an error instead of its one-line message.",
            (CLI,)),
    Setting("KYANITE_TOKEN", "text", None,
            "The workspace token. Set by you for the SDK and CLI when `.kyanite/config.json` names a "
            "server but no token; set by kyanite for each run host and script (then the run's own token).",
            (SDK, CLI, RUN_HOST, SCRIPT), USER),
    # -- set by kyanite: protocol between its processes --------------------------------
    Setting("KYANITE_SERVER_URL", "url", None,
            "The workspace server's URL, for the run host and the script.",
            (RUN_HOST, SCRIPT), KYANITE),
    Setting("KYANITE_RUN_ID", "text", None,
            "The id of the run the script executes in; `Run.get_context()` is offline without it.",
            (SCRIPT,), KYANITE),
    Setting("KYANITE_EXPERIMENT", "text", None,
            "The name of the run's experiment.",
            (SCRIPT,), KYANITE),
    Setting("KYANITE_METRICS_SPOOL", "path", None,
            "The file the script appends metric points to; the run host ships them in batches.",
            (SCRIPT,), KYANITE),
    Setting("KYANITE_INPUT_DATASETS", "json", None,
            "`{input name: local folder}` of the datasets mounted or downloaded for the run.",
            (SCRIPT,), KYANITE),
    Setting("KYANITE_PROCESS_RANK", "integer", None,
            "The rank of this process in a distributed run (also RANK, AZUREML_PROCESS_RANK).",
            (SCRIPT,), KYANITE),
    Setting("KYANITE_DIST_BACKEND", "text", None,
            "The torch.distributed backend of a PyTorch distributed run, lower case (e.g. `nccl`, `gloo`).",
            (SCRIPT,), KYANITE),
    Setting("KYANITE_RAY_SPREAD", "flag", False,
            "The Ray executor started this run host as a Ray job that may spread the run over several nodes.",
            (RUN_HOST,), KYANITE),
    Setting("KYANITE_RAY_BUNDLE", "json", {"CPU": 1},
            "The Ray resources each node of a spread run reserves.",
            (RUN_HOST,), KYANITE),
    Setting("KYANITE_TARGET_ENV_NAMES", "text", None,
            "Comma-separated names of the Ray target's `env_vars`, which the run host passes on to the script "
            "(see \"What a script inherits\" below).",
            (RUN_HOST,), KYANITE),
    Setting("KYANITE_MODELS_ROOT", "path", None,
            "The folder holding `<model>/<version>/` for a deployment's models (`Model.get_model_path`).",
            (SCORING, SCRIPT), KYANITE),
    Setting("KYANITE_MODEL_DIR", "path", None,
            "With one model deployed, that model's folder (also AZUREML_MODEL_DIR).",
            (SCORING, SCRIPT), KYANITE),
    Setting("KYANITE_SERVICE_NAME", "text", None,
            "The name of the deployment a scoring server serves.",
            (SCORING,), KYANITE),
    # -- tests and examples ------------------------------------------------------------
    Setting("KYANITE_MNIST_DIR", "path", None,
            "The folder with the four MNIST IDX `.gz` files (unset: `shared/data/mnist` beside the repository).",
            (TESTS, EXAMPLES)),
    Setting("KYANITE_TEST_POSTGRES_URL", "url", None,
            "A PostgreSQL database URL: the store conformance tests also run against it.",
            (TESTS,)),
    Setting("KYANITE_TEST_ARTIFACTS", "path", None,
            "Where the studio tests write their screenshots (unset: under pytest's temporary folder).",
            (TESTS,)),
    Setting("KYANITE_CHROMIUM", "path", None,
            "The Chromium binary the studio tests drive (unset: `chromium` on PATH).",
            (TESTS,)),
    Setting("KYANITE_PG_PORT", "integer", 54329,
            "The port of the PostgreSQL server `.ci/postgres.sh` starts for the tests.",
            (TESTS,)),
    Setting("KYANITE_PG_DIR", "path", "/tmp/kyanite-ci-pg",
            "The data folder of the PostgreSQL server `.ci/postgres.sh` starts for the tests.",
            (TESTS,)),
    Setting("KYANITE_TEST_SESSION", "text", None,
            "Marks every process a test session starts, so that the session ends them all at exit.",
            (TESTS,), KYANITE),
)

#: name -> Setting
SETTINGS = dict((s.name, s) for s in TABLE)


def get(name, environ=None):
    """The typed value of variable ``name`` in ``environ`` (default ``os.environ``); its
    default when unset or empty; SettingError when malformed; KeyError when undeclared."""
    setting = SETTINGS[name]
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw == "":
        return setting.default_value()
    return setting.parse(raw)


def require(name, environ=None):
    """Like :func:`get`, but SettingError when the variable is unset and has no default."""
    value = get(name, environ)
    if value is None:
        setting = SETTINGS[name]
        who = ("kyanite sets it for the %s" % " and ".join(setting.who) if setting.set_by == KYANITE
               else "set it to %s" % TYPES[setting.type][1])
        raise SettingError(name, "%s is not set: %s." % (name, who))
    return value


def _cell(text):
    return text.replace("|", "\\|")


def markdown():
    """``docs/configuration.md``: the table, as Markdown."""
    out = ["# Configuration: environment variables", "",
           "Generated from `src/kyanite/settings.py` by `python -m kyanite.settings --markdown`;",
           "edit the table there, not this file. A variable left unset or empty takes its default;",
           "a malformed value is refused with an error naming the variable.", "",
           "The workspace itself (database, listen address) is configured in "
           "`.kyanite/workspace.json`: see the README.", ""]
    sections = (
        ("Set by you", lambda s: s.set_by == USER and TESTS not in s.who),
        ("Set by kyanite for its own processes", lambda s: s.set_by == KYANITE and TESTS not in s.who),
        ("Tests and examples", lambda s: TESTS in s.who),
    )
    notes = {
        "Set by kyanite for its own processes": "Protocol between the server, the run host, the "
        "script and the scoring server: kyanite sets these; a script may read them.",
    }
    for title, keep in sections:
        out += ["## " + title, ""]
        if title in notes:
            out += [notes[title], ""]
        out += ["| variable | type | default | read by | meaning |", "| --- | --- | --- | --- | --- |"]
        for s in TABLE:
            if keep(s):
                out.append("| `%s` | %s | %s | %s | %s |" % (
                    s.name, s.type, s.default_text(), ", ".join(s.who), _cell(s.doc)))
        out.append("")
    out += _inherited()
    return "\n".join(out)


def _inherited():
    """The section on the variables a run host, a script and a scoring process get, from
    the allow-lists of ``kyanite.runtime.environ``."""
    from kyanite.runtime import environ as e
    names = lambda xs: ", ".join("`%s`" % x for x in xs)  # noqa: E731
    return ["## What a script inherits", "",
            "A run's script and a scoring process never get the variables of the process that started "
            "the server (a notebook kernel's `MPLBACKEND`, secrets): they start from an allow-list "
            "(`kyanite.runtime.environ`), then get the environment's `environment_variables`, the run's "
            "own variables (the table above; `MPLBACKEND=Agg` unless set) and, on Ray, the target's "
            "`env_vars`.", "",
            "- script and scoring process: `PATH` (the environment's Python folder, then `%s`), %s, and "
            "names starting with %s." % (e.SYSTEM_PATH, names(e._NAMES), names(p + "*" for p in e._PREFIXES)),
            "- run host (builds environments): the same but the server's whole `PATH`, plus %s and names "
            "starting with %s." % (names(n for n in e._HOST_NAMES if n != "PATH"),
                                   names(p + "*" for p in e._HOST_PREFIXES)),
            "- anything else a script needs (`LD_LIBRARY_PATH`, `PYTHONPATH`...): set it in the "
            "environment's `environment_variables`.", ""]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--markdown"]:
        sys.stderr.write("usage: python -m kyanite.settings --markdown\n")
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
