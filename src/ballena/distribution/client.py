"""Blocking HTTP to one registry, for one repository, with its authentication (run it on worker
threads; layers travel in parallel, each thread on its own kept-alive connection).

``RegistryClient.ping`` finds the endpoint (mirror or registry, HTTPS or, where allowed, plain
HTTP) and the registry's challenge; every request then carries the right ``Authorization``
and is retried once with a new token when the registry asks for another scope. Blob requests
follow redirects (registries send them to storage), dropping credentials on the way out.
Failures become Ballena errors with Docker's wording.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from ballena.distribution.auth import Challenge, Credentials, TokenCache, parse_challenge
from ballena.distribution.endpoints import Endpoint, Registries
from ballena.errors import (
    BallenaError,
    Forbidden,
    InvalidArgument,
    NotFound,
    SystemFailure,
    Unauthorized,
    Unavailable,
)

TIMEOUT = 30.0  # connect and per-read; a registry that stops answering fails, never hangs
_CHUNK = 1 << 20


class Response:
    def __init__(self, raw: http.client.HTTPResponse, url: str, conn: http.client.HTTPConnection) -> None:
        self.raw = raw
        self.status = raw.status
        self.url = url
        self.headers = {k.lower(): v for k, v in raw.getheaders()}
        self._conn = conn

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def read(self) -> bytes:
        try:
            return self.raw.read()
        except (OSError, http.client.HTTPException) as e:
            raise Unavailable(f"error reading from {self.url}: {e}") from None

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        while True:
            try:
                data = self.raw.read(size)
            except (OSError, http.client.HTTPException) as e:
                raise Unavailable(f"error reading from {self.url}: {e}") from None
            if not data:
                return
            yield data

    def close(self) -> None:
        self.raw.close()


def registry_error(status: int, body: bytes) -> str:
    """The registry's ``{"errors": [...]}`` as Docker prints it (``manifest unknown: ...``)."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    parts = []
    for e in errors:
        code = str(e.get("code") or "").lower().replace("_", " ")
        message = str(e.get("message") or "")
        parts.append(f"{code}: {message}" if code else message)
    if parts:
        return "; ".join(parts)
    return f"{status} {http.client.responses.get(status, '')}".strip()


def _method_word(method: str) -> str:
    return {"GET": "Get", "HEAD": "Head", "POST": "Post", "PUT": "Put", "PATCH": "Patch", "DELETE": "Delete"}.get(
        method, method
    )


def _transport_error(method: str, url: str, e: BaseException) -> BallenaError:
    """Go's net/http wording, which is what people search for."""
    where = f'{_method_word(method)} "{url}"'
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(e, ssl.SSLCertVerificationError):
        detail = "x509: certificate signed by unknown authority"
        if "hostname" in str(e) or "IP address mismatch" in str(e):
            detail = f"x509: certificate is not valid for {urllib.parse.urlsplit(url).hostname}"
        elif "expired" in str(e):
            detail = "x509: certificate has expired or is not yet valid"
        return Unavailable(f"{where}: tls: failed to verify certificate: {detail}")
    if isinstance(e, ConnectionRefusedError):
        return Unavailable(f"{where}: dial tcp {host}: connect: connection refused")
    if isinstance(e, socket.timeout | TimeoutError):
        return Unavailable(f"{where}: dial tcp {host}: i/o timeout")
    if isinstance(e, socket.gaierror):
        return Unavailable(f"{where}: dial tcp: lookup {urllib.parse.urlsplit(url).hostname}: no such host")
    return Unavailable(f"{where}: {e}")


def _speaks_plain_http(e: BaseException) -> bool:
    """The TLS handshake met a plain-HTTP server (what Docker's fallback looks for)."""
    text = str(e).lower()
    return isinstance(e, ssl.SSLError) and (
        "wrong version number" in text or "http request" in text or "record layer failure" in text
    )


class RegistryClient:
    """Requests to one registry about one repository (``repo`` may be empty for /v2/)."""

    def __init__(
        self,
        registries: Registries,
        domain: str,
        repo: str,
        *,
        credentials: Credentials,
        tokens: TokenCache,
        actions: tuple[str, ...] = ("pull",),
        for_push: bool = False,
        extra_scopes: tuple[str, ...] = (),
    ) -> None:
        self.registries = registries
        self.domain = domain
        self.repo = repo
        self.credentials = credentials
        self.tokens = tokens
        self.actions = actions
        self.extra_scopes = extra_scopes
        self.for_push = for_push
        self.endpoint: Endpoint | None = None
        self.challenge: Challenge | None = None
        self._local = threading.local()
        self._ping_lock = threading.Lock()

    # -- connections ------------------------------------------------------------------------------

    def _conn(self, scheme: str, host: str, verify: bool) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = getattr(self._local, "pool", None) or {}
        self._local.pool = pool
        conn = pool.get((scheme, host))
        if conn is None:
            if scheme == "https":
                ctx = self.registries.ssl_context(host, verify=verify)
                conn = http.client.HTTPSConnection(host, timeout=TIMEOUT, context=ctx)
            else:
                conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
            pool[(scheme, host)] = conn
        return conn

    def _drop(self, scheme: str, host: str) -> None:
        pool = getattr(self._local, "pool", None) or {}
        conn = pool.pop((scheme, host), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in (getattr(self._local, "pool", None) or {}).values():
            conn.close()
        self._local.pool = {}

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | BinaryIO | Iterator[bytes] | None,
        verify: bool,
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            conn = self._conn(parts.scheme, parts.netloc, verify)
            try:
                if body is not None and not isinstance(body, bytes | bytearray):
                    conn.putrequest(method, target, skip_accept_encoding=True)
                    for k, v in headers.items():
                        conn.putheader(k, v)
                    chunked = "Content-Length" not in headers
                    if chunked:
                        conn.putheader("Transfer-Encoding", "chunked")
                    conn.endheaders()
                    chunks = iter(body.read, b"") if hasattr(body, "read") else body  # type: ignore[union-attr]
                    for chunk in chunks:
                        if chunk:
                            conn.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    if chunked:
                        conn.send(b"0\r\n\r\n")
                else:
                    conn.request(method, target, body=body, headers=dict(headers))
                return Response(conn.getresponse(), url, conn)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self._drop(parts.scheme, parts.netloc)
                # A kept-alive connection the server closed meanwhile: once more, fresh.
                if attempt or (body is not None and not isinstance(body, bytes | bytearray)):
                    raise _transport_error(method, url, e) from None
            except (OSError, http.client.HTTPException) as e:
                self._drop(parts.scheme, parts.netloc)
                raise e
        raise AssertionError("unreachable")

    # -- the endpoint and its challenge ------------------------------------------------------------

    def ping(self) -> Endpoint:
        """Find a working endpoint (``GET /v2/``) and learn how it authenticates."""
        with self._ping_lock:
            if self.endpoint is not None:
                return self.endpoint
            errors: list[BallenaError] = []
            for ep in self.registries.endpoints(self.domain, for_push=self.for_push):
                try:
                    self._ping(ep)
                    return self.endpoint  # type: ignore[return-value]
                except BallenaError as e:
                    errors.append(e)
                    if not ep.mirror:
                        raise
            raise errors[-1]

    def _ping(self, ep: Endpoint) -> None:
        if ep.scheme == "https" and self.registries.known_plain_http(ep.host):
            ep = Endpoint(host=ep.host, scheme="http", verify=False, mirror=ep.mirror)
        url = f"{ep.base}/v2/"
        try:
            resp = self._send("GET", url, {"User-Agent": USER_AGENT}, None, ep.verify)
        except (OSError, http.client.HTTPException) as e:
            if ep.scheme == "https" and self.registries.may_use_http(ep.host) and _speaks_plain_http(e):
                self.registries.remember_plain_http(ep.host)
                self._ping(Endpoint(host=ep.host, scheme="http", verify=False, mirror=ep.mirror))
                return
            raise _transport_error("GET", url, e) from None
        resp.read()
        if resp.status == 401:
            self.challenge = parse_challenge(resp.header("www-authenticate"))
        elif resp.status not in (200, 404):  # some registries answer 404 on /v2/ but work
            raise Unavailable(f'Get "{url}": unexpected status {resp.status}')
        self.endpoint = ep

    # -- authorization --------------------------------------------------------------------------

    def _scopes(self, extra: str | None = None) -> list[str]:
        scopes = [f"repository:{self.repo}:{','.join(self.actions)}"] if self.repo else []
        scopes += list(self.extra_scopes)
        if extra and extra not in scopes:
            scopes.append(extra)
        return scopes

    def _authorization(self, *, force_scope: str | None = None, refresh: bool = False) -> str | None:
        ch = self.challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            if self.credentials.empty or not self.credentials.username:
                raise Unauthorized("no basic auth credentials")
            return self.credentials.basic()
        if ch.scheme != "bearer":
            return None
        if self.credentials.registry_token:
            return f"Bearer {self.credentials.registry_token}"
        realm, service = ch.params.get("realm", ""), ch.params.get("service", "")
        scopes = self._scopes(force_scope)
        key = " ".join(scopes)
        user = self.credentials.username or self.credentials.identity_token[:16]
        token = None if refresh else self.tokens.get(realm, service, key, user)
        if token is None:
            token, expires = self._fetch_token(realm, service, scopes)
            self.tokens.put(realm, service, key, user, token, expires)
        return f"Bearer {token}"

    def _fetch_token(self, realm: str, service: str, scopes: list[str]) -> tuple[str, int]:
        if not realm:
            raise Unauthorized("the registry's bearer challenge has no realm")
        creds = self.credentials
        query: list[tuple[str, str]] = [("service", service)] if service else []
        query += [("scope", s) for s in scopes]
        headers = {"User-Agent": USER_AGENT}
        if creds.identity_token:
            form = urllib.parse.urlencode(
                [("grant_type", "refresh_token"), ("refresh_token", creds.identity_token), ("client_id", "ballena")]
                + query
            ).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            method, url, body = "POST", realm, form
        else:
            if creds.username:
                query.append(("account", creds.username))
                headers["Authorization"] = creds.basic()
            method, url, body = "GET", realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query), None
        verify = not self.registries.is_insecure(urllib.parse.urlsplit(url).netloc)
        try:
            resp = self._send(method, url, headers, body, verify)
        except (OSError, http.client.HTTPException) as e:
            raise _transport_error(method, url, e) from None
        data = resp.read()
        if resp.status in (401, 403):
            raise Unauthorized(
                f'{_method_word(method)} "{url.split("?")[0]}": unauthorized: incorrect username or password'
            )
        if resp.status >= 300:
            raise Unauthorized(f"token service {realm} answered {resp.status}: {registry_error(resp.status, data)}")
        try:
            doc = json.loads(data)
        except ValueError:
            raise Unauthorized(f"token service {realm} sent no JSON") from None
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise Unauthorized(f"token service {realm} sent no token")
        return str(token), int(doc.get("expires_in") or 60)

    # -- requests -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        ep = self.ping()
        return f"{ep.base}/v2/{self.repo}/{path}" if self.repo else f"{ep.base}/v2/{path}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | BinaryIO | Iterator[bytes] | None = None,
        follow: bool = False,
    ) -> Response:
        """Send with authorization; on a 401 asking for another scope (or an expired token),
        once more with a fresh token. Raises on transport errors, not on HTTP statuses."""
        ep = self.ping()
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        authz = self._authorization()
        for attempt in (0, 1):
            if authz:
                hdrs["Authorization"] = authz
            try:
                resp = self._send(method, url, hdrs, body, ep.verify)
            except (OSError, http.client.HTTPException) as e:
                raise _transport_error(method, url, e) from None
            if resp.status == 401 and attempt == 0 and (body is None or isinstance(body, bytes | bytearray)):
                resp.read()
                ch = parse_challenge(resp.header("www-authenticate"))
                if ch is not None:
                    self.challenge = ch
                authz = self._authorization(force_scope=ch.params.get("scope") if ch else None, refresh=True)
                continue
            break
        if follow:
            hops = 0
            while resp.status in (301, 302, 303, 307, 308) and hops < 5:
                resp.read()
                target = urllib.parse.urljoin(url, resp.header("location"))
                same = urllib.parse.urlsplit(target).netloc == urllib.parse.urlsplit(url).netloc
                next_headers = {k: v for k, v in hdrs.items() if same or k != "Authorization"}
                try:
                    resp = self._send(method, target, next_headers, None, True if not same else ep.verify)
                except (OSError, http.client.HTTPException) as e:
                    raise _transport_error(method, target, e) from None
                url, hops = target, hops + 1
        return resp

    def list_tags(self) -> list[str]:
        """Every tag of the repository, following the registry's ``Link`` pagination."""
        tags: list[str] = []
        path = "tags/list?n=1000"
        while path:
            resp = self.check(self.request("GET", path), f"listing tags of {self.domain}/{self.repo}")
            tags += list(json.loads(resp.read() or b"{}").get("tags") or [])
            link = resp.header("link")
            path = ""
            if link and 'rel="next"' in link:
                path = urllib.parse.urljoin(self.url(""), link.split(";")[0].strip().strip("<>"))
        return tags

    def check(self, resp: Response, what: str, ok: tuple[int, ...] = (200,)) -> Response:
        """Raise the registry's error for a status not in ``ok``, as Docker words it."""
        if resp.status in ok:
            return resp
        body = resp.read() if resp.raw.length != 0 else b""
        message = registry_error(resp.status, body)
        if resp.status == 401:
            raise Unauthorized(f"{what}: {message}")
        if resp.status == 403:
            raise Forbidden(f"{what}: {message}")
        if resp.status == 404:
            raise NotFound(f"{what}: {message}")
        if resp.status == 429:
            raise Unavailable(_rate_limited(self.domain, resp, message))
        if resp.status == 400:
            raise InvalidArgument(f"{what}: {message}")
        raise SystemFailure(f"{what}: {message}")


def _rate_limited(domain: str, resp: Response, message: str) -> str:
    limit = resp.header("ratelimit-limit").split(";")[0]
    remaining = resp.header("ratelimit-remaining").split(";")[0]
    counts = f" (limit {limit}, remaining {remaining or 0})" if limit else ""
    return (
        f"{message}{counts}: {domain} is limiting how many pulls you make. "
        f"Log in to raise your limit (ballena login{'' if domain == 'docker.io' else ' ' + domain}), "
        "or wait and try again"
    )


USER_AGENT = "ballena/0.1 (docker-compatible)"
