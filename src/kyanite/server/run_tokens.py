"""Run tokens: what a run host and its script authenticate with, instead of the workspace token.

The scheduler hands every run host ``KYANITE_TOKEN=<run token>``; the host passes it to
the script. A run token is ``kyr1.<run id>.<HMAC-SHA256(workspace token, "run|<run id>")>``:
the server checks it without storing it, it survives server restarts, and rotating the
workspace token revokes every run token. It is what a cluster node, the Ray dashboard (which
shows a job's environment) or a script's environment ever holds.

What a run token may do (``check``), everything else answers 403 naming the rule:

- read what the workspace token reads (GET), except a deployment's keys;
- change the runs of its own run tree: itself, the runs under it, its parents and their
  other children (status, metrics, logs, files, tags, cancel, child runs; a sweep child
  may write to its sweep); create runs (top-level ones, or under its own run tree) and
  sweeps; register models, datasets and environments; upload files to datastores;
- not delete anything, not create or change deployments or compute targets, not
  register datastores (they hold credentials), not make studio embed tickets;
- only while its run is not finished, or for ``grace_seconds`` after it ended
  (``KYANITE_RUN_TOKEN_GRACE``, default 600 s; a late log line or upload still lands):
  after that it answers 401.
"""

import hashlib
import hmac
import os
import re
import time
from typing import Any

from fastapi import HTTPException, Request

from kyanite import settings
from kyanite.exceptions import NotFoundException
from kyanite.protocol.states import TERMINAL_STATES

PREFIX = "kyr1."

_DENIED = [(verb, re.compile(pattern), why) for verb, pattern, why in [  # method, path under /api, why
    ("DELETE", r"/.*", "delete anything"),
    ("GET", r"/deployments/[^/]+/keys", "read a deployment's keys"),
    ("POST", r"/deployments(/.*)?", "create or change deployments"),
    ("PATCH", r"/deployments(/.*)?", "create or change deployments"),
    ("POST", r"/computes", "create compute targets"),
    ("POST", r"/datastores", "register datastores"),
    ("POST", r"/studio/.*", "make studio embed tickets"),
]]
_RUN_WRITE = re.compile(r"/(runs|sweeps)/([^/]+)(/.*)?$")


def issue(workspace_token: str, run_id: str) -> Any:
    """The run token of ``run_id``."""
    mac = hmac.new(workspace_token.encode("utf-8"), ("run|%s" % run_id).encode("utf-8"), hashlib.sha256)
    return "%s%s.%s" % (PREFIX, run_id, mac.hexdigest())


def run_of(workspace_token: str, token: str) -> Any:
    """The run id a genuine run token names, else None."""
    if not token.startswith(PREFIX) or "." not in token[len(PREFIX):]:
        return None
    run_id = token[len(PREFIX):].rsplit(".", 1)[0]
    return run_id if hmac.compare_digest(issue(workspace_token, run_id), token) else None


def grace_seconds() -> Any:
    return settings.get("KYANITE_RUN_TOKEN_GRACE")


def check(store: Any, run_id: str, method: str, path: str, now: Any = None) -> Any:
    """``None`` when the run token of ``run_id`` may make this request, else ``(status,
    message)``: 401 when the run is unknown or ended more than ``grace_seconds`` ago, 403
    when the request is not a run's to make. ``path`` is the request path (``/api/...``)."""
    try:
        status, end_time, _parent = store.run_state(run_id)
    except NotFoundException:
        return 401, "the run of this run token does not exist"
    now = time.time() if now is None else now
    if status in TERMINAL_STATES and (end_time or now) < now - grace_seconds():
        return 401, "this run token expired: its run %s ended" % run_id
    sub = path[len("/api"):] if path.startswith("/api/") else path
    for verb, pattern, what in _DENIED:
        if verb == method and pattern.fullmatch(sub):
            return 403, "a run's token may not %s; use the workspace token" % what
    m = _RUN_WRITE.match(sub)
    if m and method not in ("GET", "HEAD", "OPTIONS") and not _within(store, run_id, m.group(2)):
        return 403, "a run's token may change only the runs of its own run tree, not %s" % m.group(2)
    return None


def check_parent(request: Request, store: Any, parent_id: str | None) -> None:
    """For routes that create a run under ``parent_id``: a run token may only add runs to
    its own run tree. Raises HTTPException(403) otherwise."""
    run_id = getattr(request.state, "run_token_run", None)
    if run_id and parent_id and not _within(store, run_id, parent_id):
        raise HTTPException(403, "a run's token may add runs only to its own run tree, not under %s" % parent_id)


def within(store: Any, run_id: str, other: Any) -> Any:
    """True when a run token of ``run_id`` may write to run ``other`` (its own run tree);
    for routes that name the run in their body (the MLflow API)."""
    return _within(store, run_id, other)


def _root(store: Any, run_id: str) -> Any:
    """The top of ``run_id``'s run tree; None when a run on the way is unknown."""
    for _ in range(64):
        try:
            parent = store.run_state(run_id)[2]
        except NotFoundException:
            return None
        if not parent:
            return run_id
        run_id = parent
    return None


def _within(store: Any, run_id: str, other: Any) -> Any:
    """True when ``other`` is in the same run tree as ``run_id`` (the run itself, its
    parents, e.g. ``run.parent.log(...)`` in a child, and every run under its root)."""
    if other == run_id:
        return True
    root = _root(store, run_id)
    return root is not None and root == _root(store, other)
