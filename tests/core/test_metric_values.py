"""Metric values as SDK v1 keeps them: a string logged with run.log is stored and comes
back as the string, an int as an int, lists, rows and tables holding strings keep them;
a logged "NaN" string never turns into a float, nor a NaN float into a string; the
studio's summary gives a string series' last value as text (shown, not plotted)."""

import math

import pytest
import requests

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.exceptions import UserErrorException

SCRIPT = """
from kyanite.core import Run
run = Run.get_context()
run.log("epochs", 3)
run.log("lr", 0.5)
run.log("optimizer", "adam")
run.log("nan_text", "NaN")
run.log("nan_float", float("nan"))
for v in (1, "two", 3.5, "Infinity"):
    run.log("mixed", v)
run.log_list("names", ["a", "b", 7])
run.log_row("rows", split="train", acc=0.9, note="NaN")
run.log_row("rows", split="test", acc=float("nan"), note="ok")
run.log_table("table", {"cls": ["cat", "dog"], "n": [4, 5], "p": [float("inf"), 0.25]})
"""

EXPECTED = {
    "epochs": 3, "lr": 0.5, "optimizer": "adam", "nan_text": "NaN", "names": ["a", "b", 7],
}


@pytest.fixture(scope="module")
def logged(ws, tmp_path_factory, current_env):
    src = tmp_path_factory.mktemp("metric-values-src")
    (src / "train.py").write_text(SCRIPT)
    run = Experiment(ws, "metric-values").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", environment=current_env))
    run.wait_for_completion(raise_on_error=True)
    return run


def _auth(ws):
    return {"Authorization": "Bearer " + ws._client.token}


def _check(metrics):
    for name, want in EXPECTED.items():
        assert metrics[name] == want, name
        assert type(metrics[name]) is type(want), name
    assert type(metrics["names"][2]) is int
    assert math.isnan(metrics["nan_float"]) and isinstance(metrics["nan_float"], float)
    mixed = metrics["mixed"]
    assert mixed == [1, "two", 3.5, "Infinity"] and type(mixed[0]) is int
    rows = metrics["rows"]
    assert rows["split"] == ["train", "test"] and rows["note"] == ["NaN", "ok"]
    assert rows["acc"][0] == 0.9 and math.isnan(rows["acc"][1])
    table = metrics["table"]
    assert table["cls"] == ["cat", "dog"] and table["n"] == [4, 5] and table["p"] == [float("inf"), 0.25]


def test_script_run_strings_and_ints_come_back_as_logged(logged):
    _check(logged.get_metrics())


def test_interactive_run_strings_and_ints_come_back_as_logged(ws):
    run = Experiment(ws, "metric-values-interactive").start_logging()
    exec(SCRIPT.replace("from kyanite.core import Run\nrun = Run.get_context()\n", ""), {"run": run})
    _check(run.get_metrics())
    assert run.get_metrics("optimizer") == {"optimizer": "adam"}
    run.complete()


def test_log_refuses_values_that_are_neither_numbers_nor_text(ws):
    run = Experiment(ws, "metric-values-bad").start_logging()
    for bad in (None, b"bytes", object()):
        with pytest.raises(UserErrorException, match="number"):
            run.log("bad", bad)
    run.complete()


def test_server_refuses_null_and_nested_scalar_values(ws, logged):
    url = "%s/api/runs/%s/metrics" % (ws._client.base_url, logged.id)
    for bad in (None, [1], {"a": 1}):
        r = requests.post(url, json={"metrics": [{"name": "x", "values": [bad], "ts": [1.0]}]},
                          headers=_auth(ws))
        assert r.status_code == 400 and "not a number or a string" in r.text, r.text


def test_studio_summary_shows_a_string_metric_as_text(ws, logged):
    # What the run page fetches: /metrics/summary. A text series carries its last value
    # and "text": true, so the page lists it under "Single values" and draws no chart.
    r = requests.get("%s/api/runs/%s/metrics/summary" % (ws._client.base_url, logged.id), headers=_auth(ws))
    summary = dict((m["name"], m) for m in r.json()["metrics"])
    assert summary["optimizer"]["last"] == "adam" and summary["optimizer"]["text"] is True
    assert summary["nan_text"]["last"] == "NaN" and summary["nan_text"]["text"] is True
    assert summary["epochs"]["last"] == 3 and "text" not in summary["epochs"]
    assert summary["nan_float"]["last"] is None and "text" not in summary["nan_float"]
    assert summary["mixed"]["last"] == "Infinity" and summary["mixed"]["text"] is True


def test_wire_form_tells_text_from_non_finite_floats(ws, logged):
    r = requests.get("%s/api/runs/%s/metrics" % (ws._client.base_url, logged.id), headers=_auth(ws))
    series = dict((m["name"], m) for m in r.json()["metrics"])
    assert series["mixed"]["types"] == ["int", "str", "float", "str"]
    assert series["nan_text"]["types"] == ["str"]
    assert "types" not in series["nan_float"] and series["nan_float"]["values"] == ["NaN"]
    assert series["rows"]["nonFinite"] == [[1, "acc"]]
    assert series["table"]["nonFinite"] == [[0, "p", 0]]
