"""Names on user networks, as Docker's embedded DNS answers them: a container asking for a
name gets the addresses of the containers that carry it *on the networks it shares with
them*: their name, short ID, network aliases, ``name.network``, and the aliases of its own
links. Answered from the endpoints table (only running containers have endpoints), so it
needs nothing of the container records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ballena.core.networks import Endpoint

__all__ = ["Directory", "Resolver"]


class Directory(Protocol):
    """Where endpoints are found (``stores.networks.NetworkStore``)."""

    def endpoints(self, *, network_id: str | None = None, container_id: str | None = None) -> list[Endpoint]: ...


class Resolver:
    def __init__(self, directory: Directory, *, network_name: Callable[[str], str | None]) -> None:
        self.directory = directory
        self.network_name = network_name  # a network's name by ID (None: not a user network)

    def _peers(self, asking: str) -> tuple[list[Endpoint], list[Endpoint]]:
        """The asking container's endpoints on user networks, and every endpoint sharing one
        of those networks."""
        mine = [ep for ep in self.directory.endpoints(container_id=asking) if self.network_name(ep.network_id)]
        peers: list[Endpoint] = []
        for ep in mine:
            peers += self.directory.endpoints(network_id=ep.network_id)
        return mine, peers

    def lookup(self, asking: str, name: str, version: int = 4) -> list[str] | None:
        """Addresses of ``name`` for the asking container (IPv4 or IPv6); [] for a name known
        here without an address of that version; None for a name unknown here."""
        name = name.lower().rstrip(".")
        mine, peers = self._peers(asking)
        if not mine:
            return None
        aliases: dict[str, str] = {}  # link alias -> the linked container's name
        for ep in mine:
            for link in ep.links:
                target, _, alias = link.partition(":")
                aliases[(alias or target).rsplit("/", 1)[-1].lower()] = target.lstrip("/").lower()
        wanted = aliases.get(name, name)
        found: list[str] | None = None
        for ep in peers:
            net = (self.network_name(ep.network_id) or "").lower()
            names = {n.lower() for n in (*ep.dns_names, ep.container_id)}
            names |= {f"{n}.{net}" for n in list(names)}
            if wanted in names or name in names:
                found = found if found is not None else []
                address = ep.ipv4 if version == 4 else ep.ipv6
                if address and address not in found:
                    found.append(address)
        return found

    def reverse(self, asking: str, address: str) -> str | None:
        """``name.network`` for an address a peer holds (PTR), or None."""
        _mine, peers = self._peers(asking)
        for ep in peers:
            if address in (ep.ipv4, ep.ipv6):
                net = self.network_name(ep.network_id)
                return f"{ep.container_name}.{net}" if net else ep.container_name
        return None
