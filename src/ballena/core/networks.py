"""Networks and endpoints (libnetwork's vocabulary): a *network* is a bridge with address pools;
an *endpoint* is one container's interface on it, with the addresses reserved for it; a
container's *sandbox* is its network namespace, holding its endpoints.

An endpoint exists from the container's start (its addresses are reserved then, in the
metadata database, so no two containers ever get one address) to its stop or disconnect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ballena.pkg.records import tag

__all__ = ["Endpoint", "IPAMConfig", "IPAMPool", "Network", "NetworkCreate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IPAMPool:
    """One of a network's address pools (Docker's ``IPAM.Config[]`` entry)."""

    __json_case__: ClassVar[str] = "pascal"
    subnet: str = tag(default="", omitempty=True)
    ip_range: str = tag("IPRange", default="", omitempty=True)
    gateway: str = tag(default="", omitempty=True)
    aux_addresses: Mapping[str, str] | None = tag("AuxiliaryAddresses", default=None, omitempty=True)

    @property
    def version(self) -> int:
        return ipaddress.ip_network(self.subnet, strict=False).version if self.subnet else 4


@dataclass(frozen=True, slots=True, kw_only=True)
class IPAMConfig:
    __json_case__: ClassVar[str] = "pascal"
    driver: str = tag(default="")
    config: tuple[IPAMPool, ...] | None = tag(default=None)
    options: Mapping[str, str] | None = tag(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkCreate:
    """The body of ``POST /networks/create``."""

    __json_case__: ClassVar[str] = "pascal"
    __go_name__: ClassVar[str] = "CreateRequest"
    name: str = tag(default="")
    check_duplicate: bool = tag(default=False)
    driver: str = tag(default="")
    scope: str = tag(default="")
    internal: bool = tag(default=False)
    attachable: bool = tag(default=False)
    ingress: bool = tag(default=False)
    config_only: bool = tag(default=False)
    ipam: IPAMConfig | None = tag("IPAM", default=None)
    enable_ipv4: bool | None = tag("EnableIPv4", default=None)
    enable_ipv6: bool | None = tag("EnableIPv6", default=None)
    options: Mapping[str, str] | None = tag(default=None)
    labels: Mapping[str, str] | None = tag(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created_ns: int
    pools: tuple[IPAMPool, ...] = ()
    pools_configured: bool = False  # the client gave the pools (else the daemon chose them)
    bridge: str = ""  # the host interface
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    ipam_options: Mapping[str, str] = field(default_factory=dict)
    builtin: bool = False  # bridge, host, none: made by the daemon, never removed
    bridge_owned: bool = True  # the daemon made the bridge (else the host had it: never deleted)

    @property
    def scope(self) -> str:
        return "local"

    @property
    def user_defined(self) -> bool:
        return self.driver == "bridge" and not self.builtin

    def pool(self, version: int) -> IPAMPool | None:
        """The first pool of that IP version."""
        return next((p for p in self.pools if p.subnet and p.version == version), None)

    @property
    def subnet(self) -> str:
        p = self.pool(4)
        return p.subnet if p else ""

    @property
    def gateway(self) -> str:
        p = self.pool(4)
        return p.gateway if p else ""

    @property
    def gateway6(self) -> str:
        p = self.pool(6)
        return p.gateway if p else ""

    def option(self, key: str, default: str = "") -> str:
        return str(self.options.get(f"com.docker.network.{key}", default))

    @property
    def icc(self) -> bool:
        """Containers of this network may talk to each other (``enable_icc``)."""
        return self.option("bridge.enable_icc", "true").lower() != "false"

    @property
    def masquerade(self) -> bool:
        return self.option("bridge.enable_ip_masquerade", "true").lower() != "false"

    @property
    def mtu(self) -> int:
        try:
            return int(self.option("driver.mtu", "0"))
        except ValueError:
            return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One container's interface on one network, as reserved in the metadata database."""

    network_id: str
    container_id: str
    container_name: str
    endpoint_id: str
    ipv4: str = ""  # without prefix length
    ipv6: str = ""
    mac: str = ""
    aliases: tuple[str, ...] = ()  # network-scoped aliases, resolved by the embedded DNS
    links: tuple[str, ...] = ()  # "container:alias" this container may resolve by alias

    @property
    def dns_names(self) -> tuple[str, ...]:
        """moby's buildEndpointDNSNames: the name, the aliases, the short ID, without repeats."""
        return tuple(dict.fromkeys((self.container_name, *self.aliases, self.container_id[:12])))
