"""The rules for identifiers and free text the workspace API accepts.

An *identifier* (a run id, an experiment, model, dataset, environment, compute target,
endpoint or datastore name, a dataset version) is 1-255 characters from letters, digits,
``_``, ``-`` and ``.``, not starting with ``.`` (so never ``.`` or ``..``): it is safe as
one segment of a file path and of a URL. ``check_identifier`` enforces it.

Free text (display names, descriptions, tag and property keys and values) has a length
cap (``check_text``, ``check_mapping``).

Every check returns the value it accepted, or raises ``InvalidValue`` (a ValueError) whose
message is one line naming the field and the rule. Standard library only, Python 3.6+.
"""

import re
from typing import Any, Callable, Optional

NAME_MAX = 255         # identifiers, display names, tag and property keys
VALUE_MAX = 5000       # tag and property values
DESCRIPTION_MAX = 10000
MAPPING_MAX = 1000     # entries in one tags/properties object

_IDENTIFIER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")

__all__ = ["InvalidValue", "check_identifier", "check_text", "check_mapping", "is_identifier",
           "NAME_MAX", "VALUE_MAX", "DESCRIPTION_MAX", "MAPPING_MAX"]


class InvalidValue(ValueError):
    """A value the API refuses; ``field`` names it, ``str(exc)`` says the rule."""

    def __init__(self, field: str, message: str) -> None:
        ValueError.__init__(self, message)
        self.field = field


def is_identifier(value: Any, max_len: int = NAME_MAX) -> bool:
    """True when ``value`` is a str that follows the identifier rule."""
    return isinstance(value, str) and 0 < len(value) <= max_len and _IDENTIFIER.match(value) is not None


def check_identifier(field: str, value: Any, max_len: int = NAME_MAX,
                     exists: Optional[Callable[[str], Any]] = None) -> str:
    """``value`` when it is an identifier, else InvalidValue naming ``field``. ``exists``
    (optional): a callable that is true for a name already stored, e.g. made before these
    rules; such a name is accepted so it can still be used (a new version, a new run)."""
    if is_identifier(value, max_len):
        return value
    if exists is not None and isinstance(value, str) and 0 < len(value) <= max_len and value not in (".", "..") \
            and "/" not in value and exists(value):
        return value
    shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:60]) + "..."
    raise InvalidValue(field, "Invalid %s %s: use 1-%d characters from letters, digits, '_', '-' and '.', "
                              "not starting with '.'." % (field, shown, max_len))


def check_text(field: str, value: Any, max_len: int = NAME_MAX) -> Optional[str]:
    """``value`` when it is None or a str of at most ``max_len`` characters."""
    if value is None or (isinstance(value, str) and len(value) <= max_len):
        return value
    if not isinstance(value, str):
        raise InvalidValue(field, "Invalid %s: it must be text." % field)
    raise InvalidValue(field, "Invalid %s: %d characters, more than the %d allowed." % (field, len(value), max_len))


def check_mapping(field: str, value: Any, key_max: int = NAME_MAX, value_max: int = VALUE_MAX,
                  max_items: int = MAPPING_MAX) -> Any:
    """``value`` when it is None or a dict of at most ``max_items`` entries whose keys (as
    text) have at most ``key_max`` and whose values (as text) at most ``value_max``
    characters. Values that are not text are measured as ``str(value)``, as they are stored."""
    if value is None:
        return value
    if not isinstance(value, dict):
        raise InvalidValue(field, "Invalid %s: it must be an object of names and values." % field)
    if len(value) > max_items:
        raise InvalidValue(field, "Invalid %s: %d entries, more than the %d allowed." % (field, len(value), max_items))
    for key, item in value.items():
        key = str(key)
        if not key or len(key) > key_max:
            raise InvalidValue(field, "Invalid %s: the key %r has %d characters; keys have 1-%d."
                               % (field, key[:40] + ("..." if len(key) > 40 else ""), len(key), key_max))
        if item is not None and len(str(item)) > value_max:
            raise InvalidValue(field, "Invalid %s: the value of %r has %d characters, more than the %d allowed."
                               % (field, key[:40], len(str(item)), value_max))
    return value
