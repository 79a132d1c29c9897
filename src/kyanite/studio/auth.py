"""Who may see the studio: a session cookie for people, signed tickets for notebook embeds.

The workspace token is the one secret. It never appears in a page, a cookie or a URL:

- **Session cookie** (``kyanite_session``): set by ``POST /signin`` when the token typed
  in matches. Its value is ``v1.<expiry>.<HMAC-SHA256(token, "session|<expiry>")>``, so it
  proves the token was known without holding it, and rotating the token signs everyone
  out. ``HttpOnly`` (page scripts cannot read it), ``SameSite=Strict`` (other sites'
  pages cannot make the browser send it), ``Path=/``, and ``Secure`` when the request came
  over https (directly, or through a proxy on 127.0.0.1 that sends
  ``X-Forwarded-Proto: https``). On plain http to 127.0.0.1 the cookie is not marked
  ``Secure``, because browsers drop Secure cookies set over plain http; put the server
  behind https when it is reached from other machines.
- **CSRF guard**: an API request authenticated by the cookie alone (no bearer token) may
  only change something (any method but GET/HEAD/OPTIONS) when it carries the header
  ``X-Kyanite-CSRF: 1`` and, when the browser sends an ``Origin``, that origin is this
  server. Another site cannot add a custom header to a cross-origin request without a
  CORS preflight, which this server never grants.
- **Embed tickets**: ``RunDetails(run).show()`` shows a run page in a notebook IFrame.
  Notebook front ends (an editor's webview, a notebook server on another host name) are
  other sites, where the SameSite cookie is not sent. The widget asks the server (with the
  token) for a ticket: ``<run id, base64url>.<expiry>.<HMAC(token, "embed|<run>|<expiry>")>``.
  It opens ``/runs/<run>/embed?ticket=...`` and lets the page read that one run and the
  runs under it: GET requests under ``/api/runs/<run>`` and ``/api/runs/<descendant>``
  (details, metrics, series, logs, files, children; a run is a descendant when walking its
  parents in the store reaches the ticket's run), ``/api/sweeps/<run>`` (a sweep's summary,
  without ``include_resumed``, which names other runs) and the studio's static files,
  nothing else, until it expires (``TICKET_SECONDS``).
- **Sign-in throttle**: after ``SIGNIN_FAILURES`` wrong tokens from one address within
  ``SIGNIN_WINDOW`` seconds, ``POST /signin`` answers 429 with ``Retry-After`` (even for
  the right token) until the oldest of those failures leaves the window.
"""

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse

from fastapi import HTTPException

from kyanite.exceptions import NotFoundException

COOKIE = "kyanite_session"
CSRF_HEADER = "x-kyanite-csrf"
TICKET_HEADER = "x-kyanite-ticket"
SESSION_SECONDS = 7 * 24 * 3600
TICKET_SECONDS = 24 * 3600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SIGNIN_FAILURES = 10
SIGNIN_WINDOW = 300.0


class SigninThrottle(object):
    """Failed sign-ins per client address over a sliding window.

    ``retry_after(addr)`` is 0 when ``addr`` may try, else the seconds until it may;
    ``failed(addr)`` counts a wrong token; ``succeeded(addr)`` forgets the address. At most
    ``max_addresses`` addresses are remembered (the stalest are dropped first)."""

    def __init__(self, failures=SIGNIN_FAILURES, window=SIGNIN_WINDOW, max_addresses=10000):
        self.failures, self.window, self.max_addresses = failures, window, max_addresses
        self._seen = {}  # addr -> failure times, oldest first

    def _recent(self, addr, now):
        times = [t for t in self._seen.get(addr, ()) if t > now - self.window]
        if times:
            self._seen[addr] = times
        else:
            self._seen.pop(addr, None)
        return times

    def retry_after(self, addr, now=None):
        now = time.time() if now is None else now
        times = self._recent(addr, now)
        if len(times) < self.failures:
            return 0
        return max(1, int(times[-self.failures] + self.window - now + 0.999))

    def failed(self, addr, now=None):
        now = time.time() if now is None else now
        self._seen[addr] = self._recent(addr, now) + [now]
        if len(self._seen) > self.max_addresses:
            for stale in sorted(self._seen, key=lambda a: self._seen[a][-1])[:len(self._seen) - self.max_addresses]:
                del self._seen[stale]

    def succeeded(self, addr):
        self._seen.pop(addr, None)


def _mac(token, message):
    return hmac.new(token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def token_matches(given, token):
    return bool(given) and secrets.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


# -- session cookie --------------------------------------------------------------------
def make_session(token, now=None):
    expiry = int((now or time.time()) + SESSION_SECONDS)
    return "v1.%d.%s" % (expiry, _mac(token, "session|%d" % expiry))


def session_valid(token, value, now=None):
    try:
        version, expiry, mac = (value or "").split(".")
        expiry = int(expiry)
    except ValueError:
        return False
    if version != "v1" or expiry < (now or time.time()):
        return False
    return secrets.compare_digest(mac, _mac(token, "session|%d" % expiry))


def is_https(request):
    return request.url.scheme == "https"


def set_session_cookie(response, request, token):
    response.set_cookie(COOKIE, make_session(token), max_age=SESSION_SECONDS, path="/",
                        httponly=True, samesite="strict", secure=is_https(request))


def clear_session_cookie(response, request):
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))


def has_session(request, token):
    return session_valid(token, request.cookies.get(COOKIE))


# -- embed tickets ------------------------------------------------------------------------
def make_ticket(token, run_id, seconds=TICKET_SECONDS, now=None):
    expiry = int((now or time.time()) + seconds)
    rid = base64.urlsafe_b64encode(run_id.encode("utf-8")).decode("ascii").rstrip("=")
    return "%s.%d.%s" % (rid, expiry, _mac(token, "embed|%s|%d" % (run_id, expiry)))


def ticket_run(token, ticket, now=None):
    """The run id a valid, unexpired ticket was made for; None otherwise."""
    try:
        rid, expiry, mac = (ticket or "").split(".")
        expiry = int(expiry)
        run_id = base64.urlsafe_b64decode(rid + "=" * (-len(rid) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if expiry < (now or time.time()):
        return None
    if not secrets.compare_digest(mac, _mac(token, "embed|%s|%d" % (run_id, expiry))):
        return None
    return run_id


def request_ticket(request):
    return request.headers.get(TICKET_HEADER) or request.query_params.get("ticket")


def ticket_allows(request, token, run_id=None, store=None):
    """Whether the request carries a ticket that covers it: a GET for ``run_id`` (a page)
    or, without ``run_id``, a GET under ``/static/`` or ``/api/runs/<ticket's run>``; with
    ``store`` (the metadata Store) also under ``/api/runs/<a run below it>`` and of
    ``/api/sweeps/<ticket's run>`` (see the module docstring)."""
    if request.method not in ("GET", "HEAD"):
        return False
    rid = ticket_run(token, request_ticket(request))
    if rid is None:
        return False
    if run_id is not None:
        return rid == run_id
    path = request.url.path
    if ".." in path.split("/"):
        return False
    if path.startswith("/static/"):
        return True
    base = "/api/runs/" + rid  # request.url.path is already percent-decoded
    if path == base or path.startswith(base + "/"):
        return True
    if store is None:
        return False
    if path == "/api/sweeps/" + rid:
        return "include_resumed" not in request.query_params
    parts = path.split("/")  # "", "api", "runs", <run>, ...
    if len(parts) >= 4 and parts[1:3] == ["api", "runs"] and parts[3]:
        cache = request.scope.setdefault("kyanite.ticket_parents", {})  # one lookup per run per request
        return _descends(store, parts[3], rid, cache)
    return False


def _descends(store, run_id, ancestor, parents, max_depth=64):
    """True when walking up from ``run_id`` through its parents reaches ``ancestor``.
    ``parents``: ``{run id: parent id or None}``, filled from ``store.run_state`` as it
    walks; an unknown run ends the walk (False)."""
    for _ in range(max_depth):
        if run_id not in parents:
            try:
                parents[run_id] = store.run_state(run_id)[2]
            except NotFoundException:
                parents[run_id] = None
        run_id = parents[run_id]
        if not run_id:
            return False
        if run_id == ancestor:
            return True
    return False


# -- the API's view ---------------------------------------------------------------------
def authorize_api(request, token, store=None):
    """For ``require_token``: True when a request without a valid bearer token may go on
    by the session cookie (with the CSRF guard) or an embed ticket (``store`` lets a
    ticket reach the runs below its run); raises 403 when the cookie is valid but the
    CSRF guard fails."""
    if has_session(request, token):
        if request.method not in SAFE_METHODS:
            if request.headers.get(CSRF_HEADER) != "1" or not same_origin(request):
                raise HTTPException(403, "A studio request that changes something needs the "
                                         "X-Kyanite-CSRF header and this server's origin.")
        return True
    return ticket_allows(request, token, store=store)


def same_origin(request):
    origin = request.headers.get("origin")
    if not origin:
        return True  # not sent by browsers on some same-origin requests; the header guard holds
    netloc = urllib.parse.urlsplit(origin).netloc
    return netloc in (request.headers.get("host"), request.headers.get("x-forwarded-host"))
