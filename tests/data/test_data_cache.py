"""The data layer without a workspace: source resolution, the node cache, placing files.

Files come from the real MNIST files served by a local HTTP server on 127.0.0.1."""

import hashlib
import os
import threading

import pytest

from kyanite.data import DataError
from kyanite.data._common import glob_regex
from kyanite.data.cache import Fetcher, NodeCache, place
from kyanite.data.sources import parse_paths, resolve
from kyanite_test_servers import FileServer

NAMES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "train-labels-idx1-ubyte.gz"]


def sums(mnist_dir):
    out = {}
    for line in (mnist_dir / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            out[name.lstrip("*")] = digest
    return out


@pytest.fixture(scope="module")
def server(mnist_dir):
    s = FileServer(mnist_dir, ranges=True, etags=True)
    yield s
    s.stop()


@pytest.fixture
def cache(tmp_path):
    return NodeCache(str(tmp_path / "cache"))


def test_glob_semantics():
    rx = glob_regex("**/*.csv")
    assert rx.match("a.csv") and rx.match("x/y/a.csv") and not rx.match("a.txt")
    rx = glob_regex("*.csv")
    assert rx.match("a.csv") and not rx.match("x/a.csv")
    assert glob_regex("**").match("x/y/z")
    assert glob_regex("data_[0-9].csv").match("data_3.csv")
    assert not glob_regex("data_[!0-9].csv").match("data_3.csv")


def test_local_sources_keep_paths_relative_to_their_common_folder(tmp_path):
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "train" / "a.csv").write_text("1")
    (root / "train" / "b.txt").write_text("22")
    (root / "test" / "c.csv").write_text("333")
    files = resolve(parse_paths(str(root))[0])
    assert [f["path"] for f in files] == ["test/c.csv", "train/a.csv", "train/b.txt"]
    assert [f["size"] for f in files] == [3, 1, 2]
    files = resolve(parse_paths(str(root / "**" / "*.csv"))[0], hash_local=True)
    assert [f["path"] for f in files] == ["test/c.csv", "train/a.csv"]
    assert files[1]["sha256"] == hashlib.sha256(b"1").hexdigest()
    files = resolve(parse_paths([str(root / "train"), str(root / "test" / "c.csv")])[0])
    assert [f["path"] for f in files] == ["test/c.csv", "train/a.csv", "train/b.txt"]
    assert [f["path"] for f in resolve(parse_paths(str(root / "train" / "a.csv"))[0])] == ["a.csv"]


def test_local_source_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No files match"):
        resolve(parse_paths(str(tmp_path / "*.nothing"))[0])
    with pytest.raises(DataError, match="holds no files"):
        resolve(parse_paths(str(tmp_path / "empty"))[0])
    with pytest.raises(DataError, match="No such file or folder"):
        resolve(parse_paths(str(tmp_path / "missing.csv"))[0])
    with pytest.raises(DataError, match="register a datastore"):
        parse_paths("s3://bucket/key")


def test_http_sources_are_described_without_downloading(server, mnist_dir):
    server.reset_counts()
    files = resolve(parse_paths([server.url(n) for n in NAMES])[0])
    assert [f["path"] for f in files] == NAMES
    assert [f["size"] for f in files] == [(mnist_dir / n).stat().st_size for n in NAMES]
    assert all(f["etag"] and f["modified"] for f in files)
    assert sum(server.gets.values()) == 0 and sum(server.heads.values()) == 4


def test_http_errors_name_the_file_and_status(server):
    with pytest.raises(DataError, match=r"missing\.gz.*HTTP 404"):
        resolve(parse_paths([server.url(NAMES[0]), server.url("missing.gz")])[0])
    port = _closed_port()
    with pytest.raises(DataError, match="Cannot reach http://127.0.0.1:%d/x.gz" % port):
        resolve(parse_paths("http://127.0.0.1:%d/x.gz" % port)[0])


def _closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_cache_downloads_once_verifies_and_is_read_only(server, cache, mnist_dir):
    server.reset_counts()
    files = resolve(parse_paths([server.url(n) for n in NAMES])[0])
    lines = []
    paths, stats = cache.ensure(files, Fetcher(), log=lines.append)
    assert stats["downloaded"] == 4 and stats["cached"] == 0
    expected = sums(mnist_dir)
    for f, p in zip(files, paths):
        assert hashlib.sha256(open(p, "rb").read()).hexdigest() == expected[f["path"]]
        assert os.stat(p).st_mode & 0o222 == 0  # read-only
    assert any("downloading 4" in line for line in lines)
    paths2, stats2 = cache.ensure(files, Fetcher(), log=lines.append)
    assert paths2 == paths and stats2["downloaded"] == 0 and stats2["cached"] == 4
    assert sum(server.gets.values()) == 4
    assert os.listdir(os.path.join(cache.root, "tmp")) == []


def test_broken_connection_resumes_with_a_range_request(server, cache, mnist_dir):
    server.reset_counts()
    name = "train-labels-idx1-ubyte.gz"
    files = resolve(parse_paths(server.url(name))[0])
    server.fail_next[name] = 10000
    lines = []
    (path,), stats = cache.ensure(files, Fetcher(), log=lines.append)
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == sums(mnist_dir)[name]
    assert server.gets[name] == 2 and server.range_gets[name] == 1
    assert any("retrying from byte 10000" in line for line in lines), lines


def test_source_without_range_support_restarts_from_zero(mnist_dir, cache):
    s = FileServer(mnist_dir, ranges=False)
    try:
        name = "t10k-labels-idx1-ubyte.gz"
        files = resolve(parse_paths(s.url(name))[0])
        s.fail_next[name] = 3000
        (path,), _ = cache.ensure(files, Fetcher())
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == sums(mnist_dir)[name]
        assert s.gets[name] == 2
    finally:
        s.stop()


def test_checksum_mismatch_leaves_nothing_in_the_cache(server, cache):
    name = "t10k-labels-idx1-ubyte.gz"
    (entry,) = resolve(parse_paths(server.url(name))[0])
    entry["sha256"] = "0" * 64
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz.*changed since.*checksum mismatch"):
        cache.ensure([entry], Fetcher())
    assert os.listdir(os.path.join(cache.root, "tmp")) == []
    assert not os.path.exists(os.path.join(cache.root, "objects"))


def test_changed_source_is_refused(server, cache):
    name = "t10k-labels-idx1-ubyte.gz"
    (entry,) = resolve(parse_paths(server.url(name))[0])
    bad_etag = dict(entry, etag='"not-the-same"')
    with pytest.raises(DataError, match="changed since the dataset was registered: its ETag was"):
        cache.ensure([bad_etag], Fetcher())
    bad_size = dict(entry, etag=None, size=entry["size"] + 1)
    with pytest.raises(DataError, match="size was"):
        cache.ensure([bad_size], Fetcher())


def test_missing_file_at_download_names_it(server, cache):
    entry = {"path": "gone.gz", "size": None, "sha256": None, "etag": None, "modified": None,
             "source": {"type": "http", "url": server.url("gone.gz")}}
    with pytest.raises(DataError, match=r"gone.gz.*HTTP 404"):
        cache.ensure([entry], Fetcher())


def test_concurrent_consumers_download_once(server, cache):
    server.reset_counts()
    name = "train-images-idx3-ubyte.gz"
    files = resolve(parse_paths(server.url(name))[0])
    results, errors = [], []

    def consume():
        try:
            results.append(NodeCache(os.path.dirname(cache.root)).ensure(files, Fetcher())[0][0])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert server.gets[name] == 1


def test_mount_links_into_the_cache_and_download_copies(server, cache, tmp_path):
    files = resolve(parse_paths([server.url(n) for n in NAMES[:2]])[0])
    paths, _ = cache.ensure(files, Fetcher())
    mounted = place(files, paths, str(tmp_path / "m"), "mount")
    copied = place(files, paths, str(tmp_path / "d"), "download")
    for src, m, d in zip(paths, mounted, copied):
        assert os.path.samefile(src, m)
        assert not os.path.samefile(src, d)
        assert open(d, "rb").read() == open(src, "rb").read()
    with pytest.raises(DataError, match="not empty"):
        place(files, paths, str(tmp_path / "m"), "mount")
