"""A run's command-line arguments read as parameters.

``parse_arguments(["--batch-size", "50", "--lr=0.001", "-x", "1", "--verbose"])`` returns
``{"batch_size": 50, "lr": 0.001, "x": 1, "verbose": True}``:

- ``--name value`` and ``--name=value`` (also ``-n value`` / ``-n=value``) give ``name``;
  dashes inside a name become underscores, as argparse's ``dest`` does;
- a name followed by nothing, or by another option, is a flag: ``True``;
- values are typed: an integer gives an ``int``, a decimal or exponent number a ``float``,
  anything else stays text;
- positional arguments (those not after an option) are left out; a repeated option keeps
  its last value; ``--`` ends the options.

Pure and standard library only: the store calls it when a run is created and for runs
created before parameters were kept.
"""

import re
from typing import Any, Dict, List, Optional

__all__ = ["parse_arguments", "typed"]

_INT = re.compile(r"[-+]?\d+\Z")
_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?\Z")
_OPTION = re.compile(r"--?([A-Za-z_][\w.\-]*)(?:=(.*))?\Z", re.S)


def typed(text: Any) -> Any:
    """``text`` as an int or float when it reads as one, else unchanged."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    return text


def _is_option(arg: Any) -> bool:
    return isinstance(arg, str) and _OPTION.match(arg) is not None and not _FLOAT.match(arg)


def parse_arguments(arguments: Optional[List[Any]]) -> Dict[str, Any]:
    """``{name: value}`` of the options in ``arguments`` (a list; items that are not text,
    such as numbers, are read as their text)."""
    args = [a if isinstance(a, str) else str(a) for a in (arguments or [])]
    out = {}  # type: Dict[str, Any]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        m = _OPTION.match(arg) if _is_option(arg) else None
        if m is None:
            continue
        name = m.group(1).replace("-", "_")
        if m.group(2) is not None:
            out[name] = typed(m.group(2))
        elif i < len(args) and not _is_option(args[i]) and args[i] != "--":
            out[name] = typed(args[i])
            i += 1
        else:
            out[name] = True
    return out
