"""Datasets consumed by real runs: as_mount() / as_download() arguments, input_datasets in
the script, the node cache (the second run downloads nothing), changed sources."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from kyanite_test_servers import FileServer, fresh_cache, mnist_http  # noqa: E402,F401  (fixtures)

from kyanite.core import Dataset, Experiment, ScriptRunConfig  # noqa: E402
from kyanite.core.runconfig import RunConfiguration  # noqa: E402
from kyanite.exceptions import ActivityFailedException  # noqa: E402

NAMES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "train-labels-idx1-ubyte.gz"]

TRAIN = """
    import argparse, gzip, hashlib, os, struct
    from kyanite.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--data-folder")
    p.add_argument("--copy-folder")
    a = p.parse_args()
    run = Run.get_context()
    inputs = run.input_datasets
    assert inputs["mnist"] == a.data_folder, (inputs, a.data_folder)
    assert inputs["mnist_copy"] == a.copy_folder, (inputs, a.copy_folder)
    assert os.environ["mnist"] == a.data_folder

    def count(path):
        with gzip.open(path) as f:
            return struct.unpack(">II", f.read(8))[1]

    for folder in (a.data_folder, a.copy_folder):
        print("files", sorted(os.listdir(folder)))
    run.log("train_images", count(os.path.join(a.data_folder, "train-images-idx3-ubyte.gz")))
    run.log("train_labels", count(os.path.join(a.data_folder, "train-labels-idx1-ubyte.gz")))
    run.log("test_images", count(os.path.join(a.copy_folder, "t10k-images-idx3-ubyte.gz")))
    run.log("test_labels", count(os.path.join(a.copy_folder, "t10k-labels-idx1-ubyte.gz")))
    for folder in (a.data_folder, a.copy_folder):
        for n in sorted(os.listdir(folder)):
            with open(os.path.join(folder, n), "rb") as f:
                print("sha256", os.path.basename(folder), n, hashlib.sha256(f.read()).hexdigest())
    # a downloaded copy is the script's own: changing it leaves the cache alone
    with open(os.path.join(a.copy_folder, "train-labels-idx1-ubyte.gz"), "ab") as f:
        f.write(b"scribble")
"""




def checksums(mnist_dir):
    out = {}
    for line in (mnist_dir / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            out[name.lstrip("*")] = digest
    return out


def driver_log(run):
    return run._read_log("user_logs/std_log.txt", 0)[0].decode("utf-8", "replace")


def test_run_mounts_and_downloads_a_registered_dataset_and_caches_it(ws, mnist_http, mnist_dir,
                                                                     make_script, current_env):
    dataset = Dataset.File.from_files(path=[mnist_http.url(n) for n in NAMES])
    dataset = dataset.register(workspace=ws, name="mnist-dataset", description="training and test dataset",
                               create_new_version=True)
    dataset = Dataset.get_by_name(ws, "mnist-dataset")
    src = make_script(TRAIN)
    sums = checksums(mnist_dir)
    mnist_http.reset_counts()
    runs = []
    for _ in range(2):
        config = ScriptRunConfig(
            source_directory=str(src), script="train.py", environment=current_env,
            arguments=["--data-folder", dataset.as_named_input("mnist").as_mount(),
                       "--copy-folder", dataset.as_named_input("mnist_copy").as_download()])
        run = Experiment(ws, "dataset-runs").submit(config)
        details = run.wait_for_completion(raise_on_error=False)
        log = driver_log(run)
        assert details["status"] == "Completed", (details.get("error"), log)
        assert run.get_metrics() == {"train_images": 60000, "train_labels": 60000, "test_images": 10000,
                                     "test_labels": 10000}
        for n in NAMES:
            assert "sha256 mnist %s %s" % (n, sums[n]) in log
            assert "sha256 mnist_copy %s %s" % (n, sums[n]) in log
        inputs = details["inputDatasets"]
        assert inputs["mnist"]["name"] == "mnist-dataset" and inputs["mnist"]["version"] == dataset.version
        assert inputs["mnist"]["fingerprint"] == dataset.fingerprint and inputs["mnist"]["mode"] == "mount"
        assert inputs["mnist_copy"]["mode"] == "download"
        assert details["runDefinition"]["arguments"] == [
            "--data-folder", "DatasetConsumptionConfig:mnist", "--copy-folder", "DatasetConsumptionConfig:mnist_copy"]
        runs.append((run, log))
        if len(runs) == 1:
            assert sum(mnist_http.gets.values()) == 4, dict(mnist_http.gets)  # each file once
            assert "downloading 4 (11.1 MB)" in log, log
    second_log = runs[1][1]
    assert sum(mnist_http.gets.values()) == 4, "the second run downloaded again: %s" % dict(mnist_http.gets)
    assert "4 from the node cache, 0 downloaded" in second_log and "downloading" not in second_log
    # a warm mount of the four files is a few links: well under the 50 ms target
    warm = re.search(r"dataset mnist \(mnist-dataset:\d+\):.* mounted at \S+ in ([0-9.]+)s", second_log)
    assert warm and float(warm.group(1)) < 0.5, second_log
    print("warm-cache mount of MNIST: %.1f ms" % (float(warm.group(1)) * 1000))


def test_run_config_data_unregistered_dataset_and_absolute_path(ws, mnist_http, make_script, current_env,
                                                                 tmp_path):
    src = make_script("""
        import os, sys
        from kyanite.core import Run
        inputs = Run.get_context().input_datasets
        print("inputs", sorted(inputs.items()))
        print("labels", sorted(os.listdir(inputs["labels"])))
        print("arg", sys.argv[1], sorted(os.listdir(sys.argv[1])))
        print("table", sys.argv[2], inputs["table"])
    """)
    labels = Dataset.File.from_files(path=[mnist_http.url(n) for n in NAMES if "labels" in n])  # not registered
    where = str(tmp_path / "placed")
    rc = RunConfiguration()
    rc.environment = current_env
    rc.data = {"labels": labels.as_named_input("labels").as_download(path_on_compute=where)}
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    table = Dataset.Tabular.from_delimited_files(path=str(tmp_path / "t.csv"))
    run = Experiment(ws, "dataset-runs").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", run_config=rc,
        arguments=[labels.as_named_input("again").as_mount(), table.as_named_input("table")]))
    details = run.wait_for_completion(raise_on_error=False)
    log = driver_log(run)
    assert details["status"] == "Completed", (details.get("error"), log)
    assert "labels ['t10k-labels-idx1-ubyte.gz', 'train-labels-idx1-ubyte.gz']" in log
    assert "('labels', %r)" % where in log
    assert details["inputDatasets"]["labels"]["name"] is None  # saved for the run, not registered
    assert details["inputDatasets"]["again"]["id"] == details["inputDatasets"]["labels"]["id"]
    table_id = details["inputDatasets"]["table"]["id"]  # a tabular dataset consumed direct: its id
    assert "table %s %s" % (table_id, table_id) in log
    assert Dataset.get_by_id(ws, table_id).to_pandas_dataframe().to_dict("list") == {"a": [1], "b": [2]}
    assert sorted(os.listdir(where)) == ["t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_a_source_changed_since_registration_fails_the_run_in_preparing(ws, mnist_dir, tmp_path, make_script,
                                                                         current_env):
    folder = tmp_path / "served"
    folder.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    (folder / name).write_bytes((mnist_dir / name).read_bytes())
    server = FileServer(folder)
    try:
        ds = Dataset.File.from_files(path=server.url(name)).register(ws, "will-change")
        (folder / name).write_bytes(b"other bytes entirely")
        src = make_script("print('should not start')\n")
        run = Experiment(ws, "dataset-runs").submit(ScriptRunConfig(
            source_directory=str(src), script="train.py", environment=current_env,
            arguments=[ds.as_named_input("data").as_download()]))
        with pytest.raises(ActivityFailedException, match=r"t10k-labels-idx1-ubyte.gz.*changed since"):
            run.wait_for_completion()
        details = run.get_details()
        assert details["error"]["code"] == "DatasetError"
        log = driver_log(run)
        assert "should not start" not in log and "starting:" not in log
        assert "create_new_version=True" in details["error"]["message"]
        # registering the new content as a new version makes it usable again
        v2 = Dataset.File.from_files(path=server.url(name)).register(ws, "will-change", create_new_version=True)
        assert v2.version == 2
        run2 = Experiment(ws, "dataset-runs").submit(ScriptRunConfig(
            source_directory=str(src), script="train.py", environment=current_env,
            arguments=[v2.as_named_input("data").as_download()]))
        assert run2.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    finally:
        server.stop()
