"""LocalArtifactStore: key checks, append with offsets, atomic put."""

import io
import os
import threading

import pytest

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.store.artifacts import LocalArtifactStore, check_key, run_key


@pytest.fixture
def store(tmp_path):
    return LocalArtifactStore(str(tmp_path / "artifacts"))


@pytest.mark.parametrize("key", ["../token", "runs/../../token", "runs/r/../../x", "/etc/passwd",
                                 "", "a//b", "runs\\..\\..\\token", "a/\x00b", "runs/./other/x", ".",
                                 "runs/r/outputs/", "runs/r/./x", "outputs\\model.keras"])
def test_bad_keys_refused(store, tmp_path, key):
    (tmp_path / "token").write_text("secret")
    with pytest.raises(UserErrorException, match="not allowed"):
        store.put(key, b"x")
    with pytest.raises(UserErrorException):
        store.read(key)
    with pytest.raises(UserErrorException):
        store.append(key, 0, b"x")
    with pytest.raises(UserErrorException):
        store.local_path(key)
    assert (tmp_path / "token").read_text() == "secret"


def test_check_key_keeps_allowed_keys():
    assert check_key("a/b/c.txt") == "a/b/c.txt"
    assert check_key("runs/r/outputs/100%/c#d?.txt") == "runs/r/outputs/100%/c#d?.txt"
    assert check_key("runs/r/.hidden/..x") == "runs/r/.hidden/..x"  # names that only start with dots


def test_run_key_stays_in_its_run(store):
    assert run_key("r1", "outputs/a.txt") == "runs/r1/outputs/a.txt"
    assert run_key("r1") == "runs/r1"
    for run_id, path in [(".", "other/outputs/a.txt"), ("..", "x"), ("a/b", "x"), ("r1", "../r2/x")]:
        with pytest.raises(UserErrorException, match="not allowed"):
            run_key(run_id, path)


def test_symlink_out_of_its_owner_folder_refused(store, tmp_path):
    store.put("runs/victim/outputs/a.txt", b"mine")
    os.makedirs(os.path.join(store.root, "runs", "attacker"))
    os.symlink(os.path.join(store.root, "runs", "victim"), os.path.join(store.root, "runs", "attacker", "link"))
    with pytest.raises(UserErrorException, match="resolves outside runs/attacker"):
        store.put("runs/attacker/link/outputs/a.txt", b"overwritten")
    assert store.read("runs/victim/outputs/a.txt") == (b"mine", 4)


def test_put_read_list_size(store):
    assert store.size("runs/r/outputs/a.txt") == -1
    assert store.read("runs/r/outputs/a.txt") == (b"", 0)
    assert store.put("runs/r/outputs/a.txt", b"hello") == 5
    assert store.put("runs/r/outputs/sub/b.bin", io.BytesIO(b"\0" * 10)) == 10
    assert store.read("runs/r/outputs/a.txt", 1, 3) == (b"ell", 5)
    assert store.list("runs/r") == [{"path": "outputs/a.txt", "size": 5},
                                    {"path": "outputs/sub/b.bin", "size": 10}]
    assert open(store.local_path("runs/r/outputs/a.txt"), "rb").read() == b"hello"
    with pytest.raises(NotFoundException):
        store.local_path("runs/r/outputs/none.txt")
    assert store.list("runs/none") == []


def test_append_offsets_retries_and_gaps(store):
    key = "runs/r/user_logs/std_log.txt"
    assert store.append(key, 0, b"abc") == 3
    assert store.append(key, 3, b"def") == 6
    assert store.append(key, 3, b"def") == 6  # a retry of bytes already stored
    assert store.append(key, 0, b"abc") == 6
    assert store.append(key, 4, b"efgh") == 8  # overlapping retry: only the new part lands
    assert store.read(key) == (b"abcdefgh", 8)
    with pytest.raises(ConflictException, match="offset 10, but it holds 8 bytes"):
        store.append(key, 10, b"zz")
    assert store.read(key) == (b"abcdefgh", 8)


def test_concurrent_appends_keep_order(store):
    key = "runs/r/log.txt"
    pieces = [("%04d\n" % i).encode() for i in range(200)]
    offsets = [5 * i for i in range(200)]
    lock = threading.Lock()
    nxt = [0]

    def writer():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(pieces):
                return
            while True:  # a shipper retries a refused gap until its predecessor landed
                try:
                    store.append(key, offsets[i], pieces[i])
                    break
                except ConflictException:
                    pass
    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read(key)[0] == b"".join(pieces)


class _SlowReader(object):
    """A file object that pauses halfway, so a reader can look at the target meanwhile."""

    def __init__(self, data, halfway, resume):
        self._buf = io.BytesIO(data)
        self._halfway, self._resume = halfway, resume
        self._paused = False

    def read(self, n=-1):
        if not self._paused and self._buf.tell() > 0:
            self._paused = True
            self._halfway.set()
            self._resume.wait(5)
        return self._buf.read(min(n, 1024) if n and n > 0 else 1024)


def test_put_is_atomic(store):
    key = "runs/r/outputs/model.bin"
    store.put(key, b"old" * 1000)
    halfway, resume = threading.Event(), threading.Event()
    new = b"N" * 100000
    t = threading.Thread(target=store.put, args=(key, _SlowReader(new, halfway, resume)))
    t.start()
    assert halfway.wait(5)
    data, size = store.read(key)
    assert data == b"old" * 1000 and size == 3000  # never half a file
    assert [f["path"] for f in store.list("runs/r")] == ["outputs/model.bin"]  # temp file hidden
    resume.set()
    t.join()
    assert store.read(key)[0] == new
    assert [f for f in os.listdir(os.path.dirname(store.local_path(key)))] == ["model.bin"]


def test_failed_put_leaves_old_file_and_no_temp(store):
    key = "runs/r/outputs/x.bin"
    store.put(key, b"keep")

    class Broken(object):
        def read(self, n=-1):
            raise IOError("disk went away")
    with pytest.raises(IOError):
        store.put(key, Broken())
    assert store.read(key)[0] == b"keep"
    assert os.listdir(os.path.dirname(store.local_path(key))) == ["x.bin"]
