"""The base of the typed wire records (run definitions, sweep specs, deployment specs).

Standard library only, Python 3.6+.

Contract:

- A record class declares ``FIELDS``: ``(wire key, attribute, check)`` triples. ``check(what,
  key, value)`` returns the value to keep or raises ``RecordError``; ``None`` (JSON null) is
  always accepted and kept as given.
- ``from_json(d)`` checks every key of the JSON object ``d`` and refuses a key it does not
  know (a misspelt field must not be ignored) with ``RecordError`` naming it. The record
  keeps the keys that were given, in their order, so ``to_json()`` gives back exactly the
  object it was built from (byte-for-byte once serialized): ``R.from_json(d).to_json() == d``.
- A field that was not given reads as ``None`` (or the record's empty value for nested
  records and lists, see each class).
- ``RecordError`` is a ``UserErrorException`` and a ``ValueError``; its ``field`` is the
  dotted path of the wrong field (``childDefinition.arguments``).
"""

import math
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

from kyanite.exceptions import UserErrorException

__all__ = ["RecordError", "WireRecord", "text", "number", "whole", "flag", "obj", "string_list",
           "value_list", "nested", "objects_of"]


#: A field's check: ``(what, key, value) -> the value to keep``.
Check = Callable[[str, str, Any], Any]
#: A record class's ``FIELDS``: ``(wire key, attribute, check)`` triples.
Fields = Tuple[Tuple[str, str, Check], ...]
R = TypeVar("R", bound="WireRecord")


class RecordError(UserErrorException, ValueError):
    """A field of a wire record is wrong; ``field`` names it (a dotted path)."""

    field = None  # type: Optional[str]
    message = ""  # type: str

    def __init__(self, field: str, message: str) -> None:
        super(RecordError, self).__init__(message, field=field)


def _bad(what: str, key: str, kind: str, value: Any) -> RecordError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return RecordError(key, "%s field %r must be %s, got %s." % (what, key, kind, shown))


def text(what: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(what, key, "a string", value)
    return value


def number(what: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(what, key, "a number", value)
    return value


def whole(what: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(what, key, "a whole number", value)
    return value


def flag(what: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(what, key, "true or false", value)
    return value


def obj(what: str, key: str, value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(what, key, "a JSON object", value)
    return value


def string_list(what: str, key: str, value: Any) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(what, key, "a list of strings", value)
    return value


def value_list(what: str, key: str, value: Any) -> List[Any]:
    """A list of strings and numbers (script arguments)."""
    if not isinstance(value, list) or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        raise _bad(what, key, "a list of strings or numbers", value)
    return value


def objects_of(what_inner: str) -> Check:
    """An object of names to JSON objects (``inputDatasets``)."""
    def check(what: str, key: str, value: Any) -> Dict[str, Dict[str, Any]]:
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, dict) for k, v in value.items()):
            return value
        raise _bad(what, key, what_inner, value)
    return check


def nested(record_class: "Type[WireRecord]") -> Check:
    """A field holding another record, given as its JSON object."""
    def check(what: str, key: str, value: Any) -> "WireRecord":
        try:
            return record_class.from_json(value)
        except RecordError as e:
            if e.field in ("", None):
                raise RecordError(key, e.message)
            raise RecordError("%s.%s" % (key, e.field), e.message)
    return check


class WireRecord(object):
    """A typed record of a JSON object of the wire (see the module docstring)."""

    #: ``(wire key, attribute, check)`` triples.
    FIELDS = ()  # type: Fields
    #: How the record is named in error messages.
    WHAT = "Record"

    def __init__(self, **values: Any) -> None:
        """Build from attributes (``script="t.py"``); each is checked as in ``from_json``."""
        by_attr = dict((attr, key) for key, attr, _ in self.FIELDS)
        data = {}  # type: Dict[str, Any]
        for attr, v in values.items():
            if attr not in by_attr:
                raise TypeError("%s has no field %r" % (type(self).__name__, attr))
            if isinstance(v, WireRecord):
                v = v.to_json()
            data[by_attr[attr]] = v
        self._load(data)

    @classmethod
    def from_json(cls: Type[R], data: Any) -> R:
        """The record of the JSON object ``data``; ``RecordError`` naming the first wrong field."""
        self = cls.__new__(cls)
        self._load(data)
        return self

    def _load(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise RecordError("", "A %s must be a JSON object, got %r." % (self.WHAT.lower(), data))
        known = dict((key, (attr, check)) for key, attr, check in self.FIELDS)
        unknown = [k for k in data if k not in known]
        if unknown:
            raise RecordError(str(unknown[0]), "Unknown %s field %r; known fields: %s." % (
                self.WHAT.lower(), unknown[0], ", ".join(sorted(known))))
        self._given = []  # type: List[str]
        for key, value in data.items():
            attr, check = known[key]
            if value is not None:
                value = check(self.WHAT, key, value)
            self._given.append(key)
            self.__dict__[attr] = value
        self._check()

    def _check(self) -> None:
        """Checks across fields, after each field's own; raise RecordError."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        for _, a, _c in self.FIELDS:
            if a == attr:
                return self._empty(attr)
        raise AttributeError("%s has no field %r" % (type(self).__name__, attr))

    def _empty(self, attr: str) -> Any:
        """What a field that was not given reads as."""
        return None

    @classmethod
    def key(cls, attr: str) -> str:
        """The wire key of the attribute ``attr``."""
        for key, a, _ in cls.FIELDS:
            if a == attr:
                return key
        raise AttributeError("%s has no field %r" % (cls.__name__, attr))

    def has(self, key: str) -> bool:
        """Whether the wire key ``key`` was given (even as null)."""
        return key in self._given

    def to_json(self) -> Dict[str, Any]:
        """The JSON object of the record: the keys given, in their order."""
        key_attr = dict((key, attr) for key, attr, _ in self.FIELDS)
        out = {}  # type: Dict[str, Any]
        for key in self._given:
            v = self.__dict__[key_attr[key]]
            out[key] = v.to_json() if isinstance(v, WireRecord) else _copy(v)
        return out

    def replace(self: R, **values: Any) -> R:
        """A copy with some fields set (by attribute name), checked; a field set to None is
        kept as null."""
        data = self.to_json()
        by_attr = dict((attr, key) for key, attr, _ in self.FIELDS)
        for attr, v in values.items():
            if attr not in by_attr:
                raise TypeError("%s has no field %r" % (type(self).__name__, attr))
            data[by_attr[attr]] = v.to_json() if isinstance(v, WireRecord) else v
        return type(self).from_json(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WireRecord) and type(other) is type(self) and self.to_json() == other.to_json()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __bool__(self) -> bool:
        return bool(self._given)

    __nonzero__ = __bool__

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self.to_json().items()))


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return dict((k, _copy(x)) for k, x in v.items())
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v
