"""Exceptions raised by kyanite, with the Azure ML SDK v1 names.

Standard library only and Python 3.6 compatible: this module is placed into run
environments together with :mod:`kyanite.runtime`.
"""

__all__ = [
    "KyaniteException", "UserErrorException", "AuthenticationException",
    "ServerNotRunningException", "ActivityFailedException", "RunEnvironmentException",
    "ComputeTargetException", "WebserviceException", "ModelNotFoundException",
    "NotFoundException", "ConflictException",
]


class KyaniteException(Exception):
    """Base of every kyanite error. ``message`` holds the text shown to the user."""

    def __init__(self, message, **kwargs):
        super(KyaniteException, self).__init__(message)
        self.message = message
        for k, v in kwargs.items():
            setattr(self, k, v)


class UserErrorException(KyaniteException):
    """The caller asked for something invalid; the message says what and what to do."""


class NotFoundException(UserErrorException):
    """A named object (run, experiment, file, environment version...) does not exist."""


class ConflictException(UserErrorException):
    """The request conflicts with the current state (e.g. a name already taken)."""


class AuthenticationException(KyaniteException):
    """The workspace server refused the token (HTTP 401)."""


class ServerNotRunningException(KyaniteException):
    """The workspace server cannot be reached."""


class ActivityFailedException(KyaniteException):
    """A run ended Failed or Canceled while waited on with raise_on_error=True."""


class RunEnvironmentException(KyaniteException):
    """Run context is unavailable or broken."""


class ComputeTargetException(KyaniteException):
    """A compute target is absent, or cannot be created or used."""


class WebserviceException(KyaniteException):
    """A deployment failed or a web service call was refused."""


class ModelNotFoundException(NotFoundException):
    """No registered model matches the name/version asked for."""
