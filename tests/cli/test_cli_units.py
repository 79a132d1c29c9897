"""In-process checks of the CLI's parsing and formatting (no server)."""

import pytest

from kyanite.cli import _table
from kyanite.cli.main import parse
from kyanite.cli.server_cmds import _is_loopback


def test_submit_passes_unknown_options_and_everything_after_dashes_to_the_script():
    a = parse(["run", "submit", "train.py", "--epochs", "3", "--follow", "--lr=0.1", "-x", "-1"])
    assert (a.script, a.script_args, a.follow) == ("train.py", ["--epochs", "3", "--lr=0.1", "-x", "-1"], True)
    a = parse(["run", "submit", "--current-python", "t.py", "--", "--follow", "--target", "x"])
    assert (a.script_args, a.follow, a.target, a.current_python) == (["--follow", "--target", "x"], False,
                                                                      "local", True)


def test_submit_does_not_take_abbreviations_of_its_options():
    assert parse(["run", "submit", "t.py", "--fol"]).script_args == ["--fol"]


def test_other_commands_refuse_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        parse(["run", "list", "--bogus"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        parse(["run", "list", "--", "x"])


def test_environment_options_are_exclusive():
    with pytest.raises(SystemExit):
        parse(["run", "submit", "t.py", "--current-python", "--conda-file", "env.yml"])


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                       ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.4", False),
                                       ("myhost.example", False)])
def test_loopback_detection_drives_the_warning(host, loop):
    assert _is_loopback(host) is loop


def test_table_aligns_columns_and_dashes_missing_cells():
    lines = _table.table(("A", "LONGER"), [("xxxx", None), ("y", "z")])
    assert lines == ["A     LONGER", "xxxx  -", "y     z"]


@pytest.mark.parametrize("secs,text", [(None, "-"), (0.42, "0.4s"), (59.94, "59.9s"), (245, "4m 05s"),
                                       (7380, "2h 03m")])
def test_duration(secs, text):
    assert _table.duration(secs) == text


def test_sizes_and_times():
    assert _table.size(512) == "512 B"
    assert _table.size(1536) == "1.5 KB"
    assert _table.size(3 * 1024 * 1024) == "3.0 MB"
    assert _table.local_time(None) == "-"
    assert _table.local_time("2024-05-01T12:03:04.123Z").startswith("2024-05-0")
