"""The model registry against a real workspace server: register, versions, list filters,
tags and properties, download, errors, and lineage with runs."""

import os

import pytest

from kyanite.core import Experiment, Model, ScriptRunConfig
from kyanite.exceptions import (
    ConflictException, ModelNotFoundException, UserErrorException, WebserviceException,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("modelfiles")
    (d / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    folder = d / "net"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 3}')
    (folder / "sub" / "w.npy").write_bytes(b"abc")
    return d


def test_register_file_and_folder_with_versions(ws, files):
    m1 = Model.register(ws, model_path=str(files / "weights.bin"), model_name="reg-a", tags={"framework": "x"},
                        properties={"acc": 0.9}, description="first", model_framework=Model.Framework.KERAS,
                        model_framework_version="3.15.1")
    assert (m1.name, m1.version, m1.id) == ("reg-a", 1, "reg-a:1")
    assert m1.tags == {"framework": "x"} and m1.properties == {"acc": "0.9"}
    assert (m1.description, m1.model_framework, m1.model_framework_version) == ("first", "Keras", "3.15.1")
    assert m1.created_time is not None and m1.run_id is None
    m2 = Model.register(ws, model_path=str(files / "net"), model_name="reg-a")
    assert m2.version == 2 and m2.is_folder and m2.asset == "net"

    assert Model(ws, "reg-a").version == 2                      # latest
    assert Model(ws, "reg-a", version=1).description == "first"
    assert Model(ws, id="reg-a:1") == m1
    assert Model(ws, name="reg-a", tags=[["framework", "x"]]).version == 1


def test_unknown_models_and_versions_are_clear_errors(ws, files):
    with pytest.raises(ModelNotFoundException, match="no model named 'nope'"):
        Model(ws, "nope")
    Model.register(ws, str(files / "weights.bin"), "reg-b")
    with pytest.raises(WebserviceException, match="has no version 7; its versions are 1"):
        Model(ws, "reg-b", version=7)
    with pytest.raises(UserErrorException, match="does not exist"):
        Model.register(ws, str(files / "missing.bin"), "reg-b")
    with pytest.raises(UserErrorException, match="Invalid model name"):
        Model.register(ws, str(files / "weights.bin"), "bad/name")


def test_list_filters(ws, files):
    Model.register(ws, str(files / "weights.bin"), "reg-l", tags={"stage": "dev", "team": "a"})
    Model.register(ws, str(files / "weights.bin"), "reg-l", tags={"stage": "prod"}, properties={"auc": 1})
    Model.register(ws, str(files / "weights.bin"), "reg-l2", tags={"stage": "prod"})
    assert [m.id for m in Model.list(ws, name="reg-l")] == ["reg-l:2", "reg-l:1"]
    assert [m.id for m in Model.list(ws, name="reg-l", latest=True)] == ["reg-l:2"]
    assert {m.id for m in Model.list(ws, tags=[["stage", "prod"]])} >= {"reg-l:2", "reg-l2:1"}
    assert [m.id for m in Model.list(ws, tags=["team"])] == ["reg-l:1"]
    assert [m.id for m in Model.list(ws, properties=[["auc", "1"]])] == ["reg-l:2"]
    latest = {m.id for m in Model.list(ws, latest=True)}
    assert "reg-l:2" in latest and "reg-l:1" not in latest


def test_tags_properties_description(ws, files):
    m = Model.register(ws, str(files / "weights.bin"), "reg-t", tags={"a": "1", "b": "2"})
    m.add_tags({"c": 3})
    m.remove_tags(["a"])
    assert Model(ws, "reg-t").tags == {"b": "2", "c": "3"}
    m.add_properties({"p": "x"})
    m.add_properties({"p": "x"})  # the same value again is fine
    with pytest.raises(ConflictException, match="already 'x'"):
        m.add_properties({"p": "y"})
    m.update(tags={"only": "this"}, description="new text")
    again = Model(ws, "reg-t")
    assert again.tags == {"only": "this"} and again.description == "new text" and again.properties == {"p": "x"}


def test_download_file_and_folder(ws, files, tmp_path):
    f = Model.register(ws, str(files / "weights.bin"), "reg-d")
    d = Model.register(ws, str(files / "net"), "reg-d")
    path = f.download(str(tmp_path / "one"))
    assert path == str(tmp_path / "one" / "weights.bin")
    assert open(path, "rb").read() == (files / "weights.bin").read_bytes()
    with pytest.raises(WebserviceException, match="exist_ok=True"):
        f.download(str(tmp_path / "one"))
    assert f.download(str(tmp_path / "one"), exist_ok=True) == path
    folder = d.download(str(tmp_path / "two"))
    assert sorted(os.path.relpath(os.path.join(r, n), folder) for r, _, ns in os.walk(folder) for n in ns) == \
        ["config.json", os.path.join("sub", "w.npy")]
    # Model.get_model_path with a workspace downloads into ./kyanite-models and returns the path
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        p = Model.get_model_path("reg-d", _workspace=ws)
        assert p == str(tmp_path / "kyanite-models" / "reg-d" / "2" / "net")
        assert Model.get_model_path("reg-d", version=2) == p  # found locally afterwards
    finally:
        os.chdir(cwd)


def test_delete_model(ws, files):
    m = Model.register(ws, str(files / "weights.bin"), "reg-x")
    m.delete()
    with pytest.raises(ModelNotFoundException):
        Model(ws, "reg-x")
    assert Model.register(ws, str(files / "weights.bin"), "reg-x").version == 1


def test_register_from_run_with_lineage(ws, make_script, current_env):
    src = make_script("""
        import os
        from kyanite.core import Run, Model
        run = Run.get_context()
        os.makedirs("outputs/model/assets", exist_ok=True)
        open("outputs/model/model.txt", "w").write("weights v1")
        open("outputs/model/assets/vocab.txt", "w").write("a b c")
        open("outputs/notes.txt", "w").write("not the model")
        # inside the script: registering uploads what is not uploaded yet
        m = run.register_model(model_name="in-script", model_path="outputs/model", tags={"where": "script"})
        print("registered", m.id, m.run_id, type(m).__module__)
    """)
    run = Experiment(ws, "lineage").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                           environment=current_env))
    run.wait_for_completion()
    with pytest.raises(UserErrorException) as err:
        run.register_model(model_name="from-run", model_path="outputs/modle")
    assert "outputs/model/model.txt" in err.value.message and "outputs/notes.txt" in err.value.message

    model = run.register_model(model_name="from-run", model_path="outputs/model", tags={"k": "v"},
                               model_framework="Custom", description="from the run")
    assert isinstance(model, Model) and model.version == 1 and model.run_id == run.id
    assert model.experiment_name == "lineage" and model.asset == "model" and model.is_folder
    assert model.run.id == run.id
    single = run.register_model(model_name="from-run", model_path="outputs/notes.txt")
    assert single.version == 2 and not single.is_folder
    made = {m.id for m in Model.list(ws, run_id=run.id)}
    assert made == {"from-run:1", "from-run:2", "in-script:1"}
    assert {m["id"] for m in ws._client.get("/api/runs/%s/models" % run.id)["models"]} == made
    inside = Model(ws, "in-script")
    assert inside.run_id == run.id and inside.tags == {"where": "script"}
    log = run.get_details_with_logs()["logFiles"]
    text = "".join(log.values())
    assert "registered in-script:1 %s kyanite.runtime.model_path" % run.id in text
