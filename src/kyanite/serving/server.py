"""The scoring server: ``python -m kyanite.serving.server --config CONFIG.json``.

Runs in the deployment's environment (any Python from 3.6 on, standard library only). It
binds the port first (so the port is held while the model loads), imports the entry
script, calls its ``init()`` once and then serves:

- ``POST /score``: the request body, decoded as UTF-8, goes to ``run(raw_data)``; what
  ``run`` returns is sent back JSON-encoded (200). When ``run`` is decorated with
  inference-schema's ``@input_schema`` (as the SDK v1 scoring server did): the body must be
  a JSON object and ``run(**body)`` is called, its keys as keyword arguments, which the
  decorators convert to the declared types (``NumpyParameterType``: an ndarray,
  ``PandasParameterType``: a DataFrame, ...); a body that is not a JSON object or whose keys
  do not fit ``run``'s parameters answers 400. The decorators are looked for only when the
  entry script imported ``inference_schema``, so the package is needed only in
  environments whose scripts use it. ``run`` raising ``ValueError`` (a
  malformed body, say) answers 400 with the message, any other exception 500 with the
  message; the traceback goes to the log and the server stays up. ``run`` calls are
  serialised (one at a time, like the SDK v1 scoring container's single worker), so
  ``score.py`` globals need no locking; connections are handled by threads and kept alive.
- ``GET /`` (``Healthy``), ``GET /health`` (JSON: state, request counts),
  ``GET /swagger.json``: no key needed, as in v1 (the document describes the API, holds no
  data; clients read it before they have a key). The Swagger 2.0 document names
  ``/score``'s body ``ServiceInput`` and its answer ``ServiceOutput`` under
  ``definitions``: inference-schema's input and output schemas (with their examples) when
  ``run`` is decorated, a plain object otherwise.
- With keys (``auth_enabled``) a ``/score`` request needs ``Authorization: Bearer <key>``
  with either key, or a token from ``service.get_token()`` when token auth is on; else 401.
- ``POST /-/reload`` (header ``X-Kyanite-Admin: <secret>``): re-read the keys from the
  config file; the deployment manager calls it after ``regen_key``.

Request bodies: the key (or admin secret) is checked from the headers *before* any body
byte is read; a refused request is answered 401 (404 for an unknown route) and the
connection closed, its body unread (what the client already sent is discarded for at most
``LINGER_BYTES``/``LINGER_SECONDS`` so it can read the answer). A ``Content-Length`` that
is not a plain decimal number (negative, signed, repeated with other values) or a chunk
size that is not plain hex answers 400; a body over ``MAX_BODY`` (default 100 MB,
``KYANITE_SCORING_MAX_BODY_MB``) answers 413, for a chunked body as soon as the chunk
sizes announced pass the cap, before that chunk is read.

Config keys (written by :mod:`kyanite.server.deployments`, mode 0600): ``name``,
``generation``, ``host``, ``port``, ``entryScript`` (absolute path), ``sourceDir``,
``stateFile``, ``keyHashes`` (``[key_hash(primary), key_hash(secondary)]`` or null: the
process never sees a key itself), ``tokenAuth``, ``secret`` (signs tokens and guards
``/-/reload``), ``swagger`` (optional document).

The state file (JSON, replaced atomically) tells the manager how it goes:
``{"state": "Initializing" | "Healthy" | "Failed", "pid", "generation", "port", "error"}``.
Exit status: 0 after SIGTERM, 3 when the entry script failed to load or ``init()``
raised (the traceback is in the log and in ``error``), 4 when the port is taken, 5 when
the config file disappeared (the deployment was deleted or replaced).
"""

import argparse
import hashlib
import hmac
import importlib.util
import inspect
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

from kyanite import settings

MAX_BODY = int(settings.get("KYANITE_SCORING_MAX_BODY_MB") * 1024 * 1024)
TOKEN_PREFIX = "kt1."
LINGER_BYTES, LINGER_SECONDS = 1 << 20, 1.0
MAX_LINE = 4096  # a chunk-size or trailer line
_DECIMAL = re.compile(r"^[0-9]{1,20}$")
_HEX = re.compile(br"^[0-9A-Fa-f]{1,16}$")


def key_hash(key):
    """What the scoring process holds for an endpoint key: ``sha256:<hex>`` of its UTF-8."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def make_token(secret, name, expires):
    """A bearer token for ``service.get_token()``: ``kt1.<expiry>.<hmac>``."""
    msg = ("%s|%d" % (name, int(expires))).encode("utf-8")
    sig = hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()
    return "%s%d.%s" % (TOKEN_PREFIX, int(expires), sig)


def _write_json(path, data):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class ScoringApp(object):
    """The loaded entry script, the keys and the counters one scoring process holds."""

    def __init__(self, config_path):
        self.config_path = os.path.abspath(config_path)
        with open(self.config_path) as f:
            self.cfg = json.load(f)
        self.name = self.cfg.get("name", "service")
        self.generation = self.cfg.get("generation", 1)
        self.state_file = self.cfg.get("stateFile") or os.path.join(os.path.dirname(self.config_path), "state.json")
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.started = time.time()
        self.state = "Initializing"
        self.run_fn = None
        self.schema = None  # (input schema, output schema) of an inference-schema decorated run()
        self._set_keys(self.cfg)

    def _set_keys(self, cfg):
        self.key_hashes = [h.encode("ascii") for h in cfg.get("keyHashes") or [] if h]
        self.token_auth = bool(cfg.get("tokenAuth"))
        self.secret = cfg.get("secret") or ""
        self.auth = bool(self.key_hashes) or self.token_auth

    def admin(self, header):
        given = (header or "").encode("utf-8")
        return bool(self.secret) and hmac.compare_digest(given, self.secret.encode("utf-8"))

    def reload_keys(self):
        with open(self.config_path) as f:
            cfg = json.load(f)
        self._set_keys(cfg)

    def authorized(self, header):
        if not self.auth:
            return True
        if not header or not header[:7].lower() == "bearer ":
            return False
        given = header[7:].strip()
        digest = key_hash(given).encode("ascii")
        given = given.encode("utf-8")
        ok = False
        for h in self.key_hashes:  # compare with every key: no early exit on timing
            ok = hmac.compare_digest(digest, h) or ok
        if not ok and self.token_auth and given.startswith(TOKEN_PREFIX.encode("ascii")):
            try:
                expires = int(given.decode("ascii")[len(TOKEN_PREFIX):].split(".", 1)[0])
            except ValueError:
                return False
            if expires > time.time():
                ok = hmac.compare_digest(given, make_token(self.secret, self.name, expires).encode("ascii"))
        return ok

    def write_state(self, state, error=None, port=None):
        self.state = state
        data = {"state": state, "pid": os.getpid(), "generation": self.generation, "port": port,
                "time": time.time(), "error": error, "python": sys.version.split()[0]}
        try:
            _write_json(self.state_file, data)
        except OSError as exc:
            sys.stderr.write("[kyanite] cannot write the state file %s: %s\n" % (self.state_file, exc))

    def load(self):
        """Import the entry script and call its init(); raises on failure."""
        path = self.cfg["entryScript"]
        src = self.cfg.get("sourceDir") or os.path.dirname(path)
        if src not in sys.path:
            sys.path.insert(0, src)
        modname = os.path.splitext(os.path.basename(path))[0]
        if not modname.isidentifier() or modname in sys.modules:
            modname = "kyanite_entry_script"
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        spec.loader.exec_module(module)
        missing = [fn for fn in ("init", "run") if not callable(getattr(module, fn, None))]
        if missing:
            raise EntryScriptError(
                "The entry script %s defines no %s function. A scoring script needs init() (called "
                "once, loads the model) and run(raw_data) (called per request, returns a JSON-"
                "serialisable value)." % (os.path.basename(path), " or ".join("%s()" % m for m in missing)))
        t0 = time.time()
        module.init()
        print("[kyanite] init() finished in %.2fs" % (time.time() - t0))
        self.run_fn = module.run
        self.schema = schema_of(module.run)
        if self.schema is not None:
            print("[kyanite] run() is decorated with inference-schema: it is called with the JSON body's "
                  "keys (%s) as keyword arguments" % ", ".join(sorted(self.schema[0].get("properties") or {})))

    def call_run(self, raw):
        """Call ``run`` with one request's text: ``run(raw)``, or ``run(**json_object)``
        when it is schema decorated (ValueError when the body does not fit)."""
        if self.schema is None:
            return self.run_fn(raw)
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise InputError("The body is not JSON (%s); run() is decorated with input_schema: send a JSON "
                             "object whose keys are its parameters." % exc)
        if not isinstance(payload, dict):
            raise InputError("The body is a JSON %s; run() is decorated with input_schema: send a JSON object "
                             "whose keys are its parameters (%s)." % (
                                 type(payload).__name__, ", ".join(sorted(self.schema[0].get("properties") or {}))))
        try:
            inspect.signature(self.run_fn).bind(**payload)
        except TypeError as exc:
            raise InputError("The body's keys do not fit run%s: %s." % (inspect.signature(self.run_fn), exc))
        except ValueError:
            pass  # no signature to check against: let run() decide
        return self.run_fn(**payload)

    def swagger(self, host):
        doc = self.cfg.get("swagger")
        if doc:
            return doc
        if self.schema is not None:
            service_input, service_output = self.schema
        else:
            service_input, service_output = {"type": "object"}, {}
        doc = {
            "swagger": "2.0",
            "info": {"title": self.name, "description": "API of the kyanite service %s" % self.name,
                     "version": str(self.generation)},
            "host": host, "schemes": ["http"],
            "paths": {
                "/": {"get": {"operationId": "ServiceHealthCheck", "description": "Health check",
                              "responses": {"200": {"description": "Healthy"}}}},
                "/score": {"post": {
                    "operationId": "RunMLService", "description": "Run web service's model and get the prediction",
                    "consumes": ["application/json"], "produces": ["application/json"],
                    "parameters": [{"name": "serviceInputPayload", "in": "body", "required": True,
                                    "schema": {"$ref": "#/definitions/ServiceInput"},
                                    "description": "The input payload for executing the real-time machine "
                                                   "learning service."}],
                    "responses": {"200": {"description": "Success", "schema": {"$ref": "#/definitions/ServiceOutput"}},
                                  "400": {"description": "run() refused the input (ValueError)",
                                          "schema": {"$ref": "#/definitions/ErrorResponse"}},
                                  "401": {"description": "Missing or wrong key"},
                                  "500": {"description": "run() raised",
                                          "schema": {"$ref": "#/definitions/ErrorResponse"}}}}},
            },
            "definitions": {
                "ServiceInput": service_input,
                "ServiceOutput": service_output,
                "ErrorResponse": {"type": "object", "properties": {"error": {"type": "string"}}},
            },
        }
        if self.auth:
            doc["securityDefinitions"] = {"Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                                                     "description": "'Bearer <key>'"}}
            doc["paths"]["/score"]["post"]["security"] = [{"Bearer": []}]
        return doc


class EntryScriptError(Exception):
    pass


class InputError(ValueError):
    """The request body does not fit a schema decorated run() (answered 400)."""


def schema_of(run_fn):
    """``(input_schema, output_schema)`` (Swagger dicts) when ``run_fn`` is decorated with
    inference-schema, else None. Looks only when ``inference_schema`` was imported (by the
    entry script): nothing is imported into environments that do not use it."""
    if "inference_schema" not in sys.modules:
        return None
    try:
        from inference_schema.schema_util import get_input_schema, get_output_schema, is_schema_decorated
        if not is_schema_decorated(run_fn):
            return None
        return get_input_schema(run_fn), get_output_schema(run_fn)
    except Exception as exc:  # an inference-schema version without these functions
        sys.stderr.write("[kyanite] cannot read run()'s inference-schema (%s: %s); run() gets the raw body\n"
                         % (type(exc).__name__, exc))
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kyanite-scoring/1"
    timeout = 300  # idle keep-alive connections end after this

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):  # no access log: it would cost more than a prediction
        pass

    def _send(self, code, body, ctype="application/json", extra=None):
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        lines = ["HTTP/1.1 %d %s" % (code, self.responses.get(code, ("",))[0]),
                 "Content-Type: " + ctype, "Content-Length: %d" % len(body)]
        if extra:
            lines.extend("%s: %s" % kv for kv in extra.items())
        if self.close_connection:
            lines.append("Connection: close")
        # one write: headers and body in one segment (no Nagle/delayed-ACK stall)
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _json(self, code, obj, extra=None):
        self._send(code, json.dumps(obj), extra=extra)

    def _refuse(self, code, message, extra=None):
        """Answer an error and close the connection without reading the request's body;
        what the client already sent is discarded (bounded), so it gets the answer rather
        than a connection reset."""
        self.close_connection = True
        self._json(code, {"error": message}, extra=extra)
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            left, deadline = LINGER_BYTES, time.time() + LINGER_SECONDS
            while left > 0 and time.time() < deadline:
                data = self.connection.recv(min(65536, left))
                if not data:
                    break
                left -= len(data)
        except OSError:
            pass

    def _check(self):
        """``(code, message, headers)`` refusing this POST from its line and headers alone
        (route, key, body framing), or None. Reads no body byte."""
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path == "/score":
            if not app.authorized(self.headers.get("Authorization")):
                return 401, ("Unauthorized: send 'Authorization: Bearer <key>' with one of the service's "
                             "keys (service.get_keys())."), {"WWW-Authenticate": "Bearer"}
        elif path == "/-/reload":
            if not app.admin(self.headers.get("X-Kyanite-Admin")):
                return 401, "unauthorized", None
        else:
            return 404, "Not found: %s. POST your input to /score." % path, None
        te = self.headers.get_all("Transfer-Encoding") or []
        if te:
            if [v.strip().lower() for v in te] != ["chunked"]:
                return 400, ("Unsupported Transfer-Encoding %r: send the body with a Content-Length or "
                             "'Transfer-Encoding: chunked'." % ", ".join(te)), None
            return None
        lengths = set(v.strip() for v in self.headers.get_all("Content-Length") or [])
        if len(lengths) > 1 or not all(_DECIMAL.match(v) for v in lengths):
            return 400, ("Malformed Content-Length %s: it must be one non-negative decimal number of bytes."
                         % ", ".join(sorted(lengths))), None
        if lengths and int(lengths.pop()) > MAX_BODY:
            return 413, "Request body over %d MB." % (MAX_BODY // 1024 // 1024), None
        return None

    def handle_expect_100(self):
        refused = self._check()  # 'Expect: 100-continue': refuse before the client sends the body
        if refused is not None:
            self._refuse(*refused)
            return False
        return BaseHTTPRequestHandler.handle_expect_100(self)

    def _line(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise ValueError("a chunk-size or trailer line is too long or cut short")
        return line.rstrip(b"\r\n")

    def _body(self):
        """The body (after :meth:`_check`); None when over ``MAX_BODY``. ValueError: bad framing."""
        if self.headers.get("Transfer-Encoding"):
            parts, total = [], 0
            while True:
                size = self._line().split(b";", 1)[0].strip()
                if not _HEX.match(size):
                    raise ValueError("chunk size %r is not a hexadecimal number" % size[:40])
                size = int(size, 16)
                if size == 0:
                    trailers = 0
                    while self._line():
                        trailers += 1
                        if trailers > 100:
                            raise ValueError("too many trailer lines")
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    return None
                data = self.rfile.read(size)
                if len(data) != size or self._line():
                    raise ValueError("a chunk is shorter than its size")
                parts.append(data)
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise ValueError("the body is shorter than its Content-Length")
        return data

    def do_GET(self):
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, "Healthy", "text/plain; charset=utf-8")
        elif path == "/health":
            self._json(200, {"status": "Healthy", "service": app.name, "generation": app.generation,
                             "requests": app.requests, "errors": app.errors,
                             "uptimeSeconds": round(time.time() - app.started, 3)})
        elif path in ("/swagger.json", "/score/swagger.json"):
            self._json(200, app.swagger(self.headers.get("Host") or "127.0.0.1"))
        elif path == "/score":
            self._json(405, {"error": "POST your input to /score."}, extra={"Allow": "POST"})
        else:
            self._json(404, {"error": "Not found: %s. Routes: POST /score, GET /, GET /swagger.json." % path})

    def do_POST(self):
        app = self.server.app
        refused = self._check()
        if refused is not None:
            return self._refuse(*refused)
        try:
            body = self._body()
        except (ValueError, OSError) as exc:
            return self._refuse(400, "Malformed request body framing: %s." % exc)
        if body is None:
            return self._refuse(413, "Request body over %d MB." % (MAX_BODY // 1024 // 1024))
        if self.path.split("?", 1)[0] == "/-/reload":
            app.reload_keys()
            return self._json(200, {"reloaded": True})
        return self._score(app, body)

    def _score(self, app, body):
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self._json(400, {"error": "The request body is not UTF-8 text: %s" % exc})
        code = 200
        with app.lock:
            app.requests += 1
            try:
                result = app.call_run(raw)
            except Exception as exc:
                code = 400 if isinstance(exc, ValueError) else 500
                result = {"error": str(exc) if isinstance(exc, InputError) else "%s: %s" % (type(exc).__name__, exc)}
                app.errors += 1
                sys.stderr.write("[kyanite] run() raised, answered %d:\n%s" % (code, traceback.format_exc()))
                sys.stderr.flush()
        try:
            out = json.dumps(result)
        except (TypeError, ValueError) as exc:
            code, out = 500, json.dumps({"error": "run() returned a value that is not JSON serialisable: %s" % exc})
            sys.stderr.write("[kyanite] %s\n" % out)
        self._send(code, out)


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def _watch_config(app, httpd, interval=2.0):
    """Leave when the config file is gone: the deployment was deleted or replaced."""
    while True:
        time.sleep(interval)
        if not os.path.exists(app.config_path):
            sys.stderr.write("[kyanite] %s was removed; the scoring server stops\n" % app.config_path)
            app.orphaned = True
            httpd.shutdown()
            return


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m kyanite.serving.server")
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    app = ScoringApp(args.config)
    app.orphaned = False
    app.write_state("Initializing")
    host, port = app.cfg.get("host") or "127.0.0.1", int(app.cfg.get("port") or 0)
    try:
        httpd = Server((host, port), Handler)
    except OSError as exc:
        msg = "Cannot listen on %s:%d: %s. Another program uses the port; give another port in the " \
              "deployment configuration (or none, to get a free one)." % (host, port, exc)
        print("[kyanite] " + msg)
        app.write_state("Failed", {"message": msg, "code": "PortInUse"})
        return 4
    httpd.app = app
    port = httpd.server_address[1]
    print("[kyanite] scoring server for %s (generation %s) on http://%s:%d, Python %s, pid %d; loading %s" % (
        app.name, app.generation, host, port, sys.version.split()[0], os.getpid(),
        os.path.basename(app.cfg["entryScript"])))
    sys.stdout.flush()
    try:
        app.load()
    except BaseException as exc:
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        sys.stderr.flush()
        where = "init()" if not isinstance(exc, (EntryScriptError, SyntaxError, ImportError)) else "loading"
        if isinstance(exc, EntryScriptError):
            message = str(exc)
        else:
            message = "The entry script failed in %s: %s: %s" % (where, type(exc).__name__, exc)
        app.write_state("Failed", {"message": message, "code": "EntryScriptFailed", "traceback": tb})
        return 3

    def _term(*_):
        threading.Thread(target=httpd.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, _term)
    threading.Thread(target=_watch_config, args=(app, httpd), daemon=True).start()
    try:
        app.reload_keys()  # keys regenerated while init() ran
    except (OSError, ValueError):
        pass
    app.write_state("Healthy", port=port)
    print("[kyanite] ready: POST http://%s:%d/score" % (host, port))
    sys.stdout.flush()
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        httpd.server_close()
    print("[kyanite] scoring server stopped")
    return 5 if app.orphaned else 0


if __name__ == "__main__":
    sys.exit(main())
