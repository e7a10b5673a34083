"""Address management: subnets for new networks from Docker's default pools (skipping what the
host routes already use), and addresses within a subnet."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ballena.errors import Conflict, InvalidArgument

# Docker's default address pools: 172.17-31.0.0/16, then 192.168.x.0/20.
DEFAULT_POOLS = [ipaddress.ip_network(f"172.{i}.0.0/16") for i in range(17, 32)] + [
    ipaddress.ip_network(f"192.168.{i}.0/20") for i in range(0, 256, 16)
]


def choose_subnet(
    used: Iterable[str], *, pools: Iterable[ipaddress.IPv4Network] | None = None
) -> ipaddress.IPv4Network:
    """The first pool subnet overlapping nothing in ``used`` (host routes and our networks)."""
    taken = [ipaddress.ip_network(u, strict=False) for u in used if u]
    for net in pools or DEFAULT_POOLS:
        if not any(net.overlaps(t) for t in taken if t.version == 4):
            return net  # type: ignore[return-value]
    raise Conflict(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )


def parse_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {subnet}: {e}") from None
    if net.version != 4:
        raise InvalidArgument("IPv6 subnets are not supported yet")
    return net  # type: ignore[return-value]


def allocate(subnet: str, gateway: str, used: Iterable[str], *, ip_range: str = "", wanted: str = "") -> str:
    """An unused address in the subnet (or the ``wanted`` one). Raises Conflict when full/taken."""
    net = parse_subnet(subnet)
    taken = set(used) | {gateway}
    if wanted:
        try:
            addr = ipaddress.ip_address(wanted)
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address: {wanted}") from None
        if addr not in net:
            raise InvalidArgument(f"invalid address {wanted}: It does not belong to any of this network's subnets")
        if wanted in taken:
            raise Conflict("Address already in use")
        return wanted
    pool = parse_subnet(ip_range) if ip_range else net
    for host in pool.hosts():
        text = str(host)
        if text not in taken and host != net.network_address and host != net.broadcast_address:
            return text
    raise Conflict(f"no available IPv4 addresses on this network's address pools: {subnet}")


def mac_for(ip: str) -> str:
    """Docker's MAC for an address: 02:42 followed by the four octets."""
    octets = [int(x) for x in ip.split(".")]
    return "02:42:" + ":".join(f"{o:02x}" for o in octets)
