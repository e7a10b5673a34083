"""Published ports (``-p``): the host port is bound when the container starts (so a port in
use fails the start before anything runs, in Docker's words), then served two ways: a
userland proxy on the bound socket for the host's own addresses, and a DNAT rule in our
nftables table for traffic arriving from elsewhere.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ballena.errors import Conflict
from ballena.network.nft import PortRule
from ballena.network.portproxy import Binding, PortProxy

__all__ = ["PortPublisher", "PortRequest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortRequest:
    """One ``-p``: the container's port and where on the host (0: any free port)."""

    proto: str
    container_port: int
    host_ip: str = ""
    host_port: int = 0


@dataclass
class _Published:
    binding: Binding
    bridge: str


class PortPublisher:
    def __init__(self, proxy: PortProxy | None = None) -> None:
        self.proxy = proxy or PortProxy()
        self._reserved: dict[str, list[tuple[Binding, socket.socket]]] = {}
        self._published: dict[str, list[_Published]] = {}

    def reserve(self, cid: str, name: str, requests: list[PortRequest], container_ip: str) -> list[Binding]:
        """Bind every requested host port now; the bindings with the ports the kernel chose.
        Raises Conflict (and binds nothing) when one cannot be bound."""
        reserved: list[tuple[Binding, socket.socket]] = []
        try:
            for r in requests:
                try:
                    sock = self.proxy.reserve(r.proto, r.host_ip, r.host_port)
                except Conflict as e:
                    raise Conflict(
                        f"driver failed programming external connectivity on endpoint {name} ({cid[:12]}): {e.message}"
                    ) from None
                b = Binding(
                    proto=r.proto,
                    host_ip=r.host_ip,
                    host_port=sock.getsockname()[1],
                    container_ip=container_ip,
                    container_port=r.container_port,
                )
                reserved.append((b, sock))
        except BaseException:
            for _b, s in reserved:
                s.close()
            raise
        self._reserved[cid] = reserved
        return [b for b, _ in reserved]

    async def publish(self, cid: str, bridge: str) -> bool:
        """Serve what ``reserve`` bound for the container (now running on ``bridge``). Returns
        whether there was anything (the firewall then needs rewriting)."""
        reserved = self._reserved.pop(cid, [])
        for b, sock in reserved:
            await self.proxy.start(b, sock)
            self._published.setdefault(cid, []).append(_Published(b, bridge))
        return bool(reserved)

    async def restore(self, cid: str, bindings: list[Binding], bridge: str) -> None:
        """After a daemon restart: bind and serve a running container's ports again."""
        for b in bindings:
            sock = self.proxy.reserve(b.proto, b.host_ip, b.host_port)
            await self.proxy.start(b, sock)
            self._published.setdefault(cid, []).append(_Published(b, bridge))

    def release(self, cid: str) -> bool:
        """Stop serving (and unbind) the container's ports. Returns whether it had any."""
        for _b, s in self._reserved.pop(cid, []):
            s.close()
        published = self._published.pop(cid, [])
        for p in published:
            self.proxy.stop(p.binding.proto, p.binding.host_ip, p.binding.host_port)
        return bool(published)

    def rules(self) -> list[PortRule]:
        return [
            PortRule(
                proto=p.binding.proto,
                host_ip=p.binding.host_ip,
                host_port=p.binding.host_port,
                container_ip=p.binding.container_ip,
                container_port=p.binding.container_port,
                bridge=p.bridge,
            )
            for items in self._published.values()
            for p in items
        ]

    def stop_all(self) -> None:
        for cid in list(self._reserved):
            for _b, s in self._reserved.pop(cid):
                s.close()
        self.proxy.stop_all()
        self._published.clear()
