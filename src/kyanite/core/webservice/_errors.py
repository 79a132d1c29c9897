"""Errors of the model and web service SDK: WebserviceException (what SDK v1 raised, and
what its notebooks catch) that are also the matching kyanite user errors."""

import contextlib

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException, WebserviceException

__all__ = ["WsUserError", "WsNotFound", "WsConflict", "ws_errors"]


class WsUserError(UserErrorException, WebserviceException):
    """A refused request (a UserErrorException and a WebserviceException)."""


class WsNotFound(NotFoundException, WebserviceException):
    """No such service or model (a NotFoundException and a WebserviceException)."""


class WsConflict(ConflictException, WebserviceException):
    """The request conflicts with the current state (a ConflictException and a WebserviceException)."""


@contextlib.contextmanager
def ws_errors(not_found=WsNotFound):
    """Re-raise the REST client's user errors as their WebserviceException twins."""
    try:
        yield
    except WebserviceException:
        raise
    except NotFoundException as exc:
        raise not_found(exc.message) from None
    except ConflictException as exc:
        raise WsConflict(exc.message) from None
    except UserErrorException as exc:
        raise WsUserError(exc.message) from None
