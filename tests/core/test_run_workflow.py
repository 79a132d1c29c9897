"""The SDK's run workflow through a real server: a submitted run's record, metrics and
files; interactive runs; tags, properties, children; offline context; reprs."""

import os
import subprocess
import sys
import textwrap

import pytest

from kyanite.core import Experiment, Run, ScriptRunConfig
from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32

SCRIPT = textwrap.dedent("""
    import os, sys
    from kyanite.core import Run
    run = Run.get_context()
    print("argv", sys.argv[1:])
    print("helper", open("helper.txt").read())
    run.log("once", 0.5)
    for i in range(5):
        run.log("loss", 1.0 / (i + 1))
    run.log_list("accs", [0.1, 0.2, 0.3])
    run.log_row("rows", epoch=1, acc=0.5)
    run.log_row("rows", epoch=2, acc=0.75)
    run.log_table("table", {"x": [1, 2], "y": [3, 4]})
    with open("picture.png", "wb") as f:
        f.write(%r)
    run.log_image("picture", path="picture.png")
    run.tag("phase", "train")
    run.add_properties({"framework": "none"})
    os.makedirs("outputs/sub", exist_ok=True)
    open("outputs/model.txt", "w").write("weights")
    open("outputs/sub/extra.txt", "w").write("extra")
    open("logs/progress.log", "w").write("progress 100%%\\n")
""" % PNG)


@pytest.fixture(scope="module")
def done_run(ws, tmp_path_factory, current_env):
    src = tmp_path_factory.mktemp("workflow-src")
    (src / "train.py").write_text(SCRIPT)
    (src / "helper.txt").write_text("data")
    run = Experiment(ws, "workflow").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=["--epochs", 2, "--lr", 0.5],
        environment=current_env))
    run.wait_for_completion(raise_on_error=True)
    return run


def test_details_have_the_v1_keys(done_run):
    d = done_run.get_details()
    for key in ("runId", "target", "status", "startTimeUtc", "endTimeUtc", "properties", "runDefinition",
                "logFiles"):
        assert key in d, key
    assert d["runId"] == done_run.id and d["status"] == "Completed" and d["target"] == "local"
    assert d["startTimeUtc"] <= d["endTimeUtc"] and d["startTimeUtc"].endswith("Z")
    assert d["runDefinition"]["script"] == "train.py"
    assert d["runDefinition"]["arguments"] == ["--epochs", "2", "--lr", "0.5"]
    assert d["properties"] == {"framework": "none"}
    assert set(d["logFiles"]) == {"user_logs/std_log.txt", "logs/progress.log"}
    assert d["logFiles"]["user_logs/std_log.txt"].endswith("/api/runs/%s/artifacts/user_logs/std_log.txt"
                                                           % done_run.id)
    assert d["error"] is None
    assert "fastapi" in d["resolvedPackages"]  # the user-managed interpreter's packages


def test_log_files_readable(done_run, ws):
    logs = done_run.get_details_with_logs()["logFiles"]
    assert "argv ['--epochs', '2', '--lr', '0.5']" in logs["user_logs/std_log.txt"]
    assert "helper data" in logs["user_logs/std_log.txt"]
    assert logs["logs/progress.log"] == "progress 100%\n"


def test_metric_shapes(done_run):
    m = done_run.get_metrics()
    assert m["once"] == 0.5
    assert m["loss"] == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    assert m["accs"] == [0.1, 0.2, 0.3]
    assert m["rows"] == {"epoch": [1, 2], "acc": [0.5, 0.75]}
    assert m["table"] == {"x": [1, 2], "y": [3, 4]}
    assert m["picture"].startswith("images/picture_") and m["picture"].endswith(".png")
    assert set(m) == {"once", "loss", "accs", "rows", "table", "picture"}
    assert done_run.get_metrics(name="loss") == {"loss": m["loss"]}


def test_files_and_downloads(done_run, tmp_path):
    names = done_run.get_file_names()
    for n in ("outputs/model.txt", "outputs/sub/extra.txt", "logs/progress.log", "user_logs/std_log.txt"):
        assert n in names
    image = done_run.get_metrics()["picture"]
    assert image in names
    assert open(done_run.download_file(image, str(tmp_path / "img.png")), "rb").read() == PNG
    out = done_run.download_file("outputs/model.txt", str(tmp_path))
    assert out == str(tmp_path / "model.txt") and open(out).read() == "weights"
    got = done_run.download_files(prefix="outputs/", output_directory=str(tmp_path / "dl"))
    assert sorted(got) == ["outputs/model.txt", "outputs/sub/extra.txt"]
    assert (tmp_path / "dl" / "outputs" / "sub" / "extra.txt").read_text() == "extra"
    assert not (tmp_path / "dl" / "logs").exists()
    with pytest.raises(NotFoundException, match="outputs/model.txt"):  # lists what there is
        done_run.download_file("outputs/none.bin", str(tmp_path))
    with pytest.raises(UserErrorException, match="not allowed"):
        done_run.download_file("../../token", str(tmp_path))


def test_file_names_with_spaces_and_percent_signs(ws, tmp_path):
    run = Experiment(ws, "odd-names").start_logging()
    src = tmp_path / "src.txt"
    src.write_text("odd")
    for name in ("outputs/a b.txt", "outputs/100%/c#d?.txt", "outputs/é.txt"):
        run.upload_file(name, str(src))
        assert name in run.get_file_names()
        out = tmp_path / "dl" / os.path.basename(name)
        run.download_file(name, str(out))
        assert out.read_text() == "odd"
    run.complete()


def test_tags_and_properties_of_submitted_run(done_run):
    assert done_run.get_tags() == {"phase": "train"}
    done_run.tag("reviewed")
    done_run.set_tags({"phase": "eval", "score": 3})
    assert done_run.get_tags() == {"phase": "eval", "reviewed": "", "score": "3"}
    done_run.add_properties({"framework": "none", "extra": 1})
    with pytest.raises(ConflictException, match="immutable"):
        done_run.add_properties({"framework": "keras"})
    assert done_run.get_properties() == {"framework": "none", "extra": "1"}


def test_experiments_and_runs_listed(ws, done_run):
    names = [e.name for e in Experiment.list(ws)]
    assert "workflow" in names
    assert [e.name for e in Experiment.list(ws, experiment_name="workflow")] == ["workflow"]
    runs = list(Experiment(ws, "workflow").get_runs())
    assert done_run.id in [r.id for r in runs]
    assert Run.get(ws, done_run.id).get_status() == "Completed"
    assert "workflow" in ws.experiments


def test_interactive_run(ws, tmp_path):
    exp = Experiment(ws, "interactive")
    run = exp.start_logging()
    assert run.get_status() == "Running"
    run.log("acc", 0.9)
    run.log("loss", 2)
    run.log("loss", 1)
    run.log_row("r", a=1, b="x")
    with pytest.raises(UserErrorException, match="'acc'.*neither a number nor text"):
        run.log("acc", None)  # text is a value (tests/core/test_metric_values.py); None is not
    with pytest.raises(UserErrorException, match="'bad'"):
        run.log_list("bad", [1, None])
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    run.upload_file("outputs/notes.txt", str(f))
    folder = tmp_path / "folder"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "deep" / "b.txt").write_text("b")
    run.upload_folder("uploaded", str(folder))
    with pytest.raises(UserErrorException, match="no such file"):
        run.upload_file("outputs/x", str(tmp_path / "absent"))
    with pytest.raises(UserErrorException, match="not allowed"):
        run.upload_file("../escape.txt", str(f))
    assert sorted(run.get_file_names()) == ["outputs/notes.txt", "uploaded/a.txt", "uploaded/deep/b.txt"]
    run.download_files(prefix="uploaded", output_directory=str(tmp_path / "back"), append_prefix=False)
    assert (tmp_path / "back" / "deep" / "b.txt").read_text() == "b"

    child = run.child_run(name="fold-1")
    child.log("acc", 0.5)
    grandchild = child.child_run()
    kids = run.get_children()
    assert [k.id for k in kids] == [child.id] and kids[0].name == "fold-1"
    assert [k.id for k in run.get_children(recursive=True)] == [child.id, grandchild.id]
    assert child.parent.id == run.id
    child.complete()
    grandchild.fail(error_details="diverged")
    run.complete()
    assert run.get_status() == "Completed" and child.get_status() == "Completed"
    assert grandchild.get_details()["error"]["message"] == "diverged"
    assert run.get_metrics() == {"acc": 0.9, "loss": [2.0, 1.0], "r": {"a": [1], "b": ["x"]}}
    assert run.get_metrics(recursive=True)[child.id] == {"acc": 0.5}
    run.log("late", 1)  # after complete: still stored, status unchanged
    assert run.get_metrics()["late"] == 1.0
    assert run.get_status() == "Completed"


def test_interactive_run_as_context_manager(ws):
    with Experiment(ws, "interactive").start_logging() as run:
        run.log("x", 1)
    assert run.get_status() == "Completed"
    with pytest.raises(RuntimeError):
        with Experiment(ws, "interactive").start_logging() as failing:
            raise RuntimeError("stop here")
    d = failing.get_details()
    assert d["status"] == "Failed" and "stop here" in d["error"]["message"]


def test_log_image_from_matplotlib_figure(ws):
    plt = pytest.importorskip("matplotlib.pyplot", reason="matplotlib is not installed in this environment")
    fig = plt.figure()
    plt.plot([1, 2, 3])
    run = Experiment(ws, "interactive").start_logging()
    run.log_image("curve", plot=fig)
    run.complete()
    name = run.get_metrics()["curve"]
    assert name in run.get_file_names()


def test_log_image_needs_one_source(ws, tmp_path):
    run = Experiment(ws, "interactive").start_logging()
    with pytest.raises(UserErrorException, match="exactly one"):
        run.log_image("x")
    with pytest.raises(UserErrorException, match="no such file"):
        run.log_image("x", path=str(tmp_path / "none.png"))
    run.complete()


def test_repr_html_has_link(ws):
    run = Experiment(ws, "interactive").start_logging()
    html = run._repr_html_()
    assert '<a href="%s/runs/%s"' % (ws.server_url, run.id) in html
    assert run.id in repr(run) and "interactive" in repr(run)
    run.complete()


def test_offline_context_prints(tmp_path):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("KYANITE_RUN"))
    code = ("from kyanite.core import Run\n"
            "run = Run.get_context()\n"
            "print(type(run).__name__, run.id.startswith('OfflineRun'))\n"
            "run.log('accuracy', 0.75)\n"
            "run.log_row('rows', a=1)\n"
            "run.tag('t', 'v')\n"
            "run.complete()\n"
            "print(run.get_status())\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True).stdout
    assert "_OfflineRun True" in out
    assert "Attempted to log scalar metric accuracy:\n0.75" in out
    assert "Attempted to log row metric rows:" in out
    assert out.strip().endswith("Completed")


def test_offline_context_in_process(capsys):
    if os.environ.get("KYANITE_RUN_ID"):
        pytest.skip("the tests run inside a kyanite run")
    run = Run.get_context()
    run.log("m", 3)
    assert "Attempted to log scalar metric m:\n3\n" in capsys.readouterr().out  # an int stays one
    with pytest.raises(UserErrorException, match="'m'"):
        run.log("m", None)
