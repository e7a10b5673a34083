"""A container's connectivity: the sandbox of each running container on its networks.

A container's addresses are reserved when it starts (``plan``: one row per network in the
endpoints table, unique per address) and freed when it stops or leaves the network. It is
wired between its creation and its start: the runtime has made its network namespace and
waits; the bridge driver adds a veth pair per network, the DNS listeners for user networks
and the published ports; then it runs. All of it is re-created for running containers when
the daemon restarts. The networks themselves are `services/networks.py`'s.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from ballena.core.containerconfig import EndpointSettings, HostConfig, NetworkingConfig, PortBinding
from ballena.core.containers import Container
from ballena.core.networks import Endpoint, Network
from ballena.errors import BallenaError, Forbidden, InvalidArgument, NotFound
from ballena.network import ipam
from ballena.network.bridge import Sandbox, Wiring
from ballena.network.dns import DNSServer
from ballena.network.portproxy import Binding
from ballena.network.ports import PortRequest
from ballena.network.resolver import Resolver
from ballena.pkg.stringid import generate_id
from ballena.services.networks import NetworkService

__all__ = ["Sandboxes"]

log = logging.getLogger("ballena.network")


class Sandboxes:
    """Reservation, wiring, DNS and published ports of containers, over ``networks``' bridges."""

    def __init__(self, *, networks: NetworkService, daemon_dns: tuple[str, ...] = ()) -> None:
        self.networks = networks
        self.store = networks.store
        self.events = networks.events
        self.driver = networks.driver
        self.ports = networks.ports
        self.daemon_dns = daemon_dns
        self.resolver = Resolver(networks.store, network_name=networks.user_network_name)
        self.dns = DNSServer(lookup=self.resolver.lookup, reverse=self.resolver.reverse, upstreams=self._upstreams)
        self._sandboxes: dict[str, Sandbox] = {}

    # -- start-up and shutdown --------------------------------------------------------------------

    async def restore(self, running: list[Container]) -> None:
        """After a daemon restart: the sandboxes, DNS listeners, port proxies and rules of the
        running containers; every other endpoint reservation is freed."""
        await self.networks.ready()
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
        await self.networks.apply_rules()

    async def shutdown(self) -> None:
        self.dns.stop_all()
        self.ports.stop_all()

    def network(self, ref: str) -> Network:
        """A network by Docker's lookup (see NetworkService.get)."""
        return self.networks.get(ref)

    async def ready(self) -> None:
        await self.networks.ready()

    # -- a container's networks -------------------------------------------------------------------

    def initial_endpoints(self, hc: HostConfig, networking: NetworkingConfig) -> dict[str, EndpointSettings]:
        """The networks a new container joins, with what the client asked for each (validated
        against the networks that exist). A network that does not exist (yet) is kept by name
        and fails the start with "network X not found", as dockerd 20.10 does: failing the
        create with a 404 would make the docker CLI try to pull the image. Raises
        InvalidArgument."""
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
        out: dict[str, EndpointSettings] = {}
        n = self._find(mode)
        if n is None:
            out[mode] = requested.pop(mode, None) or EndpointSettings()
        else:
            first = requested.pop(mode, None) or requested.pop(n.name, None) or requested.pop(n.id, None)
            out[n.name] = self._requested(n, first or EndpointSettings(), hc)
        for ref, cfg in requested.items():
            other = self._find(ref)
            if other is None:
                out[ref] = cfg or EndpointSettings()
            else:
                out[other.name] = self._requested(other, cfg or EndpointSettings(), hc)
        return out

    def _find(self, ref: str) -> Network | None:
        try:
            return self.networks.get(ref)
        except NotFound:
            return None

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
            return self.networks.get(ep.network_id or name)
        except NotFound:
            return self.networks.by_name(name)

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
        await self.networks.ready()
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
            await self.networks.apply_rules()

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
            await self.networks.apply_rules()

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
        return any(self.networks.user_network_name(ep.network_id) for ep in c.networks.values())

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
            bridge = self.networks.by_name("bridge")
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
            return self.networks.by_name("bridge").gateway
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
