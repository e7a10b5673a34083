"""Network use cases, and a container's connectivity.

Built-in networks: ``bridge`` (our default bridge, NAT, no embedded DNS, as Docker's
default), ``host`` (the host's namespace) and ``none`` (only ``lo``). User-defined bridge
networks add isolation from other networks and the embedded DNS server; with ``--ipv6``
they are dual-stack.

A container's addresses are reserved when it starts (``plan``: one row per network in the
endpoints table, unique per address) and freed when it stops or leaves the network. It is
wired between its creation and its start: the runtime has made its network namespace and
waits; the bridge driver adds a veth pair per network, the DNS listeners for user networks
and the published ports; then it runs. All of it is re-created for running containers when
the daemon restarts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from dataclasses import replace
from pathlib import Path

from ballena.core.containerconfig import EndpointSettings, HostConfig, NetworkingConfig, PortBinding
from ballena.core.containers import Container
from ballena.core.networks import Endpoint, IPAMPool, Network, NetworkCreate
from ballena.errors import BallenaError, Conflict, Forbidden, InvalidArgument, NotFound
from ballena.network import ipam
from ballena.network.bridge import BridgeDriver, Sandbox, Wiring
from ballena.network.dns import DNSServer
from ballena.network.netlink import Netlink
from ballena.network.nft import Firewall
from ballena.network.portproxy import Binding
from ballena.network.ports import PortPublisher, PortRequest
from ballena.network.resolver import Resolver
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
        daemon_dns: tuple[str, ...] = (),
        bip: str = "",
        default_bridge: str = DEFAULT_BRIDGE,
        driver: BridgeDriver | None = None,
        ports: PortPublisher | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.daemon_dns = daemon_dns
        self.bip = bip
        self.default_bridge = default_bridge
        # One nftables table per default bridge, so that two daemons on one host (a test
        # daemon beside the system one) never rewrite each other's rules.
        suffix = "" if default_bridge == DEFAULT_BRIDGE else "_" + re.sub(r"[^A-Za-z0-9_]", "_", default_bridge)
        self.driver = driver or BridgeDriver(netlink=Netlink(), firewall=Firewall(table="ballena" + suffix))
        self.ports = ports or PortPublisher()
        self.resolver = Resolver(store, network_name=self._user_network_name)
        self.dns = DNSServer(lookup=self.resolver.lookup, reverse=self.resolver.reverse, upstreams=self._upstreams)
        self._sandboxes: dict[str, Sandbox] = {}
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
        await self._apply_rules()

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

    async def _apply_rules(self) -> None:
        await self.driver.apply_rules(self.store.all(), self.ports.rules())

    async def restore(self, running: list[Container]) -> None:
        """After a daemon restart: the sandboxes, DNS listeners, port proxies and rules of the
        running containers; every other endpoint reservation is freed."""
        await self.ready()
        self.store.keep_only(c.id for c in running)
        for c in running:
            if not c.state.pid:
                continue
            sandbox = Sandbox(pid=c.state.pid, upstreams=self._upstreams_for(c.host_config))
            for ep in c.networks.values():
                if ep.host_ifname:
                    sandbox.host_ifnames[ep.network_id] = ep.host_ifname
                    sandbox.ifnames[ep.network_id] = ep.ifname or "eth0"
            self._sandboxes[c.id] = sandbox
            try:
                if self._on_user_network(c):
                    await self.dns.serve(c.id, *await self.driver.dns_sockets(sandbox))
                    sandbox.dns = True
                bindings = self._bindings_of(c)
                if bindings:
                    await self.ports.restore(c.id, bindings, self._bridge_of(c))
            except (BallenaError, OSError) as e:
                log.warning("could not restore the network of %s: %s", c.name, e)
        await self._apply_rules()

    async def shutdown(self) -> None:
        self.dns.stop_all()
        self.ports.stop_all()
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

    def _user_network_name(self, nid: str) -> str | None:
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
        )
        self.store.add(n)
        try:
            await self.driver.ensure(n)
            await self._apply_rules()
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
        await self._apply_rules()
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

    # -- a container's networks -------------------------------------------------------------------

    def initial_endpoints(self, hc: HostConfig, networking: NetworkingConfig) -> dict[str, EndpointSettings]:
        """The networks a new container joins, with what the client asked for each
        (validated). Raises NotFound for an unknown network, InvalidArgument."""
        mode = hc.network_mode or "bridge"
        if mode == "default":
            mode = "bridge"
        requested = {("bridge" if k == "default" else k): v for k, v in networking.endpoints_config.items()}
        if mode in ("host", "none") or mode.startswith("container:"):
            if any(k != mode for k in requested):
                raise InvalidArgument(
                    "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
                )
            return {}
        n = self.get(mode)
        out: dict[str, EndpointSettings] = {}
        first = requested.pop(mode, None) or requested.pop(n.name, None) or requested.pop(n.id, None)
        out[n.name] = self._requested(n, first or EndpointSettings(), hc)
        for ref, cfg in requested.items():
            other = self.get(ref)
            out[other.name] = self._requested(other, cfg or EndpointSettings(), hc)
        return out

    def _requested(self, n: Network, cfg: EndpointSettings, hc: HostConfig | None = None) -> EndpointSettings:
        """What the client asked of an endpoint on ``n``, checked as dockerd does."""
        aliases = tuple(cfg.aliases or ())
        if aliases and not n.user_defined:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        wanted = cfg.ipam_config or None
        if wanted is not None and (wanted.ipv4_address or wanted.ipv6_address):
            if not n.user_defined:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            if not n.pools_configured:
                raise InvalidArgument(
                    "user specified IP address is supported only when connecting to networks with user configured "
                    "subnets"
                )
            for address, version in ((wanted.ipv4_address, 4), (wanted.ipv6_address, 6)):
                if not address:
                    continue
                pool = n.pool(version)
                if pool is None:
                    raise InvalidArgument(
                        f"invalid address {address}: It does not belong to any of this network's subnets"
                    )
                ipam.allocate(pool, (), wanted=address)
        links = tuple(cfg.links or ())
        if n.user_defined and hc is not None and hc.links:
            links += tuple(hc.links)  # --link on a user network: name resolution by alias
        return EndpointSettings(
            ipam_config=wanted,
            links=links or None,
            aliases=aliases or None,
            mac_address=cfg.mac_address,
            desired_mac=cfg.mac_address,
            driver_opts=cfg.driver_opts,
            network_id=n.id,
        )

    def plan(self, c: Container) -> dict[str, EndpointSettings]:
        """Reserve the container's addresses on each of its networks, before its start (so
        /etc/hosts can name them). Raises Conflict when a network is full or a wanted address
        is held, and then reserves nothing."""
        out: dict[str, EndpointSettings] = {}
        try:
            for name, ep in c.networks.items():
                n = self._network_of(name, ep)
                out[n.name] = self._reserve(c, n, ep)
        except BaseException:
            self.store.release(c.id)
            raise
        return out

    def _network_of(self, name: str, ep: EndpointSettings) -> Network:
        try:
            return self.get(ep.network_id or name)
        except NotFound:
            return self.by_name(name)

    def _reserve(self, c: Container, n: Network, ep: EndpointSettings) -> EndpointSettings:
        wanted = ep.ipam_config
        pool4, pool6 = n.pool(4), n.pool(6) if n.enable_ipv6 else None

        def choose(held: set[str]) -> Endpoint:
            ipv4 = ipam.allocate(pool4, held, wanted=wanted.ipv4_address if wanted else "") if pool4 else ""
            ipv6 = ipam.allocate(pool6, held, wanted=wanted.ipv6_address if wanted else "") if pool6 else ""
            mac = ep.desired_mac or c.config.mac_address or (ipam.mac_for(ipv4) if ipv4 else "")
            return Endpoint(
                network_id=n.id,
                container_id=c.id,
                container_name=c.name,
                endpoint_id=generate_id(),
                ipv4=ipv4,
                ipv6=ipv6,
                mac=mac,
                aliases=tuple(ep.aliases or ()),
                links=tuple(ep.links or ()),
            )

        r = self.store.reserve(n.id, c.id, choose)
        return ep.with_(
            network_id=n.id,
            endpoint_id=r.endpoint_id,
            gateway=n.gateway if r.ipv4 else "",
            ip_address=r.ipv4,
            ip_prefix_len=ipaddress.ip_network(pool4.subnet).prefixlen if pool4 and r.ipv4 else 0,
            ipv6_gateway=n.gateway6 if r.ipv6 else "",
            global_ipv6_address=r.ipv6,
            global_ipv6_prefix_len=ipaddress.ip_network(pool6.subnet).prefixlen if pool6 and r.ipv6 else 0,
            mac_address=r.mac,
            dns_names=r.dns_names if n.user_defined else None,
            host_ifname="blnv" + generate_id()[:10],
        )

    def reserve_ports(self, c: Container) -> dict[str, tuple[PortBinding, ...]]:
        """Bind every published host port now, so a taken one fails the start before anything
        runs. Returns NetworkSettings.Ports. Raises Conflict in Docker's words."""
        hc = c.host_config
        bindings: dict[str, tuple[PortBinding, ...] | None] = dict(hc.port_bindings or {})
        if hc.publish_all_ports:
            for port in c.config.exposed_ports or ():
                bindings.setdefault(port, (PortBinding(),))
        first = next(iter(c.networks.values()), None)
        n = self._network_of(next(iter(c.networks)), first) if first is not None else None
        if n is None or n.internal:
            bindings = {}  # an internal network has no way in: nothing to publish (dockerd's way)
        default_ip = n.option("bridge.host_binding_ipv4") if n is not None else ""
        requests: list[tuple[str, PortRequest]] = []
        for key, items in bindings.items():
            port, _, proto = key.partition("/")
            for item in items or (PortBinding(),):
                host_ip = item.host_ip or ("" if default_ip in ("", "0.0.0.0") else default_ip)
                try:
                    host_port = int(item.host_port or 0)
                except ValueError:
                    raise InvalidArgument(f"invalid host port {item.host_port!r} for {key}") from None
                requests.append(
                    (
                        key,
                        PortRequest(
                            proto=proto or "tcp", container_port=int(port), host_ip=host_ip, host_port=host_port
                        ),
                    )
                )
        ip = first.ip_address if first is not None else ""
        bound = self.ports.reserve(c.id, c.name, [r for _, r in requests], ip)
        result: dict[str, list[PortBinding]] = {}
        for (key, _r), b in zip(requests, bound, strict=True):
            result.setdefault(key, []).append(PortBinding(host_ip=b.host_ip or "0.0.0.0", host_port=str(b.host_port)))
        for key in c.config.exposed_ports or ():
            result.setdefault(key, [])
        return {k: tuple(v) for k, v in result.items()}

    async def attach(self, c: Container, pid: int) -> None:
        """Wire the created (not yet running) container ``c`` (its init is ``pid``) to its
        networks: interfaces, DNS, published ports, rules."""
        await self.ready()
        sandbox = Sandbox(pid=pid, upstreams=self._upstreams_for(c.host_config))
        self._sandboxes[c.id] = sandbox
        want_dns = self._on_user_network(c)
        first = True
        for name, ep in c.networks.items():
            n = self._network_of(name, ep)
            ifname = "eth0" if first else await self.driver.next_ifname(sandbox)
            await self._wire(c.id, sandbox, n, ep, ifname, first=first, with_dns=first and want_dns)
            first = False
            self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        if await self.ports.publish(c.id, self._bridge_of(c)):
            await self._apply_rules()

    async def _wire(
        self, cid: str, sandbox: Sandbox, n: Network, ep: EndpointSettings, ifname: str, *, first: bool, with_dns: bool
    ) -> None:
        addresses = []
        if ep.ip_address:
            addresses.append((ep.ip_address, ep.ip_prefix_len))
        if ep.global_ipv6_address:
            addresses.append((ep.global_ipv6_address, ep.global_ipv6_prefix_len))
        link_local = ep.ipam_config.link_local_i_ps if ep.ipam_config else None
        for address in link_local or ():
            addresses.append((address, 32 if ":" not in address else 128))
        gateways = [g for g in (ep.gateway, ep.ipv6_gateway) if g] if first and not n.internal else []
        dns = await self.driver.wire(
            sandbox,
            n,
            Wiring(
                host_ifname=ep.host_ifname,
                ifname=ifname,
                mac=ep.mac_address,
                addresses=tuple(addresses),
                gateways=tuple(gateways),
                with_dns=with_dns,
            ),
        )
        if dns is not None:
            await self.dns.serve(cid, *dns)
            sandbox.dns = True

    async def release(self, c: Container, *, netns_shared: bool = False) -> None:
        """The container stopped: free its addresses, listeners, ports and rules.
        ``netns_shared``: another running container still lives in its network namespace
        (``--network container:<this>``), so the veth pairs must be deleted by hand."""
        sandbox = self._sandboxes.pop(c.id, None)
        self.store.release(c.id)
        self.dns.stop(c.id)
        had_ports = self.ports.release(c.id)
        if sandbox is None:
            return
        # Usually no veth to delete: the container's init is gone, its namespace dies with the
        # last reference (the DNS sockets, closed above), and the kernel then removes both ends
        # of each pair by itself; deleting them here would cost ~17 ms per container on its way
        # out.
        if netns_shared:
            await self.driver.drop_host_ends(sandbox)
        for nid in list(sandbox.host_ifnames):
            try:
                n = self.store.get(nid)
            except NotFound:
                continue
            self.events.publish("network", "disconnect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        if had_ports:
            await self._apply_rules()

    def renamed(self, c: Container) -> None:
        """The container has a new name: the embedded DNS answers to it."""
        self.store.rename(c.id, c.name)

    # -- live connect / disconnect ----------------------------------------------------------------

    async def connect(self, c: Container, n: Network, cfg: EndpointSettings) -> dict[str, EndpointSettings]:
        """Add ``n`` to the container's networks (wired at once if it runs). Returns its new
        networks (the caller persists them). Raises InvalidArgument, Forbidden, Conflict."""
        if n.driver != "bridge":
            raise InvalidArgument("container cannot be disconnected from host network or connected to host network")
        mode = c.host_config.network_mode or ""
        if mode in ("host", "none") or mode.startswith("container:"):
            raise InvalidArgument(
                "container sharing network namespace with another container or host cannot be "
                "connected to any other network"
            )
        if n.name in c.networks:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        networks = dict(c.networks)
        ep = self._requested(n, cfg, c.host_config)
        sandbox = self._sandboxes.get(c.id)
        if c.state.running and sandbox is not None:
            ep = self._reserve(c, n, ep)
            try:
                ifname = await self.driver.next_ifname(sandbox)
                await self._wire(c.id, sandbox, n, ep, ifname, first=False, with_dns=n.user_defined and not sandbox.dns)
            except BaseException:
                self.store.release(c.id, n.id)
                raise
            ep = ep.with_(ifname=ifname)
        networks[n.name] = ep
        self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        return networks

    async def disconnect(self, c: Container, n: Network, *, force: bool = False) -> dict[str, EndpointSettings]:
        """Take ``n`` from the container's networks. Raises Forbidden when it is not on it
        (unless ``force``)."""
        if n.name not in c.networks:
            if force:
                self.store.release(c.id, n.id)
                return dict(c.networks)
            raise Forbidden(f"container {c.id} is not connected to network {n.name}")
        networks = dict(c.networks)
        networks.pop(n.name)
        sandbox = self._sandboxes.get(c.id)
        if sandbox is not None:
            await self.driver.unwire(sandbox, n.id)
        self.store.release(c.id, n.id)
        self.events.publish("network", "disconnect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        return networks

    async def ensure_dns(self, c: Container) -> None:
        """Serve the embedded DNS in a running container that joined its first user network."""
        sandbox = self._sandboxes.get(c.id)
        if sandbox is None or sandbox.dns or not self._on_user_network(c):
            return
        await self.dns.serve(c.id, *await self.driver.dns_sockets(sandbox))
        sandbox.dns = True

    # -- what the container sees ------------------------------------------------------------------

    def _on_user_network(self, c: Container) -> bool:
        return any(self._user_network_name(ep.network_id) for ep in c.networks.values())

    def _upstreams_for(self, hc: HostConfig) -> tuple[str, ...]:
        servers = tuple(hc.dns or ()) or self.daemon_dns
        if servers:
            return servers
        try:
            text = Path("/etc/resolv.conf").read_text()
        except OSError:
            text = ""
        return tuple(
            line.split()[1] for line in text.splitlines() if line.startswith("nameserver") and len(line.split()) > 1
        )

    def _upstreams(self, asking: str) -> list[str]:
        sandbox = self._sandboxes.get(asking)
        return list(sandbox.upstreams) if sandbox is not None else list(self.daemon_dns)

    def resolv_conf(self, c: Container) -> str | None:
        """User networks use the embedded server; others the usual file (None)."""
        if not self._on_user_network(c):
            return None
        hc = c.host_config
        lines = ["nameserver 127.0.0.11"]
        if hc.dns_search:
            lines.append("search " + " ".join(hc.dns_search))
        options = ["ndots:0", *[o for o in hc.dns_options or () if not o.startswith("ndots:")]]
        lines.append("options " + " ".join(options))
        return "\n".join(lines) + "\n"

    def hosts_entries(self, c: Container) -> str:
        """``--link`` entries for /etc/hosts, for the links of the default bridge (user
        networks resolve them by DNS)."""
        if not c.host_config.links:
            return ""
        try:
            bridge = self.by_name("bridge")
        except NotFound:
            return ""
        on_bridge = {ep.container_name: ep for ep in self.store.endpoints(network_id=bridge.id)}
        out = []
        for link in c.host_config.links:
            target, _, alias = link.partition(":")
            ep = on_bridge.get(target.lstrip("/"))
            if ep is None or not ep.ipv4:
                continue
            names = [alias.rsplit("/", 1)[-1]] if alias else []
            out.append(f"{ep.ipv4}\t{' '.join([*names, ep.container_name, ep.container_id[:12]])}\n")
        return "".join(out)

    def host_gateway(self) -> str:
        try:
            return self.by_name("bridge").gateway
        except NotFound:
            return ""

    def _bridge_of(self, c: Container) -> str:
        for name, ep in c.networks.items():
            if ep.ip_address:
                return self._network_of(name, ep).bridge
        return ""

    def _bindings_of(self, c: Container) -> list[Binding]:
        ip = next((ep.ip_address for ep in c.networks.values() if ep.ip_address), "")
        out = []
        for key, items in c.ports.items():
            port, _, proto = key.partition("/")
            for item in items:
                out.append(
                    Binding(
                        proto=proto or "tcp",
                        host_ip="" if item.host_ip == "0.0.0.0" else item.host_ip,
                        host_port=int(item.host_port),
                        container_ip=ip,
                        container_port=int(port),
                    )
                )
        return out


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
