"""File and tabular datasets against a real workspace server: sources, registration with
versions, lookups, to_path, download, mount. MNIST is served from 127.0.0.1."""

import gzip
import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from kyanite_test_servers import FileServer, fresh_cache, mnist_http  # noqa: E402,F401  (fixtures)

from kyanite.core import Dataset  # noqa: E402
from kyanite.core.dataset import FileDataset, TabularDataset  # noqa: E402
from kyanite.data import DataError  # noqa: E402
from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException  # noqa: E402

NAMES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "train-labels-idx1-ubyte.gz"]




@pytest.fixture(scope="module")
def checksums(mnist_dir):
    out = {}
    for line in (mnist_dir / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            out[name.lstrip("*")] = digest
    return out


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_register_versions_and_look_them_up(ws, mnist_http):
    web_paths = [mnist_http.url(n) for n in NAMES]
    ds = Dataset.File.from_files(path=web_paths)
    assert isinstance(ds, FileDataset) and ds.name is None and ds.version is None
    assert ds.to_path() == ["/" + n for n in NAMES]

    v1 = ds.register(workspace=ws, name="mnist-dataset", description="training and test dataset",
                     tags={"source": "local-http"}, create_new_version=True)
    assert (v1.name, v1.version, v1.description, v1.tags) == (
        "mnist-dataset", 1, "training and test dataset", {"source": "local-http"})
    assert v1.id and len(v1.fingerprint) == 64

    # the same files again: the same version; other files need create_new_version
    assert ds.register(ws, "mnist-dataset").version == 1
    test_only = Dataset.File.from_files(path=web_paths[:2])
    with pytest.raises(ConflictException, match="create_new_version=True"):
        test_only.register(ws, "mnist-dataset")
    v2 = test_only.register(ws, "mnist-dataset", create_new_version=True)
    assert v2.version == 2 and v2.id != v1.id

    latest = Dataset.get_by_name(ws, "mnist-dataset")
    assert (latest.version, latest.to_path()) == (2, ["/" + n for n in NAMES[:2]])
    old = Dataset.get_by_name(ws, "mnist-dataset", version=1)
    assert old.to_path() == ["/" + n for n in NAMES] and old.id == v1.id
    with pytest.raises(NotFoundException, match=r"has no version 7\. Versions: 1, 2"):
        Dataset.get_by_name(ws, "mnist-dataset", version=7)
    with pytest.raises(NotFoundException, match="No dataset named 'nope'.*mnist-dataset"):
        Dataset.get_by_name(ws, "nope")
    assert Dataset.get_by_id(ws, v1.id).version == 1
    assert "mnist-dataset" in Dataset.get_all(ws)
    assert Dataset.get_all(ws)["mnist-dataset"].version == 2
    assert "mnist-dataset" in repr(latest)
    import kyanite.data
    assert kyanite.data.FileDataset is FileDataset  # the SDK v1 data-package import path works too


def test_download_refuses_to_overwrite_and_mount_is_a_context(ws, mnist_http, checksums, tmp_path):
    ds = Dataset.File.from_files(path=[mnist_http.url(n) for n in NAMES]).register(ws, "mnist-dl")
    mnist_http.reset_counts()
    target = tmp_path / "dl"
    got = ds.download(target_path=str(target))
    assert sorted(os.path.basename(p) for p in got) == NAMES
    for p in got:
        assert sha(p) == checksums[os.path.basename(p)]
    assert sum(mnist_http.gets.values()) == 4
    with pytest.raises(UserErrorException, match="exist in .* already.*overwrite=True"):
        ds.download(target_path=str(target))
    (target / NAMES[0]).write_bytes(b"local edit")
    ds.download(target_path=str(target), overwrite=True)
    assert sha(target / NAMES[0]) == checksums[NAMES[0]]

    with ds.mount() as m:
        assert sorted(os.listdir(m.mount_point)) == NAMES
        with gzip.open(os.path.join(m.mount_point, "t10k-labels-idx1-ubyte.gz")) as f:
            assert int.from_bytes(f.read(8)[4:], "big") == 10000
        point = m.mount_point
    assert not os.path.exists(point)
    assert sum(mnist_http.gets.values()) == 4  # everything after the first download came from the cache


def test_local_files_folders_and_globs_are_uploaded_when_registered(ws, mnist_dir, tmp_path, checksums):
    local = tmp_path / "mnist"
    local.mkdir()
    for n in NAMES:
        (local / n).write_bytes((mnist_dir / n).read_bytes())
    (local / "notes.txt").write_text("not data")
    folder = Dataset.File.from_files(path=str(local))
    assert folder.to_path() == ["/notes.txt"] + ["/" + n for n in NAMES]
    globbed = Dataset.File.from_files(path=str(local / "*.gz"))
    assert globbed.to_path() == ["/" + n for n in NAMES]
    single = Dataset.File.from_files(path=str(local / NAMES[1]))
    assert single.to_path() == ["/" + NAMES[1]]
    reg = globbed.register(ws, "mnist-local")
    # a registered version holds the bytes it was registered with, whatever happens locally
    for n in NAMES:
        (local / n).unlink()
    got = Dataset.get_by_name(ws, "mnist-local").download(str(tmp_path / "out"))
    assert sorted(sha(p) for p in got) == sorted(checksums[n] for n in NAMES)
    assert reg.version == 1


def test_bad_sources_give_clear_errors(mnist_http, tmp_path):
    with pytest.raises(DataError, match=r"nope\.gz: HTTP 404"):
        Dataset.File.from_files(path=[mnist_http.url(NAMES[0]), mnist_http.url("nope.gz")])
    with pytest.raises(DataError, match="No files match"):
        Dataset.File.from_files(path=str(tmp_path / "*.csv"))
    with pytest.raises(DataError, match="No such file or folder"):
        Dataset.File.from_files(path=str(tmp_path / "absent"))
    with pytest.raises(UserErrorException, match="must be letters"):
        Dataset.File.from_files(path=mnist_http.url(NAMES[0])).as_named_input("bad name")


def test_tabular_from_delimited_files(ws, tmp_path):
    pytest.importorskip("pandas")
    data = tmp_path / "csv"
    data.mkdir()
    (data / "part-1.csv").write_text("id,name,score\n1,ada,0.5\n2,bob,0.25\n")
    with gzip.open(data / "part-2.csv.gz", "wt") as f:
        f.write("id,name,score\n3,cyd,1.0\n")
    ds = Dataset.Tabular.from_delimited_files(path=str(data / "*.csv*"), include_path=True)
    assert isinstance(ds, TabularDataset)
    df = ds.to_pandas_dataframe()
    assert list(df.columns) == ["Path", "id", "name", "score"]
    assert df["id"].tolist() == [1, 2, 3] and df["name"].tolist() == ["ada", "bob", "cyd"]
    assert df["Path"].tolist() == ["/part-1.csv", "/part-1.csv", "/part-2.csv.gz"]
    assert ds.skip(1).take(1).to_pandas_dataframe()["name"].tolist() == ["bob"]

    reg = Dataset.Tabular.from_delimited_files(path=str(data / "part-1.csv"), separator=",",
                                               set_column_types={"score": "float"}).register(ws, "scores")
    back = Dataset.get_by_name(ws, "scores")
    assert isinstance(back, TabularDataset) and back.version == reg.version == 1
    assert back.to_pandas_dataframe().to_dict("list") == {"id": [1, 2], "name": ["ada", "bob"],
                                                           "score": [0.5, 0.25]}
    raw = ws._client.get("/api/datasets/scores")
    assert raw["kind"] == "tabular" and json.dumps(raw["definition"]["tabular"])
