"""A small REST client for the workspace server, standard library only.

Contract:
- ``Client(base_url, token)`` keeps one keep-alive connection per thread.
- ``request`` returns the decoded JSON (or bytes with ``raw=True``) of a 2xx reply and
  raises :mod:`kyanite.exceptions` errors otherwise: 401 -> AuthenticationException,
  404 -> NotFoundException, 409 -> ConflictException, other 4xx -> UserErrorException,
  with the server's ``detail`` text as the message.
- Connection failures and 502/503/504 are retried with backoff for ``retry_seconds``
  (the server may be restarting); after that ServerNotRunningException is raised.
  Requests are only retried when the server could not have applied them, or when the
  endpoint is idempotent (every kyanite write endpoint is).

Python 3.6 compatible: it is placed into run environments.
"""

import http.client
import json
import socket
import threading
import time
import urllib.parse

from kyanite.exceptions import (
    AuthenticationException, ConflictException, KyaniteException, NotFoundException,
    ServerNotRunningException, UserErrorException,
)

_RETRY_STATUS = (502, 503, 504)


class HttpError(KyaniteException):
    """An unexpected status from the server; ``status`` holds the code."""


class Client(object):
    """Thread-safe JSON/bytes client bound to one server and token."""

    def __init__(self, base_url, token, retry_seconds=30.0, timeout=60.0):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UserErrorException(
                "Server URL %r is not an http(s) URL like http://127.0.0.1:8765" % base_url)
        self.base_url = base_url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._prefix = parsed.path.rstrip("/")
        self.token = token
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self._local = threading.local()

    # -- connection handling -------------------------------------------------
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        self._local.conn = None

    def close(self):
        self._drop()

    # -- requests ------------------------------------------------------------
    def url(self, path, params=None):
        q = ""
        if params:
            q = "?" + urllib.parse.urlencode(
                [(k, v) for k, v in params.items() if v is not None], doseq=True)
        return self._prefix + path + q

    def request(self, method, path, params=None, json_body=None, data=None, raw=False,
                headers=None, retry_seconds=None, stream=False):
        """Send one request; see the module docstring for the error contract.

        ``stream=True`` returns the open ``http.client.HTTPResponse`` (caller reads and
        closes it; the connection is then not reused)."""
        body = None
        hdrs = {"Authorization": "Bearer " + (self.token or "")}
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        elif data is not None:
            body = data
            hdrs["Content-Type"] = "application/octet-stream"
            if hasattr(data, "fileno"):
                import os
                hdrs["Content-Length"] = str(os.fstat(data.fileno()).st_size)
        if headers:
            hdrs.update(headers)
        target = self.url(path, params)
        deadline = time.time() + (self.retry_seconds if retry_seconds is None else retry_seconds)
        delay = 0.05
        while True:
            try:
                conn = self._conn()
                if hasattr(body, "seek"):
                    body.seek(0)
                conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
                status = resp.status
                if status in _RETRY_STATUS and time.time() < deadline:
                    resp.read()
                    raise _Retry()
                if stream and 200 <= status < 300:
                    self._local.conn = None  # the response owns this connection now
                    return resp
                payload = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self._drop()
            except (_Retry, ConnectionError, socket.timeout, socket.gaierror, OSError,
                    http.client.HTTPException) as exc:
                self._drop()
                if time.time() >= deadline:
                    raise ServerNotRunningException(
                        "Cannot reach the kyanite workspace server at %s (%s). Start it with "
                        "`kyanite server start` in the workspace folder, or check the URL in "
                        "config.json." % (self.base_url, type(exc).__name__))
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            return self._decode(status, payload, raw, resp)

    def _decode(self, status, payload, raw, resp):
        if 200 <= status < 300:
            if raw:
                return payload
            if not payload:
                return None
            return json.loads(payload.decode("utf-8"))
        detail = payload.decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("detail", detail)
        except Exception:
            pass
        if not isinstance(detail, str):
            detail = json.dumps(detail)
        if status == 401:
            raise AuthenticationException(
                "The workspace server refused the token (401): %s. Use the token from the "
                "workspace folder's .kyanite/token or config.json." % detail)
        if status == 404:
            raise NotFoundException(detail)
        if status == 409:
            raise ConflictException(detail)
        if 400 <= status < 500:
            raise UserErrorException(detail)
        raise HttpError("Server error %d: %s" % (status, detail), status=status)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)

    def patch(self, path, json_body=None, **kw):
        return self.request("PATCH", path, json_body=json_body, **kw)

    def put(self, path, data=None, **kw):
        return self.request("PUT", path, data=data, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def download(self, path, dest_path, params=None):
        """Stream a GET reply into ``dest_path`` (written atomically)."""
        import os
        resp = self.request("GET", path, params=params, stream=True)
        tmp = dest_path + ".part"
        try:
            with open(tmp, "wb") as f:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
        finally:
            resp.close()
        os.replace(tmp, dest_path)
        return dest_path


class _Retry(Exception):
    pass
