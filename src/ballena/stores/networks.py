"""Networks and their endpoints in the metadata database.

An endpoint row is the reservation of a container's addresses on a network: ``reserve``
inserts it in one transaction, and the table's UNIQUE constraints make a second holder of an
address impossible, whatever runs concurrently and across daemon restarts.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from ballena.core.networks import Endpoint, IPAMPool, Network
from ballena.errors import AlreadyExists, Conflict, NotFound
from ballena.pkg import records
from ballena.stores.metadata import Database

__all__ = ["NetworkStore"]

_COLUMNS = (
    "id, name, driver, subnet, gateway, ip_range, bridge, internal, attachable, labels, options, created, builtin, "
    "pools, enable_ipv6, ipam_options"
)
_EP_COLUMNS = "network_id, container_id, container_name, endpoint_id, ipv4, ipv6, mac, aliases, links"


def _network(r: tuple[Any, ...]) -> Network:
    (nid, name, driver, subnet, gateway, ip_range, bridge, internal, attachable, labels, options, created, builtin,
     pools, enable_ipv6, ipam_options) = r  # fmt: skip
    configured = False
    owned = True
    if pools:
        doc = json.loads(str(pools))
        parsed = tuple(records.decode(IPAMPool, p) for p in doc.get("pools") or ())
        configured = bool(doc.get("configured"))
        owned = bool(doc.get("owned", True))
    elif subnet:  # a version-1 row: one IPv4 pool in its own columns
        parsed = (IPAMPool(subnet=str(subnet), gateway=str(gateway), ip_range=str(ip_range)),)
        configured = not builtin
    else:
        parsed = ()
    return Network(
        id=str(nid),
        name=str(name),
        driver=str(driver),
        pools=parsed,
        pools_configured=configured,
        bridge=str(bridge),
        internal=bool(internal),
        attachable=bool(attachable),
        enable_ipv6=bool(enable_ipv6),
        labels=json.loads(str(labels)),
        options=json.loads(str(options)),
        ipam_options=json.loads(str(ipam_options or "{}")),
        created_ns=int(created),
        builtin=bool(builtin),
        bridge_owned=owned,
    )


def _network_values(n: Network) -> tuple[Any, ...]:
    first = n.pool(4) or IPAMPool()
    return (
        n.id, n.name, n.driver, first.subnet, first.gateway, first.ip_range, n.bridge, int(n.internal),
        int(n.attachable), json.dumps(dict(n.labels)), json.dumps(dict(n.options)), n.created_ns, int(n.builtin),
        json.dumps({"configured": n.pools_configured, "owned": n.bridge_owned, "pools": [records.encode(p) for p in n.pools]}),
        int(n.enable_ipv6), json.dumps(dict(n.ipam_options)),
    )  # fmt: skip


def _endpoint(r: tuple[Any, ...]) -> Endpoint:
    network_id, container_id, container_name, endpoint_id, ipv4, ipv6, mac, aliases, links = r
    return Endpoint(
        network_id=str(network_id),
        container_id=str(container_id),
        container_name=str(container_name),
        endpoint_id=str(endpoint_id),
        ipv4=str(ipv4 or ""),
        ipv6=str(ipv6 or ""),
        mac=str(mac),
        aliases=tuple(json.loads(str(aliases))),
        links=tuple(json.loads(str(links))),
    )


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- networks ---------------------------------------------------------------------------------

    def all(self) -> list[Network]:
        return [_network(r) for r in self.db.query(f"SELECT {_COLUMNS} FROM networks")]

    def get(self, nid: str) -> Network:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM networks WHERE id=?", (nid,))
        if not rows:
            raise NotFound(f"network {nid} not found")
        return _network(rows[0])

    def add(self, n: Network) -> None:
        """Raises AlreadyExists for a name (or ID) in use."""
        with self.db.tx() as conn:
            try:
                conn.execute(f"INSERT INTO networks({_COLUMNS}) VALUES ({','.join('?' * 16)})", _network_values(n))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"network with name {n.name} already exists") from None

    def update(self, n: Network) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM networks WHERE id=?", (n.id,))
            conn.execute(f"INSERT INTO networks({_COLUMNS}) VALUES ({','.join('?' * 16)})", _network_values(n))

    def remove(self, nid: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM endpoints WHERE network_id=?", (nid,))
            conn.execute("DELETE FROM networks WHERE id=?", (nid,))

    # -- endpoints --------------------------------------------------------------------------------

    def reserve(self, network_id: str, container_id: str, choose: Callable[[set[str]], Endpoint]) -> Endpoint:
        """Reserve a container's endpoint on a network in one transaction: ``choose`` is given
        the addresses other containers hold there and returns the endpoint to record (it may
        raise, e.g. Conflict for a full network). Replaces the container's previous endpoint
        on that network. Raises Conflict when an address is held after all."""
        with self.db.tx() as conn:
            rows = conn.execute(
                "SELECT ipv4, ipv6 FROM endpoints WHERE network_id=? AND container_id!=?", (network_id, container_id)
            ).fetchall()
            ep = choose({str(a) for row in rows for a in row if a})
            conn.execute("DELETE FROM endpoints WHERE network_id=? AND container_id=?", (network_id, container_id))
            try:
                conn.execute(f"INSERT INTO endpoints({_EP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", _endpoint_values(ep))
            except sqlite3.IntegrityError:
                raise Conflict("Address already in use") from None
        return ep

    def endpoints(self, *, network_id: str | None = None, container_id: str | None = None) -> list[Endpoint]:
        where, args = [], []
        if network_id is not None:
            where.append("network_id=?")
            args.append(network_id)
        if container_id is not None:
            where.append("container_id=?")
            args.append(container_id)
        sql = f"SELECT {_EP_COLUMNS} FROM endpoints" + (" WHERE " + " AND ".join(where) if where else "")
        return [_endpoint(r) for r in self.db.query(sql, tuple(args))]

    def release(self, container_id: str, network_id: str | None = None) -> None:
        """Free a container's endpoint on a network (all its endpoints without ``network_id``)."""
        with self.db.tx() as conn:
            if network_id is None:
                conn.execute("DELETE FROM endpoints WHERE container_id=?", (container_id,))
            else:
                conn.execute("DELETE FROM endpoints WHERE container_id=? AND network_id=?", (container_id, network_id))

    def keep_only(self, container_ids: Iterable[str]) -> None:
        """Free every endpoint of a container not in ``container_ids`` (start-up: what no
        running container holds any more)."""
        keep = set(container_ids)
        with self.db.tx() as conn:
            held = {str(r[0]) for r in conn.execute("SELECT DISTINCT container_id FROM endpoints").fetchall()}
            for cid in held - keep:
                conn.execute("DELETE FROM endpoints WHERE container_id=?", (cid,))

    def rename(self, container_id: str, name: str) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE endpoints SET container_name=? WHERE container_id=?", (name, container_id))


def _endpoint_values(ep: Endpoint) -> tuple[Any, ...]:
    return (
        ep.network_id,
        ep.container_id,
        ep.container_name,
        ep.endpoint_id,
        _canonical(ep.ipv4),
        _canonical(ep.ipv6),
        ep.mac,
        json.dumps(list(ep.aliases)),
        json.dumps(list(ep.links)),
    )


def _canonical(address: str) -> str | None:
    """One spelling per address, so that UNIQUE means the same address (``2001:db8::0:1`` is
    ``2001:db8::1``); NULL where there is none."""
    return str(ipaddress.ip_address(address)) if address else None
