"""MLflow's search filter grammar for runs (``runs/search``), evaluated in Python.

``parse(text)`` turns ``metrics.acc > 0.9 and params.lr = '0.01' and tags."a b" != 'x' and
attributes.status IN ('FINISHED', 'RUNNING')`` into clauses ``(kind, key, op, value)``:
``kind`` is ``metrics``, ``params``, ``tags`` or ``attributes`` (``metric``, ``param``,
``tag``, ``attribute``, ``attr`` and ``run`` are accepted too); keys may be quoted with
``"``, ``'`` or backticks. Comparators: metrics ``= != > >= < <=``; params, tags and string
attributes ``= != LIKE ILIKE IN NOT IN``, and ``IS NULL`` / ``IS NOT NULL`` for params and
tags; time attributes compare as numbers. Clauses join with ``AND`` only, as in MLflow.
A malformed filter raises ``SearchError`` with one line saying what is wrong and where
(``at character N``, counting from 1).

``parse(text, loose=True, attributes=(numeric, text))`` is the dialect of kyanite's runs
filter (``kyanite.store.runs_filter``): values of params and tags may also be unquoted numbers
(given as floats, compared as numbers), and the attribute keys are the given ones.

``matches(clauses, fields)`` tests one run: ``fields`` is ``{"metrics": {...}, "params":
{...}, "tags": {...}, "attributes": {...}}``. ``sort_key(order_by, ...)`` sorts like MLflow
(``metrics.acc DESC``; runs without the key last).
"""

import re
from typing import Any

__all__ = ["SearchError", "parse", "matches", "sort_runs"]

KINDS = {"metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
         "parameter": "params", "parameters": "params", "tag": "tags", "tags": "tags",
         "attribute": "attributes", "attributes": "attributes", "attr": "attributes", "run": "attributes"}
NUMERIC_ATTRIBUTES = ("start_time", "end_time", "created")
STRING_ATTRIBUTES = ("run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage",
                     "experiment_id")
ATTRIBUTE_ALIASES = {"created": "start_time", "Created": "start_time", "run name": "run_name",
                     "runName": "run_name", "id": "run_id"}

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<bt>`[^`]*`)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<op>!=|>=|<=|=|>|<|\(|\)|,)
  | (?P<word>[A-Za-z_][\w]*(?:\.[A-Za-z_0-9][\w\-]*)*\.?)
)""", re.X)


class SearchError(ValueError):
    """A filter or order_by MLflow's grammar does not accept (message: one line)."""


def _tokens(text: str) -> Any:
    """``[(kind, text, start)]`` of ``text``; ``start`` counts characters from 0."""
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            raise SearchError("Invalid filter %r: cannot read it from %r on (at character %d)."
                              % (text, text[at:at + 20], at + 1))
        pos = m.end()
        kind: Any = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
    return out


def _unquote(tok: Any) -> Any:
    kind, v = tok[0], tok[1]
    if kind == "str":
        return v[1:-1].replace("''", "'").replace("\\'", "'").replace('\\"', '"')
    if kind == "bt":
        return v[1:-1]
    return v


def _key(tokens: Any, i: int, attributes: Any = (NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES)) -> Any:
    """``(kind, key, next index)`` of an entity such as ``metrics.acc`` or ``params."a b"``."""
    kind, v = tokens[i][0], tokens[i][1]
    if kind != "word":
        raise SearchError("Invalid filter: expected an entity such as metrics.<name>, got %r." % v)
    if v.endswith("."):  # params."quoted key"
        prefix = v[:-1]
        if i + 1 >= len(tokens) or tokens[i + 1][0] not in ("str", "bt"):
            raise SearchError("Invalid filter: %r must be followed by a key." % v)
        key, i = _unquote(tokens[i + 1]), i + 2
    else:
        prefix, _, key = v.partition(".")
        i += 1
        if not key:  # a bare attribute such as run_name / status
            prefix, key = "attributes", v
    entity = KINDS.get(prefix.lower())
    if entity is None:
        raise SearchError("Invalid filter: unknown entity %r; use metrics., params., tags. or attributes." % prefix)
    if entity == "attributes":
        key = ATTRIBUTE_ALIASES.get(key, key)
        if key not in attributes[0] + attributes[1]:
            raise SearchError("Invalid attribute key %r; searchable attributes: %s."
                              % (key, ", ".join(attributes[0] + attributes[1])))
    return entity, key, i


def parse(text: str | None, loose: bool = False, attributes: Any = (NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES)) -> Any:
    """The clauses of a filter string (``[]`` for an empty one)."""
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    state = {"i": 0}
    try:
        return _parse(tokens, state, loose, attributes)
    except SearchError as e:
        i = min(state["i"], len(tokens))
        at = tokens[i][2] + 1 if i < len(tokens) else len(text.rstrip()) + 1
        msg = str(e)
        raise SearchError(msg if "(at character" in msg else "%s (at character %d)" % (msg.rstrip("."), at))


def _parse(tokens: Any, state: Any, loose: bool, attributes: Any) -> Any:
    clauses: list[Any] = []
    i = 0
    while i < len(tokens):
        state["i"] = i
        entity, key, i = _key(tokens, i, attributes)
        state["i"] = i
        if i >= len(tokens):
            raise SearchError("Invalid filter: %s.%s has no comparison." % (entity, key))
        kind, v = tokens[i][0], tokens[i][1]
        op = v.upper() if kind == "word" else v
        i += 1
        if op == "NOT" and i < len(tokens) and tokens[i][1].upper() == "IN":
            op, i = "NOT IN", i + 1
        elif op == "IS":
            neg = i < len(tokens) and tokens[i][1].upper() == "NOT"
            i += 1 if neg else 0
            if i >= len(tokens) or tokens[i][1].upper() != "NULL":
                raise SearchError("Invalid filter: IS must be followed by NULL or NOT NULL.")
            clauses.append((entity, key, "IS NOT NULL" if neg else "IS NULL", None))
            i += 1
            i = _and(tokens, i)
            continue
        if op in ("IN", "NOT IN"):
            if i >= len(tokens) or tokens[i][1] != "(":
                raise SearchError("Invalid filter: %s needs a list such as ('a', 'b')." % op)
            values, i = [], i + 1
            while i < len(tokens) and tokens[i][1] != ")":
                if tokens[i][1] != ",":
                    values.append(_unquote(tokens[i]))
                i += 1
            if i >= len(tokens):
                raise SearchError("Invalid filter: the list after %s is not closed." % op)
            i += 1
            value: Any = values
        elif op in ("=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE"):
            state["i"] = i
            if i >= len(tokens):
                raise SearchError("Invalid filter: %s.%s %s has no value." % (entity, key, op))
            tok = tokens[i]
            i += 1
            value = _unquote(tok)
            if loose and entity in ("params", "tags") and tok[0] == "num" and op not in ("LIKE", "ILIKE"):
                value = float(value)
            elif entity == "metrics" or (entity == "attributes" and key in attributes[0]):
                if op in ("LIKE", "ILIKE"):
                    raise SearchError("Invalid filter: %s.%s compares numbers; %s compares text." % (entity, key, op))
                try:
                    value = float(value)
                except ValueError:
                    raise SearchError("Invalid filter: %s.%s needs a number, got %r." % (entity, key, value))
            elif tok[0] not in ("str",) and op in ("=", "!=", "LIKE", "ILIKE"):
                raise SearchError("Invalid filter: the value for %s.%s must be quoted ('...'), got %s."
                                  % (entity, key, tok[1]))
        else:
            raise SearchError("Invalid filter: unknown comparator %r." % v)
        clauses.append((entity, key, op, value))
        state["i"] = i
        i = _and(tokens, i)
    return clauses


def _and(tokens: Any, i: int) -> Any:
    if i < len(tokens):
        if tokens[i][1].upper() != "AND":
            raise SearchError("Invalid filter: clauses join with AND only, got %r." % tokens[i][1])
        i += 1
        if i >= len(tokens):
            raise SearchError("Invalid filter: it ends with AND.")
    return i


def _like(pattern: str, value: Any, ci: Any) -> Any:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.match(rx + r"\Z", value, re.S | (re.I if ci else 0)) is not None


def _test(op: Any, have: Any, want: Any) -> Any:
    if op == "IS NULL":
        return have is None
    if op == "IS NOT NULL":
        return have is not None
    if have is None:
        return False
    if op == "=":
        return have == want
    if op == "!=":
        return have != want
    if op == ">":
        return have > want
    if op == ">=":
        return have >= want
    if op == "<":
        return have < want
    if op == "<=":
        return have <= want
    if op == "LIKE":
        return _like(want, have, False)
    if op == "ILIKE":
        return _like(want, have, True)
    if op == "IN":
        return have in want
    if op == "NOT IN":
        return have not in want
    return False


def matches(clauses: Any, fields: Any) -> Any:
    """True when the run with ``fields`` satisfies every clause."""
    for entity, key, op, value in clauses:
        have = fields[entity].get(key)
        if entity == "attributes" and key in NUMERIC_ATTRIBUTES and have is not None:
            have = float(have)
        if not _test(op, have, value):
            return False
    return True


def sort_runs(runs: Any, order_by: Any, fields_of: Any) -> Any:
    """``runs`` sorted by MLflow ``order_by`` clauses (``["metrics.acc DESC", ...]``);
    ties, and no order_by, keep start time descending. Runs without a key come last."""
    out = sorted(runs, key=lambda r: -(fields_of(r)["attributes"].get("start_time") or 0))
    for clause in reversed(order_by or []):
        parts = clause.strip().rsplit(None, 1)
        desc = len(parts) == 2 and parts[1].upper() == "DESC"
        expr = parts[0] if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC") else clause.strip()
        toks = _tokens(expr)
        entity, key, i = _key(toks, 0)
        if i != len(toks):
            raise SearchError("Invalid order_by clause %r: use '<entity>.<key> [ASC|DESC]'." % clause)
        present = [r for r in out if fields_of(r)[entity].get(key) is not None]
        missing = [r for r in out if fields_of(r)[entity].get(key) is None]
        present.sort(key=lambda r: fields_of(r)[entity][key], reverse=desc)
        out = present + missing
    return out
