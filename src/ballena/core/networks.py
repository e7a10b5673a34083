"""Networks and endpoints (libnetwork's vocabulary): a network is a bridge with a subnet; an
endpoint is one container's interface on it; a container's sandbox is its network namespace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created_ns: int
    subnet: str = ""  # 172.18.0.0/16
    gateway: str = ""
    ip_range: str = ""
    bridge: str = ""  # the host interface
    internal: bool = False
    attachable: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    builtin: bool = False  # bridge, host, none: made by the daemon, never removed

    @property
    def scope(self) -> str:
        return "local"

    @property
    def user_defined(self) -> bool:
        return self.driver == "bridge" and not self.builtin


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A container on a network, as ``NetworkSettings.Networks[name]`` shows it."""

    network_id: str
    network_name: str
    endpoint_id: str
    ip: str
    prefix_len: int
    gateway: str
    mac: str
    host_ifname: str = ""
    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
