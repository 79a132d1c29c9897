"""Datastores against a real workspace server: the workspace datastore (upload,
upload_files, listing, datasets of datastore paths) and an S3-compatible datastore
served by a real S3 API process on 127.0.0.1, whose credentials never come back."""

import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from kyanite_test_servers import S3Server, free_port  # noqa: E402

from kyanite.core import Dataset, Datastore, Experiment, ScriptRunConfig  # noqa: E402
from kyanite.exceptions import NotFoundException, UserErrorException  # noqa: E402

KEY = "AKIAKYANITETEST12345"
SECRET = "kyanite/secret+Key/do-not-print-0123456789"


@pytest.fixture(scope="module", autouse=True)
def fresh_cache(tmp_path_factory):
    old = os.environ.get("KYANITE_CACHE_DIR")
    os.environ["KYANITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("node-cache"))
    yield
    if old is None:
        os.environ.pop("KYANITE_CACHE_DIR", None)
    else:
        os.environ["KYANITE_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(log_path=str(tmp_path_factory.mktemp("s3") / "s3.log"))
    yield server
    server.stop()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_workspace_datastore_upload_list_and_datasets(ws, tmp_path):
    store = ws.get_default_datastore()
    assert store.name == "workspaceblobstore" and store.is_default
    assert Datastore.get(ws, "workspaceblobstore") == store
    assert "workspaceblobstore" in ws.datastores
    with pytest.raises(NotFoundException, match="No datastore named 'nope'.*workspaceblobstore"):
        Datastore.get(ws, "nope")

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.csv").write_text("x,y\n3,4\n")
    (data / "sub" / "c.txt").write_text("notes")
    ref = store.upload(src_dir=str(data), target_path="tables", overwrite=False, show_progress=False)
    assert ref.path_on_datastore == "tables"

    assert Dataset.File.from_files(path=(store, "tables/**")).to_path() == ["/a.csv", "/sub/b.csv", "/sub/c.txt"]
    assert Dataset.File.from_files(path=(store, "tables/**/*.csv")).to_path() == ["/a.csv", "/sub/b.csv"]
    assert Dataset.File.from_files(path=store.path("tables/*.csv")).to_path() == ["/a.csv"]
    assert Dataset.File.from_files(path=(store, "tables/sub")).to_path() == ["/b.csv", "/c.txt"]
    assert Dataset.File.from_files(path=(store, "tables/a.csv")).to_path() == ["/a.csv"]
    with pytest.raises(UserErrorException, match="No files in datastore 'workspaceblobstore' match"):
        Dataset.File.from_files(path=(store, "tables/*.parquet"))

    # overwrite=False keeps what is there; upload_files with overwrite=True replaces it
    (data / "a.csv").write_text("x,y\n9,9\n")
    store.upload(src_dir=str(data), target_path="tables", overwrite=False, show_progress=False)
    out = tmp_path / "out"
    assert store.download(str(out), prefix="tables", show_progress=False) == 3
    assert read(out / "tables" / "a.csv") == b"x,y\n1,2\n"

    registered = Dataset.File.from_files(path=(store, "tables/**/*.csv")).register(ws, "tables")
    store.upload_files([str(data / "a.csv")], relative_root=str(data), target_path="tables", overwrite=True,
                       show_progress=False)
    assert store.download(str(out), prefix="tables", overwrite=True, show_progress=False) == 3
    assert read(out / "tables" / "a.csv") == b"x,y\n9,9\n"
    # the registered version named the old bytes: reading it now fails, naming the file
    with pytest.raises(UserErrorException, match=r"'a.csv' \(workspaceblobstore:tables/a.csv\) changed since"):
        registered.download(str(tmp_path / "reg"))

    pytest.importorskip("pandas")
    df = Dataset.Tabular.from_delimited_files(path=(store, "tables/**/*.csv")).to_pandas_dataframe()
    assert df.to_dict("list") == {"x": [9, 3], "y": [9, 4]}


def test_s3_datastore_keeps_its_credentials(ws, s3, mnist_dir, tmp_path, make_script, current_env):
    store = Datastore.register_s3(ws, "s3data", bucket_name="kyanite-test", endpoint_url=s3.endpoint,
                                  access_key_id=KEY, secret_access_key=SECRET, create_if_not_exists=True)
    assert store.datastore_type == "S3" and store.bucket_name == "kyanite-test"
    assert store.credentials == {"accessKeyId": "****2345", "secretAccessKey": "********"}
    for text in (json.dumps(ws._client.get("/api/datastores")), json.dumps(ws._client.get("/api/datastores/s3data")),
                 repr(store), repr(ws.datastores)):
        assert KEY not in text and SECRET not in text

    src = tmp_path / "mnist"
    src.mkdir()
    for n in ("t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (src / n).write_bytes((mnist_dir / n).read_bytes())
    store.upload(str(src), target_path="mnist", show_progress=False)

    ds = Dataset.File.from_files(path=(store, "mnist/**")).register(ws, "mnist-s3")
    record = ws._client.get("/api/datasets/mnist-s3")
    assert [f["path"] for f in record["files"]] == ["t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert all(f["etag"] for f in record["files"])
    assert KEY not in json.dumps(record) and SECRET not in json.dumps(record)
    got = ds.download(str(tmp_path / "dl"))
    assert sorted(hashlib.sha256(read(p)).hexdigest() for p in got) == sorted(
        hashlib.sha256(read(src / n)).hexdigest() for n in os.listdir(src))

    script = make_script("""
        import gzip, os, struct, sys
        from kyanite.core import Run
        run = Run.get_context()
        folder = sys.argv[1]
        assert run.input_datasets["labels"] == folder
        for n in sorted(os.listdir(folder)):
            with gzip.open(os.path.join(folder, n)) as f:
                run.log(n.split("-")[0], struct.unpack(">II", f.read(8))[1])
        print("env has no secret:", not any(%r in v for v in os.environ.values()))
    """ % SECRET)
    run = Experiment(ws, "s3-data").submit(ScriptRunConfig(
        source_directory=str(script), script="train.py", environment=current_env,
        arguments=[ds.as_named_input("labels").as_mount()]))
    details = run.wait_for_completion(raise_on_error=False)
    log = run._read_log("user_logs/std_log.txt", 0)[0].decode()
    assert details["status"] == "Completed", (details.get("error"), log)
    assert run.get_metrics() == {"t10k": 10000, "train": 60000}
    assert "env has no secret: True" in log
    for text in (log, json.dumps(details), json.dumps(run.get_details())):
        assert KEY not in text and SECRET not in text
    server_log = os.path.join(ws.path, ".kyanite", "server.log")
    if os.path.exists(server_log):
        assert SECRET not in open(server_log, errors="replace").read()


def test_s3_datastore_errors_are_clear_and_hold_no_secret(ws, s3):
    with pytest.raises(UserErrorException, match="bucket 'absent-bucket' does not exist") as e:
        Datastore.register_s3(ws, "s3absent", bucket_name="absent-bucket", endpoint_url=s3.endpoint,
                              access_key_id=KEY, secret_access_key=SECRET)
    assert SECRET not in str(e.value)
    with pytest.raises(UserErrorException, match="s3down") as e:
        Datastore.register_s3(ws, "s3down", bucket_name="b", endpoint_url="http://127.0.0.1:%d" % free_port(),
                              access_key_id=KEY, secret_access_key=SECRET, create_if_not_exists=True)
    assert SECRET not in str(e.value) and KEY not in str(e.value)
    with pytest.raises(NotFoundException):
        Datastore.get(ws, "s3absent")
