"""Address management: subnets for new networks from Docker's default pools (skipping what the
host routes already use), the checks of a pool the client configured, and the choice of an
address within a pool. Pure: the reservation itself is the endpoints table's
(``stores.networks``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ballena.core.networks import IPAMPool
from ballena.errors import Conflict, Forbidden, InvalidArgument

__all__ = ["DEFAULT_POOLS", "allocate", "check_pools", "choose_subnet", "mac_for", "parse_subnet"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
DEFAULT_POOLS = [ipaddress.IPv4Network(f"172.{i}.0.0/16") for i in range(17, 32)] + [
    ipaddress.IPv4Network(f"192.168.{i}.0/20") for i in range(0, 256, 16)
]


def choose_subnet(
    used: Iterable[str], *, pools: Iterable[ipaddress.IPv4Network] | None = None
) -> ipaddress.IPv4Network:
    """The first pool subnet overlapping nothing in ``used`` (host routes and our networks).
    Raises Conflict with dockerd's message when every pool is taken."""
    taken = [ipaddress.ip_network(u, strict=False) for u in used if u]
    for net in pools or DEFAULT_POOLS:
        if not any(net.overlaps(t) for t in taken if t.version == 4):  # type: ignore[arg-type]
            return net
    raise Conflict(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )


def parse_subnet(subnet: str) -> IPNetwork:
    """Raises InvalidArgument for what is not a subnet in canonical form."""
    try:
        return ipaddress.ip_network(subnet, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {subnet}: {e}") from None


def _address(text: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None


def check_pools(pools: Iterable[IPAMPool], others: Iterable[str]) -> tuple[IPAMPool, ...]:
    """The configured pools of a new network, checked (subnet, range, gateway and auxiliary
    addresses consistent; no overlap with another network's) and with their gateway filled
    in (the subnet's first address). Raises InvalidArgument or Forbidden in dockerd's words."""
    taken = [ipaddress.ip_network(o, strict=False) for o in others if o]
    out: list[IPAMPool] = []
    seen: list[IPNetwork] = []
    for p in pools:
        if not p.subnet:
            if p.ip_range or p.gateway:
                raise InvalidArgument("ipam config: a gateway or ip-range needs a subnet")
            continue
        net = parse_subnet(p.subnet)
        for t in [*taken, *seen]:
            if t.version == net.version and net.overlaps(t):  # type: ignore[arg-type]
                raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
        seen.append(net)
        if p.ip_range:
            rng = parse_subnet(p.ip_range)
            if rng.version != net.version or not rng.subnet_of(net):  # type: ignore[arg-type]
                raise InvalidArgument(f"invalid ip-range {p.ip_range}: it must be a subnet of {p.subnet}")
        gateway = p.gateway
        if gateway:
            if _address(gateway, "gateway") not in net:
                raise InvalidArgument(f"invalid gateway {gateway}: it is not in subnet {p.subnet}")
        else:
            gateway = str(next(net.hosts()))
        for name, aux in (p.aux_addresses or {}).items():
            if _address(aux, "auxiliary address") not in net:
                raise InvalidArgument(f"invalid auxiliary address {name}={aux}: it is not in subnet {p.subnet}")
        out.append(IPAMPool(subnet=str(net), ip_range=p.ip_range, gateway=gateway, aux_addresses=p.aux_addresses))
    return tuple(out)


def allocate(pool: IPAMPool, held: Iterable[str], *, wanted: str = "") -> str:
    """An address of ``pool`` nobody holds (the gateway and auxiliary addresses are held by
    the network), or the ``wanted`` one. Raises InvalidArgument for a wanted address outside
    the pool's subnet, Conflict when it is taken or the pool is full."""
    net = parse_subnet(pool.subnet)
    taken = {str(ipaddress.ip_address(a)) for a in held if a}
    taken.add(pool.gateway)
    taken.update((pool.aux_addresses or {}).values())
    if wanted:
        addr = _address(wanted, f"IPv{net.version} address")
        if addr not in net:
            raise InvalidArgument(f"invalid address {wanted}: It does not belong to any of this network's subnets")
        if str(addr) in taken:
            raise Conflict("Address already in use")
        return str(addr)
    candidates = parse_subnet(pool.ip_range) if pool.ip_range else net
    for host in candidates.hosts():
        text = str(host)
        if text not in taken and host != net.network_address and host != getattr(net, "broadcast_address", None):
            return text
    raise Conflict(f"no available IPv{net.version} addresses on this network's address pools: {pool.subnet}")


def mac_for(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 followed by its four octets."""
    octets = [int(x) for x in ip.split(".")]
    return "02:42:" + ":".join(f"{o:02x}" for o in octets)
