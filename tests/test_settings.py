"""kyanite.settings: one table declares every KYANITE_* variable; the docs come from it,
the source reads nothing it does not declare, and values parse to their types with an
error naming the variable."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kyanite import settings
from kyanite.exceptions import UserErrorException
from kyanite.settings import SettingError

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "src" / "kyanite"
NAME = re.compile(r"KYANITE_[A-Z0-9_]*[A-Z0-9]")


def _sources():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


# -- (a) the doc is the table --------------------------------------------------------------

def test_configuration_doc_is_generated_from_the_table():
    doc = (REPO / "docs" / "configuration.md").read_text()
    assert doc == settings.markdown(), (
        "docs/configuration.md is out of date: run "
        "`python -m kyanite.settings --markdown > docs/configuration.md`")
    for s in settings.TABLE:
        assert "`%s`" % s.name in doc


def test_markdown_command_prints_the_doc():
    out = subprocess.run([sys.executable, "-m", "kyanite.settings", "--markdown"],
                         stdout=subprocess.PIPE, check=True, universal_newlines=True).stdout
    assert out == (REPO / "docs" / "configuration.md").read_text()
    bad = subprocess.run([sys.executable, "-m", "kyanite.settings"], stderr=subprocess.PIPE,
                         universal_newlines=True)
    assert bad.returncode == 2 and "usage: python -m kyanite.settings --markdown" in bad.stderr


def test_readme_links_the_doc_instead_of_listing_variables():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "docs/configuration.md" in section
    assert "workspace.json" in section
    assert not NAME.search(section), "the README's Configuration section lists variables itself"


def test_table_is_well_formed():
    names = [s.name for s in settings.TABLE]
    assert len(names) == len(set(names))
    for s in settings.TABLE:
        assert NAME.fullmatch(s.name), s.name
        assert s.doc and "\n" not in s.doc, s.name
        assert s.who and set(s.who) <= {settings.SERVER, settings.RUN_HOST, settings.SCRIPT, settings.SDK,
                                         settings.CLI, settings.SCORING, settings.TESTS, settings.EXAMPLES}, s.name
        assert s.set_by in (settings.USER, settings.KYANITE), s.name
    protocol = {"KYANITE_RUN_ID", "KYANITE_SERVER_URL", "KYANITE_EXPERIMENT", "KYANITE_METRICS_SPOOL",
                "KYANITE_INPUT_DATASETS", "KYANITE_RAY_SPREAD", "KYANITE_RAY_BUNDLE"}
    assert protocol <= {s.name for s in settings.TABLE if s.set_by == settings.KYANITE}


# -- (b) the source reads only declared variables, and only through the table ---------------

def test_every_kyanite_name_in_the_source_is_declared():
    undeclared = {}
    for path in _sources():
        for name in NAME.findall(path.read_text()):
            if name not in settings.SETTINGS:
                undeclared.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert not undeclared, "declare these in kyanite/settings.py: %s" % undeclared


def _is_os_environ(node):
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def _direct_reads(tree):
    """(line, name) of os.environ.get / os.getenv / os.environ[...] reads of a KYANITE_
    variable, named by a literal or by a module constant holding one."""
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str) and node.value.value.startswith("KYANITE_"):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    consts[t.id] = node.value.value

    def kyanite_name(arg):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("KYANITE_"):
            return arg.value
        if isinstance(arg, ast.Name) and arg.id in consts:
            return consts[arg.id]
        return None

    found = []
    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in ("get", "pop") and _is_os_environ(f.value):
                arg = node.args[0]
            elif isinstance(f, ast.Attribute) and f.attr == "getenv" and isinstance(f.value, ast.Name) \
                    and f.value.id == "os":
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os_environ(node.value):
            arg = node.slice
        name = kyanite_name(arg) if arg is not None else None
        if name:
            found.append((node.lineno, name))
    return found


def test_no_module_reads_a_kyanite_variable_past_the_table():
    reads = []
    for path in _sources():
        if path.name == "settings.py" and path.parent == PKG:
            continue
        for line, name in _direct_reads(ast.parse(path.read_text(), str(path))):
            reads.append("%s:%d %s" % (path.relative_to(REPO), line, name))
    assert not reads, "read these through kyanite.settings.get(): %s" % reads


def test_the_scan_finds_direct_reads():
    src = ('import os\nVAR = "KYANITE_X_VAR"\n'
           'a = os.environ.get("KYANITE_A")\nb = os.getenv("KYANITE_B", "1")\nc = os.environ["KYANITE_C"]\n'
           'd = os.environ.get(VAR)\nos.environ["KYANITE_SET"] = "1"\ne = env.get("KYANITE_CHILD")\n')
    assert sorted(n for _, n in _direct_reads(ast.parse(src))) == ["KYANITE_A", "KYANITE_B", "KYANITE_C",
                                                                   "KYANITE_X_VAR"]


# -- (c) typed values and the clear error ---------------------------------------------------

def test_defaults_when_unset_or_empty():
    assert settings.get("KYANITE_HEARTBEAT_TIMEOUT", {}) == 60.0
    assert settings.get("KYANITE_HEARTBEAT_TIMEOUT", {"KYANITE_HEARTBEAT_TIMEOUT": ""}) == 60.0
    assert settings.get("KYANITE_WARM_HOST", {}) is True
    assert settings.get("KYANITE_KEEP_WORKDIR", {}) is False
    assert settings.get("KYANITE_RUN_ID", {}) is None
    assert settings.get("KYANITE_RAY_BUNDLE", {}) == {"CPU": 1}
    assert settings.get("KYANITE_CACHE_DIR", {}) == os.path.join(os.path.expanduser("~"), ".cache", "kyanite")


def test_values_parse_to_their_types():
    env = {"KYANITE_HEARTBEAT_TIMEOUT": "2.5", "KYANITE_SNAPSHOT_MAX_MB": "1", "KYANITE_PROCESS_RANK": "3",
           "KYANITE_WARM_HOST": "0", "KYANITE_KEEP_WORKDIR": "yes", "KYANITE_DEBUG": "True",
           "KYANITE_INPUT_DATASETS": '{"data": "/mnt/d"}', "KYANITE_CACHE_DIR": "/c", "KYANITE_RUN_ID": "r-1"}
    assert settings.get("KYANITE_HEARTBEAT_TIMEOUT", env) == 2.5
    assert settings.get("KYANITE_SNAPSHOT_MAX_MB", env) == 1.0
    assert settings.get("KYANITE_PROCESS_RANK", env) == 3
    assert settings.get("KYANITE_WARM_HOST", env) is False
    assert settings.get("KYANITE_KEEP_WORKDIR", env) is True
    assert settings.get("KYANITE_DEBUG", env) is True
    assert settings.get("KYANITE_INPUT_DATASETS", env) == {"data": "/mnt/d"}
    assert settings.get("KYANITE_CACHE_DIR", env) == "/c"
    assert settings.get("KYANITE_RUN_ID", env) == "r-1"


def test_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("KYANITE_RUN_TOKEN_GRACE", "7")
    assert settings.get("KYANITE_RUN_TOKEN_GRACE") == 7.0
    monkeypatch.delenv("KYANITE_RUN_TOKEN_GRACE")
    assert settings.get("KYANITE_RUN_TOKEN_GRACE") == 600.0


@pytest.mark.parametrize("name,raw,message", [
    ("KYANITE_HEARTBEAT_TIMEOUT", "abc", "KYANITE_HEARTBEAT_TIMEOUT must be a number of seconds, got 'abc'"),
    ("KYANITE_SNAPSHOT_MAX_MB", "lots", "KYANITE_SNAPSHOT_MAX_MB must be a number of megabytes, got 'lots'"),
    ("KYANITE_PROCESS_RANK", "1.5", "KYANITE_PROCESS_RANK must be a whole number, got '1.5'"),
    ("KYANITE_WARM_HOST", "maybe", "KYANITE_WARM_HOST must be 1 or 0 (true/false, yes/no, on/off), got 'maybe'"),
    ("KYANITE_INPUT_DATASETS", "[1]", "KYANITE_INPUT_DATASETS must be a JSON object, got '[1]'"),
    ("KYANITE_RAY_BUNDLE", "{cpu", "KYANITE_RAY_BUNDLE must be a JSON object, got '{cpu'"),
])
def test_a_malformed_value_names_the_variable(name, raw, message):
    with pytest.raises(SettingError) as err:
        settings.get(name, {name: raw})
    assert str(err.value) == message
    assert err.value.name == name
    assert isinstance(err.value, UserErrorException) and isinstance(err.value, ValueError)


def test_require_says_what_is_missing():
    assert settings.require("KYANITE_SERVER_URL", {"KYANITE_SERVER_URL": "http://x"}) == "http://x"
    with pytest.raises(SettingError, match=r"^KYANITE_SERVER_URL is not set: kyanite sets it for the run host"):
        settings.require("KYANITE_SERVER_URL", {})
    assert settings.require("KYANITE_HEARTBEAT_TIMEOUT", {}) == 60.0  # a default is enough


def test_an_undeclared_name_is_refused():
    with pytest.raises(KeyError):
        settings.get("KYANITE_NO_SUCH_THING", {})


# -- the readers use the table ---------------------------------------------------------------

def test_readers_refuse_a_malformed_value(monkeypatch, tmp_path):
    from kyanite.runtime.logs_sync import LogsSync
    from kyanite.server import run_tokens
    monkeypatch.setenv("KYANITE_LOGS_SYNC_INTERVAL", "often")
    with pytest.raises(SettingError, match="KYANITE_LOGS_SYNC_INTERVAL must be a number of seconds, got 'often'"):
        LogsSync(None, "r", str(tmp_path), print)
    monkeypatch.setenv("KYANITE_RUN_TOKEN_GRACE", "soon")
    with pytest.raises(SettingError, match="KYANITE_RUN_TOKEN_GRACE must be a number of seconds"):
        run_tokens.grace_seconds()
    from kyanite.server import guard
    monkeypatch.setenv("KYANITE_UPLOAD_MAX_MB", "lots")
    with pytest.raises(SettingError, match="KYANITE_UPLOAD_MAX_MB"):
        guard._caps()


def test_the_scoring_server_refuses_a_malformed_body_limit(tmp_path):
    env = dict(os.environ, KYANITE_SCORING_MAX_BODY_MB="big")
    proc = subprocess.run([sys.executable, "-c", "import kyanite.serving.server"], env=env,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode != 0
    assert "KYANITE_SCORING_MAX_BODY_MB must be a number of megabytes, got 'big'" in proc.stderr


def test_settings_travels_with_the_runtime():
    from kyanite.runtime.host import RUNTIME_FILES
    assert "settings.py" in RUNTIME_FILES
