"""Registry authentication: the client's credentials (``X-Registry-Auth``), the registry's
``WWW-Authenticate`` challenge, and bearer tokens from its token service, cached per scope.

A registry answers 401 with either ``Basic realm=...`` (send the user's password with every
request) or ``Bearer realm=...,service=...,scope=...`` (ask ``realm`` for a token for these
scopes, with the password if there is one, anonymously if not; Docker Hub works this way).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass

from ballena.errors import InvalidArgument


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth refresh token (what `docker login` may store)
    registry_token: str = ""  # a bearer token to use as is
    server: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def credentials_from_header(value: str | None) -> Credentials:
    """Decode ``X-Registry-Auth`` (base64url JSON, as the docker CLI and docker-py send it)."""
    if not value:
        return Credentials()
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        try:  # some clients send plain JSON
            data = json.loads(value)
        except ValueError:
            raise InvalidArgument("invalid X-Registry-Auth header: not base64-encoded JSON") from None
    if not isinstance(data, dict):
        return Credentials()
    return credentials_from_json(data)


def credentials_from_json(data: dict[str, object]) -> Credentials:
    """A Docker AuthConfig (``/auth`` body, X-Registry-Auth, X-Registry-Config entry)."""
    username = str(data.get("username") or data.get("Username") or "")
    password = str(data.get("password") or data.get("Password") or "")
    auth = str(data.get("auth") or "")
    if auth and not username:
        try:
            username, _, password = base64.b64decode(auth).decode().partition(":")
        except ValueError:
            pass
    return Credentials(
        username=username,
        password=password,
        identity_token=str(data.get("identitytoken") or data.get("IdentityToken") or ""),
        registry_token=str(data.get("registrytoken") or data.get("RegistryToken") or ""),
        server=str(data.get("serveraddress") or data.get("ServerAddress") or ""),
    )


_PARAM = re.compile(r'([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(rest)}
    return Challenge(scheme=scheme.lower(), params=params)


class TokenCache:
    """Bearer tokens by (realm, service, scopes), until a little before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, realm: str, service: str, scope: str, user: str) -> str | None:
        with self._lock:
            item = self._tokens.get((realm, service, scope, user))
        if item is None or item[1] < time.monotonic():
            return None
        return item[0]

    def put(self, realm: str, service: str, scope: str, user: str, token: str, expires_in: int) -> None:
        # Docker's token spec: 60 s when unspecified; keep a margin for clock and transit.
        lifetime = max(int(expires_in or 60) - 10, 5)
        with self._lock:
            self._tokens[(realm, service, scope, user)] = (token, time.monotonic() + lifetime)
