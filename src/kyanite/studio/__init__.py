"""The studio: the workspace's web pages, served by the workspace server at its root.

``mount(app, require_token)`` adds:

- ``GET /signin`` and ``POST /signin`` (the token typed in sets the session cookie),
  ``POST /signout``; see :mod:`kyanite.studio.auth` for the cookie, the CSRF guard and the
  embed tickets;
- the pages (``PAGES``): each is a small HTML shell (no workspace data, no secret) whose
  script draws it from the REST API (``/api/...``) with the session cookie, so a page
  shows nothing the API would not show the same person;
- ``GET /static/...``: the scripts, styles and the vendored chart library, shipped in
  the package (no CDN); like the pages, only for a signed-in browser or an embed ticket;
- ``POST /api/studio/embed``: an embed ticket for one run (what ``RunDetails`` shows); its
  page ``/runs/<run>/embed`` is the run page, or for a sweep the sweep view
  (``?view=run``: the sweep's run page).
  Charts of long metric series are answered from the block summaries the store keeps at
  ingest (``Store.metric_series``), so nothing runs in the background for them.

Adding a page for a new kind of object (the extension point): write
``static/pages/<name>.js`` registering ``K.pages["<name>"] = function (main, params) {...}``
and add ``Page("<name>", "/things/{name}", "Things", requires="/api/things")`` to
``PAGES`` (``nav=`` puts it in the top bar). A page whose ``requires`` prefix has no API
route in the app is neither routed nor shown, so pages can be listed before their API
lands.
"""

import hashlib
import html
import json
import logging
import mimetypes
import os
import time
import urllib.parse

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from kyanite.exceptions import NotFoundException
from kyanite.studio import auth

log = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.join(HERE, "static")
TEMPLATES = os.path.join(HERE, "templates")


class Page(object):
    """One studio page: ``path`` (FastAPI syntax; its parameters reach the script as
    ``params``), the ``script`` under ``static/pages/`` (default ``<name>.js``), ``nav``
    (a label in the top bar, or None) and ``requires`` (an API path prefix that must exist)."""

    def __init__(self, name, path, title, script=None, nav=None, requires=None):
        self.name, self.path, self.title = name, path, title
        self.script = script or name + ".js"
        self.nav, self.requires = nav, requires


PAGES = [
    Page("experiments", "/experiments", "Experiments", nav="Experiments"),
    Page("runs", "/experiments/{experiment}", "Runs"),
    Page("run", "/runs/{run_id}", "Run"),
    Page("compare", "/compare", "Compare runs"),
    Page("compute", "/compute", "Compute", nav="Compute"),
    Page("sweep", "/sweeps/{run_id}", "Sweep", requires="/api/sweeps"),
    Page("datasets", "/datasets", "Datasets", nav="Datasets", requires="/api/datasets"),
    Page("dataset", "/datasets/{name}", "Dataset", requires="/api/datasets"),
    Page("models", "/models", "Models", nav="Models", requires="/api/models"),
    Page("model", "/models/{name}", "Model", requires="/api/models"),
    Page("endpoints", "/endpoints", "Endpoints", nav="Endpoints", requires="/api/deployments"),
    Page("endpoint", "/endpoints/{name}", "Endpoint", requires="/api/deployments"),
]

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'")


def _headers(embed=False):
    h = {"Content-Security-Policy": _CSP + ("" if embed else "; frame-ancestors 'self'"),
         "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
         "X-Content-Type-Options": "nosniff"}
    if not embed:
        h["X-Frame-Options"] = "SAMEORIGIN"
    return h


def _asset_version():
    h = hashlib.sha1()
    for root, _dirs, files in sorted(os.walk(STATIC)):
        for fn in sorted(files):
            st = os.stat(os.path.join(root, fn))
            h.update(("%s/%s:%d:%d" % (root, fn, st.st_size, int(st.st_mtime))).encode())
    return h.hexdigest()[:12]


def _template(name):
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
        return f.read()


def _route_paths(routes, prefix=""):
    """Every route path, also inside routers included lazily (``original_router`` with an
    ``include_context.prefix``) and mounts."""
    for r in routes:
        path = getattr(r, "path", None)
        if isinstance(path, str):
            yield prefix + path
        sub = getattr(r, "original_router", None)
        if sub is not None:
            ctx = getattr(r, "include_context", None)
            yield from _route_paths(sub.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        elif getattr(r, "routes", None) and isinstance(path, str):
            yield from _route_paths(r.routes, prefix + path)


def _api_available(app, prefix):
    return prefix is None or any(p == prefix or p.startswith(prefix + "/") for p in _route_paths(app.routes))


def _signin_redirect(request):
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/signin?next=" + urllib.parse.quote(target, safe=""), status_code=303,
                            headers={"Cache-Control": "no-store"})


def _safe_next(value):
    """Only a path on this server: no scheme, no host, no ``//`` or ``/\\`` trick."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/experiments"
    if any(c in value for c in "\r\n\\"):
        return "/experiments"
    return value


class Studio(object):
    def __init__(self, app):
        self.app = app
        self.version = _asset_version()
        self.base = _template("base.html")
        self.signin = _template("signin.html")
        self.throttle = auth.SigninThrottle()

    def token(self, request):
        return request.app.state.k.token

    def workspace_name(self, request):
        return request.app.state.k.settings.get("name", "")

    def pages(self):
        return [p for p in PAGES if _api_available(self.app, p.requires)]

    def render(self, request, page, params, embed_ticket=None):
        q = "v=" + self.version + ("&ticket=" + urllib.parse.quote(embed_ticket) if embed_ticket else "")
        nav = "".join('<a href="%s" data-nav="%s">%s</a>' % (
            html.escape(p.path), html.escape(p.name), html.escape(p.nav)) for p in self.pages() if p.nav)
        body = (self.base
                .replace("{{title}}", html.escape(page.title))
                .replace("{{workspace}}", html.escape(self.workspace_name(request)))
                .replace("{{nav}}", nav)
                .replace("{{page}}", html.escape(page.name))
                .replace("{{script}}", html.escape(page.script))
                .replace("{{embed}}", "1" if embed_ticket else "0")
                .replace("{{pages}}", html.escape(",".join(p.name for p in self.pages())))
                .replace("{{params}}", html.escape(json.dumps(params), quote=True))
                .replace("{{q}}", html.escape(q)))
        return HTMLResponse(body, headers=_headers(embed=bool(embed_ticket)))

    def signin_page(self, next_path, error=None, status=200):
        body = (self.signin
                .replace("{{next}}", html.escape(_safe_next(next_path), quote=True))
                .replace("{{error}}", '<p class="error">%s</p>' % html.escape(error) if error else ""))
        return HTMLResponse(body, status_code=status, headers=_headers())


def mount(app, require_token, background=True):
    """Add the studio to ``app`` (after its API routers). ``require_token`` is the API's
    auth dependency, used for the studio's own API route; ``background`` is accepted for
    callers and starts nothing (metric block summaries are kept at ingest)."""
    studio = Studio(app)
    router = APIRouter(include_in_schema=False)

    @router.get("/signin")
    async def signin_form(request: Request, next: str = "/experiments"):
        if auth.has_session(request, studio.token(request)):
            return RedirectResponse(_safe_next(next), status_code=303)
        return studio.signin_page(next)

    @router.post("/signin")
    async def signin(request: Request):
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        next_path = (form.get("next") or ["/experiments"])[0]
        addr = request.client.host if request.client else ""
        wait = studio.throttle.retry_after(addr)
        if wait:
            resp = studio.signin_page(next_path, "Too many wrong tokens from this address; try again in %d s." % wait,
                                      status=429)
            resp.headers["Retry-After"] = str(wait)
            return resp
        if not auth.token_matches(given, studio.token(request)):
            studio.throttle.failed(addr)
            return studio.signin_page(next_path, "That is not this workspace's token.", status=401)
        studio.throttle.succeeded(addr)
        resp = RedirectResponse(_safe_next(next_path), status_code=303, headers={"Cache-Control": "no-store"})
        auth.set_session_cookie(resp, request, studio.token(request))
        return resp

    @router.post("/signout")
    async def signout(request: Request):
        if request.headers.get(auth.CSRF_HEADER) != "1" or not auth.same_origin(request):
            return JSONResponse({"detail": "Sign out from the studio's button."}, status_code=403)
        resp = Response(status_code=204)
        auth.clear_session_cookie(resp, request)
        return resp

    @router.get("/")
    async def root(request: Request):
        if not auth.has_session(request, studio.token(request)):
            return _signin_redirect(request)
        return RedirectResponse("/experiments", status_code=303)

    @router.get("/static/{path:path}")
    async def static(path: str, request: Request, v: str = None):
        token = studio.token(request)
        if not (auth.has_session(request, token) or auth.ticket_allows(request, token)):
            return JSONResponse({"detail": "Sign in to the studio first."}, status_code=401)
        full = os.path.realpath(os.path.join(STATIC, path))
        if not full.startswith(os.path.realpath(STATIC) + os.sep) or not os.path.isfile(full):
            return JSONResponse({"detail": "No such file."}, status_code=404)
        cache = "private, max-age=86400" if v == studio.version else "no-cache"
        media = mimetypes.guess_type(full)[0] or "application/octet-stream"
        if full.endswith(".js"):
            media = "text/javascript; charset=utf-8"
        return FileResponse(full, media_type=media, headers={
            "Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    @router.get("/runs/{run_id}/embed")
    async def embed(run_id: str, request: Request):
        token = studio.token(request)
        ticket = request.query_params.get("ticket")
        if auth.ticket_allows(request, token, run_id=run_id):
            # a sweep opens on the sweep view (children, their primary metric, the charts);
            # ?view=run gives its run page
            page = _page("run")
            if request.query_params.get("view") != "run" and any(p.name == "sweep" for p in studio.pages()):
                if await run_in_threadpool(_run_type, request.app.state.k.store, run_id) == "hyperdrive":
                    page = _page("sweep")
            return studio.render(request, page, {"run_id": run_id}, embed_ticket=ticket)
        if auth.has_session(request, token):
            return RedirectResponse("/runs/" + urllib.parse.quote(run_id, safe=""), status_code=303)
        return _signin_redirect(request)

    for page in PAGES:
        router.add_api_route(page.path, _page_handler(studio, page), methods=["GET"])

    api = APIRouter(prefix="/api/studio", tags=["studio"], dependencies=[Depends(require_token)])

    @api.post("/embed")
    def embed_ticket(body: dict, request: Request):
        """A ticket that lets a notebook IFrame show one run's page (read only, one day)."""
        run_id = str(body.get("run_id") or "")
        request.app.state.k.store.run(run_id)  # 404 for an unknown run
        ticket = auth.make_ticket(studio.token(request), run_id)
        return {"ticket": ticket, "expiresInSeconds": auth.TICKET_SECONDS,
                "path": "/runs/%s/embed?ticket=%s" % (urllib.parse.quote(run_id, safe=""), ticket)}

    @api.post("/endpoints/{name}/score")
    async def score(name: str, request: Request):
        """Send the request body to the endpoint's scoring URI from the server, with the
        endpoint's key or token, so the page never holds them: ``{status, body,
        contentType, elapsedMs}``."""
        body = await request.body()
        return await run_in_threadpool(_score, request.app.state.k, name, body)

    @api.get("/endpoints/{name}/sample")
    def sample(name: str, request: Request):
        """A request body the endpoint's model accepts, for the studio's test form: from the
        ``ServiceInput`` of the scoring process's ``/swagger.json`` (its example, else one
        built from its properties), else ``null``: ``{body, source}``."""
        return _sample(request.app.state.k, name)

    app.include_router(api)
    app.include_router(router)
    return studio


def _score(state, name, body):
    import urllib.error
    import urllib.request
    from kyanite.exceptions import ConflictException
    rec = state.models.deployment(name)
    if not rec.get("scoringUri"):
        raise ConflictException("Endpoint %r has no scoring URI yet (state %s)." % (name, rec.get("state")))
    headers = {"Content-Type": "application/json"}
    if rec.get("authEnabled") and rec.get("hasKeys"):
        headers["Authorization"] = "Bearer " + state.deployments.keys(name)["primaryKey"]
    elif rec.get("tokenAuthEnabled"):
        headers["Authorization"] = "Bearer " + state.deployments.token(name)["accessToken"]
    req = urllib.request.Request(rec["scoringUri"], data=body, headers=headers, method="POST")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, ctype, data = resp.status, resp.headers.get("Content-Type", ""), resp.read(1 << 20)
    except urllib.error.HTTPError as e:
        status, ctype, data = e.code, e.headers.get("Content-Type", ""), e.read(1 << 20)
    except (OSError, ValueError) as e:
        return {"status": None, "body": "The endpoint did not answer: %s" % e, "contentType": "",
                "elapsedMs": round((time.perf_counter() - t0) * 1000, 1)}
    return {"status": status, "body": data.decode("utf-8", "replace"), "contentType": ctype,
            "elapsedMs": round((time.perf_counter() - t0) * 1000, 1)}


_PLACEHOLDERS = {"string": "text", "integer": 0, "number": 0.0, "boolean": False, "object": {}}


def example_of(schema, depth=0):
    """An example value of a Swagger schema: its ``example``, else one built from its type,
    properties and items; None when there is nothing to go on."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "example" in schema:
        return schema["example"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        out = dict((k, example_of(v, depth + 1)) for k, v in props.items())
        return out if props else None
    if kind == "array":
        item = example_of(schema.get("items"), depth + 1)
        return [item] if item is not None else []
    return _PLACEHOLDERS.get(kind)


def _sample(state, name):
    import json
    import urllib.request
    rec = state.models.deployment(name)
    uri = rec.get("swaggerUri")
    if not uri:
        return {"body": None, "source": None}
    try:
        with urllib.request.urlopen(uri, timeout=10) as resp:
            doc = json.loads(resp.read(4 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return {"body": None, "source": None}
    schema = ((doc.get("definitions") or {}).get("ServiceInput")) if isinstance(doc, dict) else None
    body = example_of(schema)
    if body is None or body == {}:
        return {"body": None, "source": None}
    return {"body": body, "source": "swagger example" if "example" in schema else "swagger schema"}


def _page(name):
    return next(p for p in PAGES if p.name == name)


def _run_type(store, run_id):
    """The run's type, None for an unknown run."""
    try:
        return store.run(run_id).run_type
    except NotFoundException:
        return None


def _page_handler(studio, page):
    async def handler(request: Request):
        if page.requires and not _api_available(studio.app, page.requires):
            return JSONResponse({"detail": "Not found"}, status_code=404)
        if not auth.has_session(request, studio.token(request)):
            return _signin_redirect(request)
        return studio.render(request, page, dict(request.path_params))
    handler.__name__ = "page_" + page.name
    return handler
