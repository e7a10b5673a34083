"""The bridge driver: the host's side of bridge networks.

A network is a Linux bridge holding its gateways' addresses; a container joins it through a
veth pair whose far end, in the container's namespace (its *sandbox*), carries the endpoint's
addresses and the default routes. The firewall (``nft``) is rewritten whole from the
networks and the published ports after every change, in one transaction.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from ballena.core.networks import Network
from ballena.network.dns import EMBEDDED_ADDRESS
from ballena.network.netlink import Netlink
from ballena.network.nft import BridgeRules, Firewall, PortRule

__all__ = ["BridgeDriver", "Sandbox", "Wiring"]


@dataclass
class Sandbox:
    """A running container's network namespace, as the daemon follows it."""

    pid: int  # a process in it (the container's init)
    host_ifnames: dict[str, str] = field(default_factory=dict)  # network ID -> host end of its veth
    ifnames: dict[str, str] = field(default_factory=dict)  # network ID -> interface in the container
    dns: bool = False  # the embedded DNS server listens in it
    upstreams: tuple[str, ...] = ()  # where its DNS questions go when no container answers


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    """One endpoint's interface, as the driver makes it."""

    host_ifname: str
    ifname: str
    mac: str
    addresses: tuple[tuple[str, int], ...]  # (address, prefix length)
    gateways: tuple[str, ...]  # default routes through these (the first network only)
    with_dns: bool  # bind the embedded DNS server's sockets in the same visit


class BridgeDriver:
    def __init__(self, *, netlink: Netlink, firewall: Firewall) -> None:
        self.netlink = netlink
        self.firewall = firewall

    # -- bridges ---------------------------------------------------------------------------------

    async def ensure(self, n: Network) -> None:
        """The network's bridge exists with its gateways' addresses, MTU, and is up."""
        addresses = [(p.gateway, ipaddress.ip_network(p.subnet).prefixlen) for p in n.pools if p.subnet and p.gateway]
        await self.netlink.call(self.netlink.ensure_bridge, n.bridge, addresses, n.mtu)

    async def delete(self, n: Network) -> None:
        """Remove the network's bridge, unless it was there before the network (then it is
        the host's, as with dockerd)."""
        if n.bridge_owned:
            await self.netlink.call(self.netlink.delete_link, n.bridge)

    async def existing_kind(self, bridge: str) -> str | None:
        """The kind of an interface already named ``bridge`` (None: there is none)."""
        return await self.netlink.call(self.netlink.link_kind, bridge)

    async def address_of(self, bridge: str) -> str | None:
        """The IPv4 address (``a.b.c.d/len``) a bridge already has, if it exists."""
        return await self.netlink.call(self.netlink.ipv4_of, bridge)

    async def host_routes(self) -> list[str]:
        """Every IPv4 destination the host reaches directly: new subnets must avoid them."""
        return await self.netlink.call(self.netlink.host_routes)

    async def apply_rules(self, networks: Iterable[Network], ports: Iterable[PortRule]) -> None:
        bridges = [
            BridgeRules(ifname=n.bridge, subnet=n.subnet, internal=n.internal, icc=n.icc, masquerade=n.masquerade)
            for n in networks
            if n.driver == "bridge" and n.subnet
        ]
        await asyncio.to_thread(self.firewall.apply, bridges, list(ports))

    # -- a sandbox's interfaces -----------------------------------------------------------------

    async def wire(self, sandbox: Sandbox, n: Network, w: Wiring) -> tuple[socket.socket, socket.socket] | None:
        """Give the sandbox an interface on ``n``; with ``w.with_dns`` also return the embedded
        DNS server's sockets, bound inside it during the same visit."""
        dns = await self.netlink.call(
            lambda: self.netlink.attach(
                pid=sandbox.pid,
                bridge=n.bridge,
                host_ifname=w.host_ifname,
                addresses=list(w.addresses),
                gateways=list(w.gateways),
                mac=w.mac,
                ifname=w.ifname,
                mtu=n.mtu,
                dns_address=EMBEDDED_ADDRESS if w.with_dns else None,
            )
        )
        sandbox.host_ifnames[n.id] = w.host_ifname
        sandbox.ifnames[n.id] = w.ifname
        return dns

    async def unwire(self, sandbox: Sandbox, network_id: str) -> None:
        """Take the sandbox's interface on a network away (both ends of the veth)."""
        ifname = sandbox.ifnames.pop(network_id, "")
        host_ifname = sandbox.host_ifnames.pop(network_id, "")
        if ifname:
            try:
                await self.netlink.call(self.netlink.detach_in, sandbox.pid, ifname)
            except OSError:
                pass
        if host_ifname:
            await self.netlink.call(self.netlink.delete_link, host_ifname)

    async def drop_host_ends(self, sandbox: Sandbox) -> None:
        """Delete the host ends of every veth: needed only when the namespace outlives its
        container (another container shares it), since the kernel otherwise removes both
        ends with the namespace."""
        for host_ifname in sandbox.host_ifnames.values():
            await self.netlink.call(self.netlink.delete_link, host_ifname)

    async def next_ifname(self, sandbox: Sandbox) -> str:
        return await self.netlink.call(self.netlink.next_ifname, sandbox.pid)

    async def dns_sockets(self, sandbox: Sandbox) -> tuple[socket.socket, socket.socket]:
        return await self.netlink.call(self.netlink.dns_sockets_in, sandbox.pid, EMBEDDED_ADDRESS)

    def close(self) -> None:
        self.netlink.close()
