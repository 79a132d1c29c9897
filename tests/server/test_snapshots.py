"""Source snapshots are immutable and checked against their id: no upload can change the
code another run executes."""

import io

import pytest

from kyanite.core._snapshot import make_snapshot, snapshot_id
from kyanite.exceptions import UserErrorException


def test_a_snapshot_is_checked_against_its_id_and_never_replaced(ws, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('the real script')\n")
    sha, data = make_snapshot(str(src))
    (src / "train.py").write_text("print('something else')\n")
    other_sha, other = make_snapshot(str(src))
    assert snapshot_id(io.BytesIO(data)) == sha != other_sha

    c = ws._client
    with pytest.raises(UserErrorException, match="hash to %s, not %s" % (other_sha, sha)):
        c.put("/api/snapshots/%s" % sha, data=other)  # another tree under this id
    assert not c.get("/api/snapshots/%s/exists" % sha)["exists"]
    c.put("/api/snapshots/%s" % sha, data=data)
    c.put("/api/snapshots/%s" % sha, data=other)  # a stored snapshot is kept as it is
    assert c.get("/api/snapshots/%s" % sha, raw=True) == data
    with pytest.raises(UserErrorException, match="not a readable .tar.gz"):
        c.put("/api/snapshots/%s" % ("0" * 64), data=b"not a tarball")
