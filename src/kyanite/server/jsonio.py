"""JSON in and out of the workspace server.

In: a request's JSON may nest at most ``MAX_DEPTH`` arrays/objects deep. ``parse(raw)``
(for routes that read their body themselves) and ``check_body`` (a router dependency, for
bodies FastAPI parsed) refuse deeper ones with a one-line 400, so no later step (pydantic,
the store's ``json.dumps``, the response encoder) can run out of recursion.

Out: every JSON response is strict JSON, which browsers' ``JSON.parse`` accepts. A float
that is not finite is sent as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
(``to_wire``); ``StrictJSONResponse`` (the app's default response class) and ``dumps``
apply it. The SDK turns those strings back into floats where a number was logged
(``kyanite.runtime.run._from_wire``); the studio shows them as text and does not plot them.
Metric values may be text too: ``GET /api/runs/{id}/metrics`` says which strings are text
and which are non-finite floats (``kyanite.server.routes.runs.metrics_wire``).
"""

import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kyanite.exceptions import UserErrorException

MAX_DEPTH = 100  # arrays/objects inside each other in one request body

#: how a non-finite float travels (JavaScript's names for them)
NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _depth_error(what: str) -> Any:
    return UserErrorException("%s nests arrays/objects more than %d deep; send a flatter document."
                              % (what, MAX_DEPTH))


def check_depth(value: Any, what: str = "The request body") -> None:
    """Raise ``UserErrorException`` (400) when ``value`` nests deeper than ``MAX_DEPTH``;
    iterative, so any depth is answered."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        if d > MAX_DEPTH:
            raise _depth_error(what)
        stack.extend((x, d + 1) for x in v if isinstance(x, (dict, list)))


def parse(raw: Any, what: str = "The request body") -> Any:
    """``raw`` (bytes or str) as JSON, depth checked; ``UserErrorException`` when it is not
    JSON or nests too deep."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _depth_error(what)
    except ValueError as exc:
        raise UserErrorException("%s is not valid JSON (%s)." % (what, exc))
    check_depth(value, what)
    return value


def check_body(request: Request) -> None:
    """Router dependency: the depth check for a JSON body FastAPI already parsed (it parses
    before dependencies run; a body too deep for the parser itself is a 400 there)."""
    if hasattr(request, "_json"):  # starlette's cache of request.json()
        check_depth(request._json)


def to_wire(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its ``NON_FINITE`` name (a copy;
    containers without one come back unchanged)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return dict((k, to_wire(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


def dumps(value: Any) -> Any:
    """Strict, compact JSON text of ``value`` (non-finite floats as strings). A document
    without one is encoded once, with no walk over it."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(to_wire(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class StrictJSONResponse(JSONResponse):
    """A JSON response in strict JSON (see ``dumps``)."""

    def render(self, content: Any) -> Any:
        return dumps(content).encode("utf-8")
