"""Network use cases: the built-in networks, user bridge networks (create, inspect, list,
remove, prune) and the rules and bridges behind them. What a container does on them (its
addresses, interfaces, DNS, ports) is `services/sandboxes.py`.

Built-in networks: ``bridge`` (our default bridge, NAT, no embedded DNS, as Docker's
default), ``host`` (the host's namespace) and ``none`` (only ``lo``). User-defined bridge
networks add isolation from other networks and the embedded DNS server; with ``--ipv6``
they are dual-stack.

"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from dataclasses import replace

from ballena.core.networks import Endpoint, IPAMPool, Network, NetworkCreate
from ballena.errors import Conflict, Forbidden, InvalidArgument, NotFound
from ballena.network import ipam
from ballena.network.bridge import BridgeDriver
from ballena.network.netlink import Netlink
from ballena.network.nft import Firewall
from ballena.network.ports import PortPublisher
from ballena.pkg.filters import Filters
from ballena.pkg.stringid import generate_id
from ballena.pkg.timeutil import now_ns, parse_api_timestamp
from ballena.services.events import EventBus
from ballena.stores.networks import NetworkStore

__all__ = ["BUILTIN", "DEFAULT_BRIDGE", "LIST_FILTERS", "PRUNE_FILTERS", "NetworkService"]

log = logging.getLogger("ballena.network")

DEFAULT_BRIDGE = "ballena0"
BUILTIN = ("bridge", "host", "none")
LIST_FILTERS = frozenset({"driver", "id", "label", "name", "scope", "type", "dangling"})
PRUNE_FILTERS = frozenset({"until", "label", "label!"})
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.driver.mtu": "1500",
}


class NetworkService:
    def __init__(
        self,
        *,
        store: NetworkStore,
        events: EventBus,
        bip: str = "",
        default_bridge: str = DEFAULT_BRIDGE,
        driver: BridgeDriver | None = None,
        ports: PortPublisher | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.bip = bip
        self.default_bridge = default_bridge
        # One nftables table per default bridge, so that two daemons on one host (a test
        # daemon beside the system one) never rewrite each other's rules.
        suffix = "" if default_bridge == DEFAULT_BRIDGE else "_" + re.sub(r"[^A-Za-z0-9_]", "_", default_bridge)
        self.driver = driver or BridgeDriver(netlink=Netlink(), firewall=Firewall(table="ballena" + suffix))
        self.ports = ports or PortPublisher()
        # apply_rules: one nft transaction at a time, each rendering the state as it is when it
        # runs, and skipped when a later one already covered it (see there).
        self._rules_lock = asyncio.Lock()
        self._rules_asked = 0
        self._rules_applied = 0
        self._setup: asyncio.Future[None] | None = None

    # -- start-up -------------------------------------------------------------------------------

    def ensure_builtins(self) -> None:
        names = {n.name: n for n in self.store.all()}
        current = names.get("bridge")
        if current is not None and current.bridge != self.default_bridge:  # restarted with another --bridge
            opts = {**current.options, "com.docker.network.bridge.name": self.default_bridge}
            self.store.update(replace(current, bridge=self.default_bridge, options=opts))
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if name in names:
                continue
            opts = {**_DEFAULT_BRIDGE_OPTIONS, "com.docker.network.bridge.name": self.default_bridge}
            self.store.add(
                Network(
                    id=generate_id(),
                    name=name,
                    driver=driver,
                    created_ns=now_ns(),
                    bridge=self.default_bridge if name == "bridge" else "",
                    options=opts if name == "bridge" else {},
                    builtin=True,
                )
            )

    def start(self) -> None:
        self.ensure_builtins()
        self._setup = asyncio.ensure_future(self._set_up())

    async def ready(self) -> None:
        if self._setup is None:
            self.start()
        assert self._setup is not None
        await asyncio.shield(self._setup)

    async def _set_up(self) -> None:
        bridge = self.by_name("bridge")
        if not bridge.subnet:
            bridge = replace(bridge, pools=(await self._default_bridge_pool(),))
            self.store.update(bridge)
        for n in self.store.all():
            if n.driver == "bridge":
                await self.driver.ensure(n)
        _enable_forwarding()
        await self.apply_rules()

    async def _default_bridge_pool(self) -> IPAMPool:
        """The default bridge's subnet: ``--bip``; else the address its interface already has
        (as dockerd reuses docker0's), so that restarts never stack addresses on it; else the
        first free default pool."""
        iface = self.bip or await self.driver.address_of(self.default_bridge)
        if iface:
            i = ipaddress.ip_interface(iface)
            return IPAMPool(subnet=str(i.network), gateway=str(i.ip))
        used = [n.subnet for n in self.store.all() if n.subnet] + await self.driver.host_routes()
        net = ipam.choose_subnet(used)
        return IPAMPool(subnet=str(net), gateway=str(next(net.hosts())))

    async def apply_rules(self) -> None:
        """The firewall as the networks and the published ports now are.

        Each call replaces the whole table. Rendered by one caller and applied on a thread, two
        concurrent calls could land in either order, and an older picture applied last brought
        back the rules of a container removed meanwhile (the load test saw it: 2 rules left
        after 40 removals at once). So they take turns, each renders the state when its turn
        comes, and a call whose change an applied picture already held returns at once."""
        self._rules_asked += 1
        asked = self._rules_asked
        async with self._rules_lock:
            if self._rules_applied >= asked:
                return
            picture = self._rules_asked  # every change asked for so far is in what we render
            await self.driver.apply_rules(self.store.all(), self.ports.rules())
            self._rules_applied = picture

    async def shutdown(self) -> None:
        self.driver.close()

    # -- lookups ----------------------------------------------------------------------------------

    def by_name(self, name: str) -> Network:
        for n in self.store.all():
            if n.name == name:
                return n
        raise NotFound(f"network {name} not found")

    def get(self, ref: str) -> Network:
        """Docker's lookup: full ID, name, unique ID prefix. Raises NotFound."""
        items = self.store.all()
        for n in items:
            if n.id == ref:
                return n
        for n in items:
            if n.name == ref:
                return n
        matches = [n for n in items if n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def user_network_name(self, nid: str) -> str | None:
        """The name of user network ``nid``; None for a built-in or unknown one (no embedded DNS there)."""
        try:
            n = self.store.get(nid)
        except NotFound:
            return None
        return n.name if n.user_defined else None

    def endpoints_of(self, n: Network) -> list[Endpoint]:
        """The running containers on ``n``."""
        return self.store.endpoints(network_id=n.id)

    # -- API use cases ----------------------------------------------------------------------------

    async def create(self, req: NetworkCreate) -> Network:
        """A new bridge network. Raises InvalidArgument (bad name, pool), Forbidden (a
        built-in driver, an overlapping pool), Conflict (a name in use), NotFound (a driver
        we do not have)."""
        name = req.name
        if not name:
            raise InvalidArgument("network name is required")
        if not NAME_RE.match(name):
            raise InvalidArgument(f'invalid network name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        driver = req.driver or "bridge"
        if driver in ("host", "null", "none"):
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        if any(n.name == name for n in self.store.all()):
            raise Conflict(f"network with name {name} already exists")
        for key, value in (req.labels or {}).items():
            if not key:
                raise InvalidArgument(f"invalid label {key}={value}: empty key")
        await self.ready()
        nid = generate_id()
        options = dict(req.options or {})
        ipam_cfg = req.ipam.config if req.ipam is not None and req.ipam.config else ()
        if req.ipam is not None and req.ipam.driver not in ("", "default"):
            raise NotFound(f'plugin "{req.ipam.driver}" not found')
        others = [p.subnet for n in self.store.all() for p in n.pools if p.subnet]
        pools = list(ipam.check_pools(ipam_cfg, others))
        enable_ipv6 = bool(req.enable_ipv6)
        if not any(p.version == 4 for p in pools):
            net = ipam.choose_subnet(others + await self.driver.host_routes())
            pools.insert(0, IPAMPool(subnet=str(net), gateway=str(next(net.hosts()))))
        if enable_ipv6 and not any(p.version == 6 for p in pools):
            raise InvalidArgument("IPv6 is enabled but no IPv6 subnet was given (use --subnet with an IPv6 subnet)")
        if not enable_ipv6 and any(p.version == 6 for p in pools):
            enable_ipv6 = True  # as dockerd: an IPv6 subnet makes the network dual-stack
        bridge = options.get("com.docker.network.bridge.name") or f"blna-{nid[:10]}"
        if len(bridge) > 15:
            raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
        if any(n.bridge == bridge for n in self.store.all()):
            raise Conflict(f"bridge {bridge} is already used by another network")
        # An interface of that name already there is used only if it is a bridge (dockerd's
        # way), and then never deleted: naming the host's eth0 must not take it over.
        kind = await self.driver.existing_kind(bridge)
        if kind is not None and kind != "bridge":
            raise Conflict(f"cannot use {bridge} as the network's bridge: the host has an interface of that name")
        n = Network(
            id=nid,
            name=name,
            driver="bridge",
            created_ns=now_ns(),
            pools=tuple(pools),
            pools_configured=bool(ipam_cfg),
            bridge=bridge,
            internal=req.internal,
            attachable=req.attachable,
            enable_ipv6=enable_ipv6,
            labels=dict(req.labels or {}),
            options=options,
            ipam_options=dict(req.ipam.options or {}) if req.ipam is not None else {},
            bridge_owned=kind is None,
        )
        self.store.add(n)
        try:
            await self.driver.ensure(n)
            await self.apply_rules()
        except BaseException:
            self.store.remove(n.id)
            await self.driver.delete(n)
            raise
        self.events.publish("network", "create", n.id, {"name": n.name, "type": "bridge"})
        return n

    async def remove(self, ref: str) -> None:
        """Raises Forbidden for a built-in network or one with running containers."""
        n = self.get(ref)
        if n.builtin:
            raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        if self.endpoints_of(n):
            raise Forbidden(f"error while removing network: network {n.name} id {n.id} has active endpoints")
        await self.ready()
        self.store.remove(n.id)
        await self.driver.delete(n)
        await self.apply_rules()
        self.events.publish("network", "destroy", n.id, {"name": n.name, "type": n.driver})

    def list_networks(self, filters: Filters) -> list[Network]:
        out = []
        for n in sorted(self.store.all(), key=lambda n: n.created_ns):
            if "driver" in filters and n.driver not in filters.get("driver"):
                continue
            if "name" in filters and not any(v in n.name for v in filters.get("name")):
                continue
            if "id" in filters and not any(n.id.startswith(v) for v in filters.get("id")):
                continue
            if "label" in filters and not filters.match_labels("label", dict(n.labels)):
                continue
            if "type" in filters and ("builtin" if n.builtin else "custom") not in filters.get("type"):
                continue
            if "scope" in filters and "local" not in filters.get("scope"):
                continue
            dangling = filters.bool_value("dangling")
            if dangling is not None and (not n.builtin and not self.endpoints_of(n)) != dangling:
                continue
            out.append(n)
        return out

    async def prune(self, filters: Filters) -> list[str]:
        """Remove the user networks no running container is on (with Docker's ``until`` and
        ``label`` filters); their names."""
        until = min(parse_api_timestamp(v) for v in filters.get("until")) if "until" in filters else None
        removed = []
        for n in self.store.all():
            if n.builtin or self.endpoints_of(n):
                continue
            if until is not None and n.created_ns > until:
                continue
            if "label" in filters and not filters.match_labels("label", dict(n.labels)):
                continue
            if "label!" in filters and filters.match_labels("label!", dict(n.labels)):
                continue
            await self.remove(n.id)
            removed.append(n.name)
        return removed


def _enable_forwarding() -> None:
    """Routing between bridges and out of the host needs IPv4 forwarding (dockerd sets it too)."""
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            if f.read().strip() == "1":
                return
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
    except OSError as e:
        log.warning("could not enable IP forwarding: %s", e)
