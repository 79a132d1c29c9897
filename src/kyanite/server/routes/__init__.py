"""REST routes of the workspace server, one module per resource family."""

from kyanite.exceptions import NotFoundException
from typing import Any


def known(lookup: Any) -> Any:
    """For ``check_identifier(..., exists=known(lookup))``: a callable that is True when
    ``lookup(name)`` finds a stored record (raises no NotFoundException)."""
    def exists(name: str) -> Any:
        try:
            lookup(name)
            return True
        except NotFoundException:
            return False
    return exists
