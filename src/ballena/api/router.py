"""Routes with and without the ``/vX.Y`` prefix, and Docker's API version negotiation."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ballena.api.http import Hijack, Request, Response, StreamResponse
from ballena.errors import InvalidArgument, NotFound

API_VERSION = "1.56"
MIN_API_VERSION = "1.24"

_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")

Handler = Callable[[Request], Awaitable[Response | StreamResponse | Hijack]]


def version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        return (0,)


def version_lt(a: str, b: str) -> bool:
    return version_tuple(a) < version_tuple(b)


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        # {name} matches one segment; {name:.+} may span slashes (image names do).
        def repl(m: re.Match[str]) -> str:
            name, _, rx = m.group(1).partition(":")
            return f"(?P<{name}>{rx or '[^/]+'})"

        rx = re.compile("^" + re.sub(r"\{([^}]+)\}", repl, pattern) + "$")
        self._routes.append((method, rx, handler))
        if method == "GET":
            self._routes.append(("HEAD", rx, handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn

        return deco

    def include(self, other: Router) -> None:
        self._routes.extend(other._routes)

    async def dispatch(self, req: Request) -> Response | StreamResponse | Hijack:
        path = req.path
        m = _VERSION_PREFIX.match(path)
        if m:
            version, path = m.group(1), m.group(2)
            if version_lt(version, MIN_API_VERSION):
                raise InvalidArgument(
                    f"client version {version} is too old. Minimum supported API version is "
                    f"{MIN_API_VERSION}, please upgrade your client to a newer version"
                )
            if version_lt(API_VERSION, version):
                raise InvalidArgument(
                    f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
                )
            req.api_version = version
        else:
            req.api_version = API_VERSION
        path = path.rstrip("/") or "/"
        allowed = False
        for method, rx, handler in self._routes:
            match = rx.match(path)
            if match is None:
                continue
            if method != req.method:
                allowed = True
                continue
            req.params = match.groupdict()
            return await handler(req)
        if allowed:
            raise NotFound("page not found")
        raise NotFound("page not found")


def api_at_least(req: Request, version: str) -> bool:
    return not version_lt(req.api_version, version)
