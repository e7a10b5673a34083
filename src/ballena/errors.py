"""The one error hierarchy of Ballena.

Every layer below ``api/`` raises only these types; ``api/errors.py`` is the only place that
turns them into HTTP status codes (the way moby's ``errdefs`` and ``httpstatus`` work)::

    BallenaError
     +-- InvalidArgument      bad input: malformed reference, unknown flag value (400)
     +-- NotFound             no such image, container, network, volume, exec (404)
     +-- Conflict             name in use, image in use, container running (409)
     |    +-- AlreadyExists   the exact object already exists (409)
     +-- Unauthorized         registry refused the credentials (401)
     +-- Forbidden            the operation is not allowed on this object (403)
     +-- NotModified          nothing to do: container already started/stopped (304)
     +-- NotImplemented       a known feature Ballena does not offer (501)
     +-- Unavailable          a dependency (registry, runtime) cannot be reached (503)
     +-- SystemError          the host failed us: mount, namespace, disk (500)

The message is what the user reads, so it is written in Docker's words.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BallenaError",
    "Conflict",
    "Forbidden",
    "InvalidArgument",
    "NotFound",
    "NotImplemented",
    "NotModified",
    "SystemError",
    "Unauthorized",
    "Unavailable",
]


class BallenaError(Exception):
    """Base of every error Ballena raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(BallenaError):
    """The caller asked for something malformed or contradictory."""


class NotFound(BallenaError):
    """The named object does not exist."""


class Conflict(BallenaError):
    """The object exists but its state forbids the operation."""


class AlreadyExists(Conflict):
    """An object with that identity already exists."""


class Unauthorized(BallenaError):
    """Credentials are missing or wrong."""


class Forbidden(BallenaError):
    """The operation is refused by policy."""


class NotModified(BallenaError):
    """The object is already in the requested state."""


class NotImplemented(BallenaError):
    """A feature Docker has that Ballena deliberately does not offer."""


class Unavailable(BallenaError):
    """Something the operation needs cannot be reached right now."""


class SystemError(BallenaError):
    """The host failed an operation that should have worked."""
