"""Studio access: the sign-in page, the session cookie, the CSRF guard and embed tickets."""

import json
import urllib.parse

import pytest

from kyanite.core import Experiment
from kyanite.studio import auth

PAGES = ["/", "/experiments", "/experiments/auth", "/runs/some-run", "/compute", "/runs/some-run/embed",
         "/sweeps/some-run", "/datasets", "/datasets/x", "/models", "/models/x", "/endpoints", "/endpoints/x"]


@pytest.fixture(scope="module")
def cookie(http, token):
    status, headers, _, cookies = http.request(
        "POST", "/signin", body="token=%s&next=%%2Fcompute" % urllib.parse.quote(token),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["location"] == "/compute"
    return cookies[0].split(";")[0]


@pytest.fixture(scope="module")
def two_runs(ws):
    runs = []
    for _ in range(2):
        r = Experiment(ws, "auth").start_logging()
        r.log("x", 1.0)
        r.complete()
        runs.append(r)
    return runs


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_the_cookie_redirects_to_sign_in(http, path):
    status, headers, body, _ = http.request("GET", path)
    if status == 404:  # a page whose API has not landed is not routed at all
        assert path.split("/")[1] in ("sweeps", "datasets", "models", "endpoints")
        return
    assert status == 303, (path, status, body[:200])
    assert headers["location"].startswith("/signin?next=")
    assert urllib.parse.unquote(headers["location"].split("next=")[1]) == path


def test_static_files_and_run_files_need_sign_in(http, two_runs, cookie):
    run = two_runs[0]
    run.upload_file("outputs/secret.txt", __file__)
    for path in ["/static/studio.js", "/static/vendor/uplot/uPlot.iife.min.js", "/static/pages/run.js",
                 "/api/runs/%s/artifacts/outputs/secret.txt" % run.id, "/api/runs", "/api/runs/%s" % run.id]:
        assert http.request("GET", path)[0] == 401, path
        status, headers, body, _ = http.request("GET", path, headers={"Cookie": cookie})
        assert status == 200, path
    assert http.request("GET", "/static/../app.py", headers={"Cookie": cookie})[0] in (401, 404)
    assert http.request("GET", "/static/%2e%2e/__init__.py", headers={"Cookie": cookie})[0] == 404


def test_wrong_token_is_refused_without_a_cookie(http, token):
    status, headers, body, cookies = http.request(
        "POST", "/signin", body="token=not-the-token&next=%2Fcompute",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and not cookies
    assert b"not this workspace&#x27;s token" in body or b"not this workspace's token" in body
    assert token.encode() not in body


def test_sign_in_sets_a_strict_http_only_cookie_without_the_token(http, token, cookie):
    status, headers, body, cookies = http.request(
        "POST", "/signin", body="token=%s&next=%%2F%%2Fevil.example%%2F" % urllib.parse.quote(token),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["location"] == "/experiments"  # no open redirect
    attrs = [a.strip().lower() for a in cookies[0].split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs
    assert "secure" not in attrs  # plain http to 127.0.0.1: a Secure cookie would be dropped
    assert token not in cookies[0]
    # behind an https proxy on this machine the cookie is Secure
    _, _, _, cookies = http.request(
        "POST", "/signin", body="token=%s" % urllib.parse.quote(token),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"})
    assert "secure" in [a.strip().lower() for a in cookies[0].split(";")]


def test_pages_with_the_cookie_hold_no_secret(http, token, cookie, two_runs):
    for path in ["/experiments", "/experiments/auth", "/runs/%s" % two_runs[0].id, "/compute"]:
        status, headers, body, _ = http.request("GET", path, headers={"Cookie": cookie})
        assert status == 200 and headers["content-type"].startswith("text/html"), path
        assert token.encode() not in body
        assert "frame-ancestors 'self'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"


def test_a_forged_or_expired_cookie_is_refused(http, token):
    name = auth.COOKIE
    expired = auth.make_session(token, now=1000.0)
    forged = "v1.9999999999." + "0" * 64
    for value in (expired, forged, "garbage"):
        status, headers, _, _ = http.request("GET", "/experiments", headers={"Cookie": "%s=%s" % (name, value)})
        assert status == 303 and headers["location"].startswith("/signin")
        assert http.request("GET", "/api/runs", headers={"Cookie": "%s=%s" % (name, value)})[0] == 401


def test_cookie_writes_need_the_csrf_header_and_this_origin(http, cookie, base_url):
    body = json.dumps({"name": "from-the-studio"})
    h = {"Cookie": cookie, "Content-Type": "application/json"}
    assert http.request("POST", "/api/experiments", body=body, headers=h)[0] == 403
    assert http.request("POST", "/api/experiments", body=body,
                        headers=dict(h, **{"X-Kyanite-CSRF": "1", "Origin": "http://evil.example"}))[0] == 403
    status, _, data, _ = http.request("POST", "/api/experiments", body=body,
                                      headers=dict(h, **{"X-Kyanite-CSRF": "1", "Origin": base_url}))
    assert status == 200 and json.loads(data)["name"] == "from-the-studio"


def test_embed_ticket_reads_one_run_only(http, ws, two_runs):
    a, b = two_runs
    rec = ws._client.post("/api/studio/embed", {"run_id": a.id})
    path, ticket = rec["path"], rec["ticket"]
    assert ws._client.token not in path
    status, headers, body, _ = http.request("GET", path)
    assert status == 200 and b'data-embed="1"' in body
    assert "frame-ancestors" not in headers["content-security-policy"]  # any notebook may frame it
    t = {"X-Kyanite-Ticket": ticket}
    assert http.request("GET", "/api/runs/%s" % a.id, headers=t)[0] == 200
    assert http.request("GET", "/api/runs/%s/metrics/summary" % a.id, headers=t)[0] == 200
    assert http.request("GET", "/static/studio.js?ticket=%s" % ticket)[0] == 200
    assert http.request("GET", "/api/runs/%s" % b.id, headers=t)[0] == 401
    assert http.request("GET", "/api/runs", headers=t)[0] == 401
    assert http.request("GET", "/api/experiments", headers=t)[0] == 401
    assert http.request("POST", "/api/runs/%s/cancel" % a.id, headers=t)[0] == 401
    assert http.request("GET", "/runs/%s/embed?ticket=%s" % (b.id, ticket))[0] == 303
    assert http.request("GET", "/api/runs/%s/../%s" % (a.id, b.id), headers=t)[0] in (401, 404)
    stale = auth.make_ticket(ws._client.token, a.id, seconds=-10)
    assert http.request("GET", "/api/runs/%s" % a.id, headers={"X-Kyanite-Ticket": stale})[0] == 401
    with pytest.raises(Exception):
        ws._client.post("/api/studio/embed", {"run_id": "no-such-run"})


def test_sign_out_clears_the_cookie(http, cookie):
    assert http.request("POST", "/signout", headers={"Cookie": cookie})[0] == 403
    status, _, _, cookies = http.request("POST", "/signout", headers={"Cookie": cookie, "X-Kyanite-CSRF": "1"})
    assert status == 204 and 'kyanite_session=""' in cookies[0] and "max-age=0" in cookies[0].lower()


def test_run_details_show_displays_the_iframe(ws, two_runs, monkeypatch, capsys):
    import sys
    import types
    from kyanite.widgets import RunDetails
    shown = []
    display_mod = types.ModuleType("IPython.display")
    display_mod.HTML = lambda s: ("HTML", s)
    display_mod.display = shown.append
    ipython = types.ModuleType("IPython")
    ipython.display = display_mod
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    RunDetails(two_runs[0]).show()
    kind, html = shown[0]
    assert kind == "HTML" and "<iframe" in html and "/runs/%s/embed?ticket=" % two_runs[0].id in html
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # no IPython: print the address
    RunDetails(two_runs[0]).show()
    assert "Run page: %s/runs/%s/embed?ticket=" % (ws._client.base_url, two_runs[0].id) in capsys.readouterr().out


def test_signin_throttle_counts_failures_per_address_over_a_window():
    t = auth.SigninThrottle(failures=3, window=60.0)
    for i in range(2):
        t.failed("10.0.0.1", now=100.0 + i)
    assert t.retry_after("10.0.0.1", now=102.0) == 0
    t.failed("10.0.0.1", now=102.0)
    assert t.retry_after("10.0.0.1", now=103.0) == 57  # until the failure at 100 s leaves the window
    assert t.retry_after("10.0.0.2", now=103.0) == 0  # another address is not held up
    assert t.retry_after("10.0.0.1", now=160.5) == 0
    t.failed("10.0.0.1", now=161.0)
    t.succeeded("10.0.0.1")
    assert t.retry_after("10.0.0.1", now=161.0) == 0
    small = auth.SigninThrottle(failures=1, window=60.0, max_addresses=2)
    for i, addr in enumerate(["a", "b", "c"]):
        small.failed(addr, now=float(i))
    assert small.retry_after("a", now=3.0) == 0 and small.retry_after("c", now=3.0) == 59


def test_too_many_wrong_tokens_hold_sign_in_back(tmp_path, http_to):
    from kyanite.core import Workspace
    from kyanite_testing import stop_workspace
    ws = Workspace.create(name="throttled", path=str(tmp_path), show_output=False)
    try:
        http = http_to(ws._client.base_url)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for _ in range(auth.SIGNIN_FAILURES):
            assert http.request("POST", "/signin", body="token=guess", headers=form)[0] == 401
        status, headers, body, cookies = http.request(
            "POST", "/signin", body="token=%s" % urllib.parse.quote(ws._client.token), headers=form)
        assert status == 429 and not cookies and b"Too many wrong tokens" in body
        assert 0 < int(headers["retry-after"]) <= auth.SIGNIN_WINDOW
        assert http.request("GET", "/api/experiments",  # the API's bearer token is not held back
                            headers={"Authorization": "Bearer " + ws._client.token})[0] == 200
    finally:
        stop_workspace(tmp_path)


def test_embed_ticket_of_a_sweep_reads_its_children_only(http, ws, two_runs):
    """A ticket for a run covers GETs of the runs below it (children, grandchildren: details,
    metrics, series, files) and /api/sweeps/<its run>; not other runs, not its parent, not
    other sweeps, not writes."""
    api = ws._client
    spec = {"sampling": {"name": "random", "parameterSpace": {"--lr": ["uniform", [0.0, 1.0]]}, "properties": {}},
            "policy": None, "primaryMetricName": "loss", "primaryMetricGoal": "minimize", "maxTotalRuns": 2,
            "maxConcurrentRuns": 2}
    sweeps = []
    for _ in range(2):
        sid = api.post("/api/runs", {"experiment": "auth", "run_type": "hyperdrive", "status": "Completed",
                                     "definition": {"hyperdrive": spec, "childDefinition": {}}})["runId"]
        kid = api.post("/api/runs", {"experiment": "auth", "parent_id": sid, "status": "Completed",
                                     "definition": {"hyperparameters": {"--lr": 0.1}},
                                     "properties": {"hyperdrive.index": "0"}})["runId"]
        api.post("/api/runs/%s/metrics" % kid, {"metrics": [
            {"name": "loss", "kind": "scalar", "values": [0.5, 0.25], "ts": [1700000000.0, 1700000001.0]}]})
        sweeps.append((sid, kid))
    (sid, kid), (other_sid, other_kid) = sweeps
    grandchild = api.post("/api/runs", {"experiment": "auth", "parent_id": kid, "status": "Running"})["runId"]
    t = {"X-Kyanite-Ticket": api.post("/api/studio/embed", {"run_id": sid})["ticket"]}

    def get(path):
        status, _, body, _ = http.request("GET", path, headers=t)
        return status, body
    status, body = get("/api/sweeps/%s" % sid)
    assert status == 200 and [c["runId"] for c in json.loads(body)["children"]] == [kid]
    status, body = get("/api/runs/%s/metrics/loss/series" % kid)
    assert status == 200, body
    status, body = get("/api/runs/%s/metrics?name=loss" % kid)
    assert status == 200 and json.loads(body)["metrics"][0]["values"] == [0.5, 0.25]
    for path in ["/api/runs/%s" % kid, "/api/runs/%s/metrics/summary" % kid, "/api/runs/%s/artifacts" % kid,
                 "/api/runs/%s" % grandchild, "/api/runs/%s/children" % kid]:
        assert get(path)[0] == 200, path
    refused = ["/api/runs/%s" % other_kid, "/api/runs/%s/metrics/loss/series" % other_kid,
               "/api/runs/%s" % other_sid, "/api/sweeps/%s" % other_sid, "/api/runs/%s" % two_runs[0].id,
               "/api/sweeps/%s?include_resumed=true" % sid, "/api/runs/no-such-run", "/api/runs",
               "/api/sweeps", "/api/experiments", "/api/runs/%s/../%s" % (kid, other_kid)]
    for path in refused:
        assert get(path)[0] in (401, 404), path
    for method, path in [("POST", "/api/runs/%s/cancel" % kid), ("POST", "/api/sweeps/%s/cancel" % sid),
                         ("PATCH", "/api/runs/%s" % kid), ("POST", "/api/runs/%s/metrics" % grandchild)]:
        status = http.request(method, path, body="{}", headers=dict(t, **{"Content-Type": "application/json"}))[0]
        assert status == 401, (method, path, status)
    # a child's ticket does not reach up to its sweep or its siblings
    tk = {"X-Kyanite-Ticket": api.post("/api/studio/embed", {"run_id": kid})["ticket"]}
    assert http.request("GET", "/api/runs/%s" % grandchild, headers=tk)[0] == 200
    assert http.request("GET", "/api/runs/%s" % sid, headers=tk)[0] == 401
    assert http.request("GET", "/api/sweeps/%s" % sid, headers=tk)[0] == 401
    # the sweep's embed page is the sweep view; ?view=run its run page
    rec = api.post("/api/studio/embed", {"run_id": sid})
    assert b'data-page="sweep"' in http.request("GET", rec["path"])[2]
    assert b'data-page="run"' in http.request("GET", rec["path"] + "&view=run")[2]
    assert b'data-page="run"' in http.request("GET", api.post("/api/studio/embed", {"run_id": kid})["path"])[2]
