"""Studio fixtures: headless Chromium driven by Playwright, signed in to the module's workspace.

The browser is Debian's ``chromium`` (``.ci/run`` installs it); Playwright downloads none.
Screenshots go to ``KYANITE_TEST_ARTIFACTS`` (default: ``studio-screenshots`` under
pytest's base temporary folder), whose path the tests print.
"""

import contextlib
import http.client as httplib
import os
import shutil
import urllib.parse

import pytest

CHROMIUM = os.environ.get("KYANITE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


class Http(object):
    """Plain requests to the workspace server, redirects not followed."""

    def __init__(self, base_url):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname, u.port

    def request(self, method, path, body=None, headers=None):
        conn = httplib.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, resp.msg.get_all("set-cookie") or []
        finally:
            conn.close()


@pytest.fixture(scope="session")
def http_to():
    """``http_to(base_url)``: plain requests to any server (``http`` is the module's)."""
    return Http


@pytest.fixture(scope="module")
def http(ws):
    return Http(ws._client.base_url)


@pytest.fixture(scope="module")
def token(ws):
    return ws._client.token


@pytest.fixture(scope="module")
def base_url(ws):
    return ws._client.base_url


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory):
    d = os.environ.get("KYANITE_TEST_ARTIFACTS") or str(tmp_path_factory.getbasetemp() / "studio-screenshots")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium before the tests.")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def sign_in(page, base_url, token, next_path="/experiments"):
    page.goto(base_url + "/signin?next=" + urllib.parse.quote(next_path, safe=""))
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url("**" + next_path.split("?")[0].split("#")[0] + "*")


@pytest.fixture
def page(browser, base_url, token):
    """A signed-in page; page errors fail the test."""
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(pg, base_url, token)
    yield pg
    ctx.close()
    assert not errors, "errors in the page: %s" % errors


@pytest.fixture
def deployed(ws, current_env):
    """``with deployed(service, model_file, model_name, source_dir) as (svc, key):`` the model
    file registered as ``model_name`` and served by ``source_dir``'s score.py in this
    interpreter (an ACI-style service with keys), deployed and ready; deleted at the end."""
    @contextlib.contextmanager
    def deploy(service, model_file, model_name, source_dir):
        from kyanite.core import Model
        from kyanite.core.model import InferenceConfig
        from kyanite.core.webservice import AciWebservice
        model = Model.register(ws, str(model_file), model_name)
        svc = Model.deploy(ws, service, [model],
                           InferenceConfig(entry_script="score.py", source_directory=str(source_dir),
                                           environment=current_env),
                           AciWebservice.deploy_configuration(auth_enabled=True))
        try:
            svc.wait_for_deployment()
            yield svc, svc.get_keys()[0]
        finally:
            svc.delete()
    return deploy
