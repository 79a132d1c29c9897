"""Errors raised by :mod:`kyanite.envs`.

Two kinds of failure are kept apart so callers can report them differently:

* :class:`EnvSpecError` -- the environment *description* is wrong (bad YAML,
  a conda package kyanite cannot install, a Python version that is not
  installed...).  The message says what is wrong and what to do about it.
  Nothing was built.
* :class:`EnvBuildError` -- the description was fine but building it failed
  (typically uv could not resolve or install the requirements).  ``.output``
  holds everything uv printed; ``str()`` is a readable message that ends with
  uv's last lines, so callers can show it as-is without a traceback.
"""

from __future__ import annotations

__all__ = ["EnvSpecError", "EnvBuildError"]

#: How many trailing lines of tool output ``str(EnvBuildError)`` shows.
TAIL_LINES = 30


class EnvSpecError(ValueError):
    """The environment specification is invalid.

    The message names the source (file or "conda YAML"), what is wrong, and
    how to fix it.
    """


class EnvBuildError(RuntimeError):
    """Building an environment failed.

    Attributes:
        message: one-line summary (which step failed, exit status).
        output: the complete output (stdout and stderr interleaved) of the
            failing step, usually uv's.
    """

    def __init__(self, message: str, output: str = "") -> None:
        self.message = message
        self.output = output or ""
        super().__init__(message)

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` non-empty-trailing lines of :attr:`output`."""
        out = self.output.rstrip().splitlines()
        return "\n".join(out[-lines:])

    def __str__(self) -> str:
        tail = self.tail()
        if not tail:
            return self.message
        return f"{self.message}\n--- last lines of output ---\n{tail}"
