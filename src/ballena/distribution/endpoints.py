"""Where a registry is and how to talk to it: scheme, TLS trust, mirrors.

- ``docker.io`` is served by ``registry-1.docker.io`` (and its ``registry-mirrors``, tried
  first for pulls).
- TLS is verified with the system's CAs plus the registry's own directory under the certs
  dir, as Docker's ``/etc/docker/certs.d/<host:port>/``: ``*.crt`` are CAs, ``*.cert`` with
  its ``*.key`` a client certificate.
- ``insecure-registries`` (names or CIDRs) may use plain HTTP and unverified TLS, as Docker.
- Loopback registries (127.0.0.0/8, ::1, localhost) may use plain HTTP without being listed,
  as Docker allows; unlike Docker, when such a registry does speak TLS its certificate is
  still verified unless it is listed as insecure. A local registry with a broken certificate
  is a mistake worth seeing, and plain-HTTP local registries keep working.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

DOCKER_IO = "docker.io"
DOCKER_IO_REGISTRY = "registry-1.docker.io"
DOCKER_IO_INDEX = "https://index.docker.io/v1/"  # the key Docker writes docker.io logins under


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One way to reach a registry: ``base`` is ``scheme://host[:port]``."""

    host: str  # as in references: "127.0.0.1:5000", "registry-1.docker.io"
    scheme: str  # "https" or "http"
    verify: bool = True
    mirror: bool = False

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"


def _host_only(hostport: str) -> str:
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def is_loopback(hostport: str) -> bool:
    host = _host_only(hostport)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Registries:
    """The daemon's registry settings: insecure registries, mirrors and the certs dir."""

    def __init__(
        self, *, insecure: tuple[str, ...] = (), mirrors: tuple[str, ...] = (), certs_dir: Path | None = None
    ) -> None:
        self.insecure_names = {x for x in insecure if "/" not in x}
        self.insecure_nets = []
        for x in insecure:
            if "/" in x:
                try:
                    self.insecure_nets.append(ipaddress.ip_network(x, strict=False))
                except ValueError:
                    self.insecure_names.add(x)
        self.mirrors = tuple(m.rstrip("/") for m in mirrors)
        self.certs_dir = certs_dir
        self._contexts: dict[tuple[str, bool, tuple[tuple[str, float], ...]], ssl.SSLContext] = {}
        self._plain_http: dict[str, bool] = {}
        self._lock = threading.Lock()

    def registry_host(self, domain: str) -> str:
        return DOCKER_IO_REGISTRY if domain == DOCKER_IO else domain

    def is_insecure(self, hostport: str) -> bool:
        if hostport in self.insecure_names or _host_only(hostport) in self.insecure_names:
            return True
        try:
            ip = ipaddress.ip_address(_host_only(hostport))
        except ValueError:
            return False
        return any(ip in net for net in self.insecure_nets)

    def may_use_http(self, hostport: str) -> bool:
        return self.is_insecure(hostport) or is_loopback(hostport)

    def endpoints(self, domain: str, *, for_push: bool = False) -> list[Endpoint]:
        """Endpoints to try in order: mirrors (pulls from docker.io), then the registry."""
        out: list[Endpoint] = []
        if domain == DOCKER_IO and not for_push:
            for m in self.mirrors:
                scheme, _, host = m.partition("://")
                if not host:
                    scheme, host = "https", m
                out.append(Endpoint(host=host, scheme=scheme, verify=not self.is_insecure(host), mirror=True))
        host = self.registry_host(domain)
        out.append(Endpoint(host=host, scheme="https", verify=not self.is_insecure(host)))
        return out

    def remember_plain_http(self, host: str) -> None:
        with self._lock:
            self._plain_http[host] = True

    def known_plain_http(self, host: str) -> bool:
        return self._plain_http.get(host, False)

    def ssl_context(self, host: str, *, verify: bool) -> ssl.SSLContext:
        """The TLS settings for ``host``: system CAs, the certs dir's CAs and client cert."""
        directory = self.certs_dir / host if self.certs_dir else None
        # Docker reads the directory for every pull and push: a CA dropped in works at once.
        files = _listing(directory)
        key = (host, verify, files)
        with self._lock:
            ctx = self._contexts.get(key)
            if ctx is not None:
                return ctx
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if directory is not None:
            for entry, _mtime in files:
                path = directory / entry
                if entry.endswith(".crt"):
                    ctx.load_verify_locations(cafile=str(path))
                elif entry.endswith(".cert"):
                    keyfile = path.with_suffix(".key")
                    ctx.load_cert_chain(str(path), str(keyfile) if keyfile.exists() else None)
        with self._lock:
            self._contexts[key] = ctx
        return ctx


def _listing(directory: Path | None) -> tuple[tuple[str, float], ...]:
    if directory is None:
        return ()
    try:
        return tuple(sorted((e.name, e.stat().st_mtime) for e in os.scandir(directory) if e.is_file()))
    except OSError:
        return ()
