"""Network use cases and a container's connectivity.

Built-in networks: ``bridge`` (our ``ballena0`` bridge, NAT, no embedded DNS, as Docker's
default), ``host`` (the host's namespace) and ``none`` (only ``lo``). User-defined bridge networks
add isolation from other networks and the embedded DNS server.

A container joins its networks between its creation and its start: the runtime has made its
network namespace and waits; we add a veth pair per network (``netlink``), the DNS listeners
for user networks, and the published ports (userland proxy for the host's own addresses, DNAT
in our nftables table for the rest); then it runs. All of it is re-created for running
containers when the daemon restarts, and released when a container stops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballena.core.containers import Container
from ballena.core.networks import Network
from ballena.errors import AlreadyExists, BallenaError, Conflict, Forbidden, InvalidArgument, NotFound
from ballena.network import ipam
from ballena.network.dns import EMBEDDED_ADDRESS, DNSServer
from ballena.network.netlink import Netlink
from ballena.network.nft import BridgeRules, Firewall, PortRule
from ballena.network.portproxy import Binding, PortProxy
from ballena.pkg.filters import Filters
from ballena.pkg.stringid import generate_id
from ballena.pkg.timeutil import now_ns, parse_api_timestamp
from ballena.services.events import EventBus
from ballena.stores.networks import NetworkStore

log = logging.getLogger("ballena.network")

DEFAULT_BRIDGE = "ballena0"
BUILTIN = ("bridge", "host", "none")
LIST_FILTERS = frozenset({"driver", "id", "label", "name", "scope", "type", "dangling"})
PRUNE_FILTERS = frozenset({"until", "label", "label!"})


@dataclass
class _Active:
    """What a running container holds on the host."""

    pid: int
    host_ifnames: dict[str, str] = field(default_factory=dict)  # network ID -> host veth
    ports: list[tuple[Binding, str]] = field(default_factory=list)  # binding, bridge
    dns: bool = False


class NetworkService:
    def __init__(
        self,
        *,
        store: NetworkStore,
        events: EventBus,
        containers: Callable[[], list[Container]],
        daemon_dns: tuple[str, ...] = (),
        bip: str = "",
        default_bridge: str = DEFAULT_BRIDGE,
        exec_root: Path | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.containers = containers
        self.daemon_dns = daemon_dns
        self.bip = bip
        self.default_bridge = default_bridge
        # One nftables table per default bridge, so that two daemons on one host (a test
        # daemon beside the system one) never rewrite each other's rules.
        suffix = "" if default_bridge == DEFAULT_BRIDGE else "_" + re.sub(r"[^A-Za-z0-9_]", "_", default_bridge)
        self.netlink = Netlink()
        self.firewall = Firewall(table="ballena" + suffix)
        self.proxy = PortProxy()
        self.dns = DNSServer(lookup=self._lookup, reverse=self._reverse, upstreams=self._upstreams)
        self._active: dict[str, _Active] = {}
        self._reserved: dict[str, list[tuple[Binding, socket.socket]]] = {}
        self._setup: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()

    # -- start-up -------------------------------------------------------------------------------

    def ensure_builtins(self) -> None:
        names = {n.name for n in self.store.all()}
        if "bridge" in names:
            current = self.by_name("bridge")
            if current.bridge != self.default_bridge:  # the daemon was restarted with another --bridge
                opts = {**current.options, "com.docker.network.bridge.name": self.default_bridge}
                self.store.update(Network(**{**_fields(current), "bridge": self.default_bridge, "options": opts}))
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if name not in names:
                opts = {}
                if name == "bridge":
                    opts = {
                        "com.docker.network.bridge.default_bridge": "true",
                        "com.docker.network.bridge.enable_icc": "true",
                        "com.docker.network.bridge.enable_ip_masquerade": "true",
                        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                        "com.docker.network.bridge.name": self.default_bridge,
                        "com.docker.network.driver.mtu": "1500",
                    }
                self.store.add(
                    Network(
                        id=generate_id(),
                        name=name,
                        driver=driver,
                        created_ns=now_ns(),
                        bridge=self.default_bridge if name == "bridge" else "",
                        options=opts,
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
            used = [n.subnet for n in self.store.all() if n.subnet] + await self.netlink.call(self.netlink.host_routes)
            if self.bip:
                iface = ipaddress.ip_interface(self.bip)
                subnet, gateway = str(iface.network), str(iface.ip)
            else:
                net = ipam.choose_subnet(used)
                subnet, gateway = str(net), str(next(net.hosts()))
            bridge = Network(**{**_fields(bridge), "subnet": subnet, "gateway": gateway})
            self.store.update(bridge)
        for n in self.store.all():
            if n.driver == "bridge":
                await self._ensure_bridge(n)
        _enable_forwarding()
        await self._apply_firewall()

    async def _ensure_bridge(self, n: Network) -> None:
        prefix = ipaddress.ip_network(n.subnet).prefixlen
        await self.netlink.call(self.netlink.ensure_bridge, n.bridge, n.gateway, prefix)

    async def _apply_firewall(self) -> None:
        bridges = [
            BridgeRules(ifname=n.bridge, subnet=n.subnet, internal=n.internal)
            for n in self.store.all()
            if n.driver == "bridge" and n.subnet
        ]
        ports = [
            PortRule(
                proto=b.proto,
                host_ip=b.host_ip,
                host_port=b.host_port,
                container_ip=b.container_ip,
                container_port=b.container_port,
                bridge=br,
            )
            for a in self._active.values()
            for b, br in a.ports
        ]
        await asyncio.to_thread(self.firewall.apply, bridges, ports)

    async def restore(self, running: list[Container]) -> None:
        """After a daemon restart: DNS listeners, port proxies and rules for running containers."""
        await self.ready()
        for c in running:
            if not c.state.pid:
                continue
            active = _Active(pid=c.state.pid)
            for ep in c.networks.values():
                if ep.get("_HostIf"):
                    active.host_ifnames[str(ep.get("NetworkID"))] = str(ep["_HostIf"])
            self._active[c.id] = active
            try:
                await self._start_dns(c)
                await self._publish(c, self._bindings_of(c))
            except BallenaError as e:
                log.warning("could not restore the network of %s: %s", c.name, e.message)
        await self._apply_firewall()

    async def shutdown(self) -> None:
        self.dns.stop_all()
        self.proxy.stop_all()
        self.netlink.close()

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

    def endpoints_of(self, n: Network) -> dict[str, dict[str, Any]]:
        out = {}
        for c in self.containers():
            ep = c.networks.get(n.name)
            if ep is not None and ep.get("IPAddress") and c.state.running:
                out[c.id] = {
                    "Name": c.name,
                    "EndpointID": ep.get("EndpointID", ""),
                    "MacAddress": ep.get("MacAddress", ""),
                    "IPv4Address": f"{ep['IPAddress']}/{ep.get('IPPrefixLen', 16)}",
                    "IPv6Address": "",
                }
        return out

    def _users(self, n: Network) -> list[Container]:
        return [
            c for c in self.containers() if n.name in c.networks or (c.host_config.get("NetworkMode") in (n.name, n.id))
        ]

    # -- API use cases ----------------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> Network:
        name = body.get("Name") or ""
        if not name:
            raise InvalidArgument("network name is required")
        driver = body.get("Driver") or "bridge"
        if driver in ("host", "null", "none"):
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver not in ("bridge",):
            raise NotFound(f'plugin "{driver}" not found')
        if any(n.name == name for n in self.store.all()):
            raise Conflict(f"network with name {name} already exists")
        await self.ready()
        nid = generate_id()
        options = dict(body.get("Options") or {})
        ipam_cfg = (body.get("IPAM") or {}).get("Config") or []
        subnet = gateway = ip_range = ""
        if ipam_cfg:
            first = ipam_cfg[0]
            subnet = first.get("Subnet") or ""
            gateway = first.get("Gateway") or ""
            ip_range = first.get("IPRange") or ""
        others = [n.subnet for n in self.store.all() if n.subnet]
        if subnet:
            net = ipam.parse_subnet(subnet)
            for o in others:
                if net.overlaps(ipaddress.ip_network(o)):
                    raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
        else:
            used = others + await self.netlink.call(self.netlink.host_routes)
            net = ipam.choose_subnet(used)
            subnet = str(net)
        if gateway:
            if ipaddress.ip_address(gateway) not in net:
                raise InvalidArgument(f"invalid gateway {gateway}: it is not in subnet {subnet}")
        else:
            gateway = str(next(net.hosts()))
        if ip_range and not ipam.parse_subnet(ip_range).subnet_of(net):  # type: ignore[arg-type]
            raise InvalidArgument(f"invalid ip-range {ip_range}: not a subnet of {subnet}")
        bridge = options.get("com.docker.network.bridge.name") or f"blna-{nid[:10]}"
        if len(bridge) > 15:
            raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
        n = Network(
            id=nid,
            name=name,
            driver="bridge",
            created_ns=now_ns(),
            subnet=subnet,
            gateway=gateway,
            ip_range=ip_range,
            bridge=bridge,
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            labels=dict(body.get("Labels") or {}),
            options=options,
        )
        try:
            self.store.add(n)
        except AlreadyExists as e:
            raise Conflict(e.message) from None
        try:
            await self._ensure_bridge(n)
            await self._apply_firewall()
        except BaseException:
            self.store.remove(n.id)
            await self.netlink.call(self.netlink.delete_link, n.bridge)
            raise
        self.events.publish("network", "create", n.id, {"name": n.name, "type": "bridge"})
        return n

    async def remove(self, ref: str) -> None:
        n = self.get(ref)
        if n.builtin:
            raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        if any(c.state.running for c in self._users(n)):
            raise Forbidden(f"error while removing network: network {n.name} id {n.id} has active endpoints")
        await self.ready()
        self.store.remove(n.id)
        await self.netlink.call(self.netlink.delete_link, n.bridge)
        await self._apply_firewall()
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
            if "type" in filters:
                kind = "builtin" if n.builtin else "custom"
                if kind not in filters.get("type"):
                    continue
            if "scope" in filters and "local" not in filters.get("scope"):
                continue
            dangling = filters.bool_value("dangling")
            if dangling is not None and (not n.builtin and not self._users(n)) != dangling:
                continue
            out.append(n)
        return out

    async def prune(self, filters: Filters) -> list[str]:
        until = min(parse_api_timestamp(v) for v in filters.get("until")) if "until" in filters else None
        removed = []
        for n in self.store.all():
            if n.builtin or self._users(n):
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

    def initial_endpoints(self, host_config: Mapping[str, Any], networking: Mapping[str, Any]) -> dict[str, Any]:
        """The networks a new container joins, with what the client asked for each (validated)."""
        mode = host_config.get("NetworkMode") or "bridge"
        if mode == "default":
            mode = "bridge"
        if mode in ("host", "none") or mode.startswith("container:"):
            if (networking or {}).get("EndpointsConfig"):
                extra = [k for k in networking["EndpointsConfig"] if k != mode]
                if extra:
                    raise InvalidArgument(
                        "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
                    )
            return {}
        n = self.get(mode)
        requested = {
            ("bridge" if k == "default" else k): v for k, v in ((networking or {}).get("EndpointsConfig") or {}).items()
        }
        out: dict[str, Any] = {}
        first_cfg = requested.pop(mode, None) or requested.pop(n.name, None) or requested.pop(n.id, None) or {}
        out[n.name] = self._requested(n, first_cfg)
        for name, cfg in requested.items():
            other = self.get(name)
            out[other.name] = self._requested(other, cfg or {})
        return out

    def _requested(self, n: Network, cfg: Mapping[str, Any]) -> dict[str, Any]:
        aliases = list(cfg.get("Aliases") or [])
        if aliases and not n.user_defined:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        ipam_cfg = cfg.get("IPAMConfig") or None
        if ipam_cfg and ipam_cfg.get("IPv4Address") and not n.user_defined:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if ipam_cfg and ipam_cfg.get("IPv4Address"):
            ipam.allocate(n.subnet, n.gateway, [], ip_range="", wanted=ipam_cfg["IPv4Address"])
        return {
            "IPAMConfig": ipam_cfg,
            "Links": cfg.get("Links") or None,
            "Aliases": aliases or None,
            "MacAddress": cfg.get("MacAddress") or "",
            "NetworkID": n.id,
        }

    def plan(self, c: Container) -> dict[str, Any]:
        """Addresses for each of the container's networks, before its start (so /etc/hosts can
        name them). Raises Conflict when a network is full or a wanted address is taken."""
        taken_by_net: dict[str, set[str]] = {}
        for other in self.containers():
            if other.id == c.id or not other.state.running:
                continue
            for ep in other.networks.values():
                if isinstance(ep, Mapping) and ep.get("IPAddress"):
                    taken_by_net.setdefault(str(ep.get("NetworkID")), set()).add(str(ep["IPAddress"]))
        out: dict[str, Any] = {}
        for name, ep in c.networks.items():
            try:
                n = self.get(str(ep.get("NetworkID") or name))
            except NotFound:
                n = self.by_name(name)
            wanted = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
            ip = ipam.allocate(n.subnet, n.gateway, taken_by_net.get(n.id, set()), ip_range=n.ip_range, wanted=wanted)
            taken_by_net.setdefault(n.id, set()).add(ip)
            dns_names = [c.name, c.id[:12], *(ep.get("Aliases") or [])] if n.user_defined else None
            out[n.name] = {
                **{k: v for k, v in ep.items() if not k.startswith("_")},
                "NetworkID": n.id,
                "EndpointID": generate_id(),
                "Gateway": n.gateway,
                "IPAddress": ip,
                "IPPrefixLen": ipaddress.ip_network(n.subnet).prefixlen,
                "MacAddress": ep.get("MacAddress") or c.config.get("MacAddress") or ipam.mac_for(ip),
                "DNSNames": dns_names,
                "_HostIf": "blnv" + generate_id()[:10],
            }
        return out

    def needs_setup(self, c: Container) -> bool:
        return bool(c.networks)

    async def attach(self, c: Container, pid: int) -> None:
        """Connect the created (not yet running) container ``c`` (its init is ``pid``)."""
        await self.ready()
        active = _Active(pid=pid)
        self._active[c.id] = active
        first = True
        want_dns = any(self._is_user_network(ep) for ep in c.networks.values())
        for ep in c.networks.values():
            n = self.get(str(ep["NetworkID"]))
            ifname = "eth0" if first else await self.netlink.call(self.netlink.next_ifname, pid)
            await self._wire(c.id, active, n, ep, ifname, default_route=first and not n.internal,
                             with_dns=first and want_dns)  # fmt: skip
            first = False
            self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        bindings = self._reserved.pop(c.id, [])
        await self._publish(c, [b for b, _ in bindings], sockets=[s for _, s in bindings])
        if active.ports:
            await self._apply_firewall()

    async def _wire(
        self,
        cid: str,
        active: _Active,
        n: Network,
        ep: Mapping[str, Any],
        ifname: str,
        *,
        default_route: bool,
        with_dns: bool,
    ) -> None:
        """Give the container an interface on ``n`` (and, with ``with_dns``, its embedded DNS
        server, whose sockets are bound during the same visit to its namespace)."""
        dns = await self.netlink.call(
            lambda: self.netlink.attach(
                pid=active.pid,
                bridge=n.bridge,
                host_ifname=ep["_HostIf"],
                ip=ep["IPAddress"],
                prefix=ep["IPPrefixLen"],
                gateway=n.gateway,
                mac=ep["MacAddress"],
                ifname=ifname,
                default_route=default_route,
                dns_address=EMBEDDED_ADDRESS if with_dns else None,
            )
        )
        if dns is not None:
            await self.dns.serve(cid, *dns)
            active.dns = True
        active.host_ifnames[n.id] = ep["_HostIf"]

    async def _start_dns(self, c: Container) -> None:
        if not any(self._is_user_network(ep) for ep in c.networks.values()):
            return
        active = self._active.get(c.id)
        if active is None:
            return
        udp, tcp = await self.netlink.call(self.netlink.dns_sockets_in, active.pid, EMBEDDED_ADDRESS)
        await self.dns.serve(c.id, udp, tcp)
        active.dns = True

    def _is_user_network(self, ep: Mapping[str, Any]) -> bool:
        try:
            return self.get(str(ep.get("NetworkID"))).user_defined
        except NotFound:
            return False

    async def release(self, c: Container) -> None:
        """The container stopped: free its addresses, listeners, ports and rules."""
        active = self._active.pop(c.id, None)
        for _b, s in self._reserved.pop(c.id, []):
            s.close()
        self.dns.stop(c.id)
        if active is None:
            return
        for b, _bridge in active.ports:
            self.proxy.stop(b.proto, b.host_ip, b.host_port)
        # Usually no veth to delete: the container's init is gone, its namespace dies with the
        # last reference (the DNS sockets, closed above), and the kernel then removes both ends
        # of each pair by itself; deleting them here would cost ~17 ms per container on its way
        # out. Only when another container still lives in this namespace (--network
        # container:<this>) would the pair outlive it, with an address we are about to reuse.
        shared = any(
            other.state.running
            and (other.host_config.get("NetworkMode") or "") in (f"container:{c.id}", f"container:{c.name}")
            for other in self.containers()
            if other.id != c.id
        )
        for nid, ifname in active.host_ifnames.items():
            if shared:
                await self.netlink.call(self.netlink.delete_link, ifname)
            try:
                n = self.get(nid)
                self.events.publish(
                    "network", "disconnect", n.id, {"container": c.id, "name": n.name, "type": n.driver}
                )
            except NotFound:
                pass
        if active.ports:
            await self._apply_firewall()

    # -- published ports ----------------------------------------------------------------------------

    def reserve_ports(self, c: Container) -> dict[str, list[dict[str, str]]]:
        """Bind every published host port now, so a taken one fails the start before anything
        runs. Returns NetworkSettings.Ports."""
        hc = c.host_config
        bindings = dict(hc.get("PortBindings") or {})
        if hc.get("PublishAllPorts"):
            for port in c.config.get("ExposedPorts") or {}:
                bindings.setdefault(port, [{"HostIp": "", "HostPort": ""}])
        ip = next((ep.get("IPAddress") for ep in c.networks.values() if ep.get("IPAddress")), "")
        reserved: list[tuple[Binding, socket.socket]] = []
        result: dict[str, list[dict[str, str]]] = {}
        try:
            for key, items in bindings.items():
                port, _, proto = key.partition("/")
                proto = proto or "tcp"
                for item in items or [{"HostIp": "", "HostPort": ""}]:
                    host_ip = item.get("HostIp") or ""
                    host_port = int(item.get("HostPort") or 0)
                    try:
                        sock = self.proxy.reserve(proto, host_ip, host_port)
                    except Conflict as e:
                        raise Conflict(
                            f"driver failed programming external connectivity on endpoint {c.name} "
                            f"({c.id[:12]}): {e.message}"
                        ) from None
                    actual = sock.getsockname()[1]
                    b = Binding(
                        proto=proto, host_ip=host_ip, host_port=actual, container_ip=ip, container_port=int(port)
                    )
                    reserved.append((b, sock))
                    result.setdefault(key, []).append({"HostIp": host_ip or "0.0.0.0", "HostPort": str(actual)})
        except BaseException:
            for _b, s in reserved:
                s.close()
            raise
        if reserved:
            self._reserved[c.id] = reserved
        for key in c.config.get("ExposedPorts") or {}:
            result.setdefault(key, [])
        return result

    def _bindings_of(self, c: Container) -> list[Binding]:
        ip = next((ep.get("IPAddress") for ep in c.networks.values() if ep.get("IPAddress")), "")
        out = []
        for key, items in (c.ports or {}).items():
            port, _, proto = key.partition("/")
            for item in items or []:
                host_ip = item.get("HostIp") or ""
                out.append(
                    Binding(
                        proto=proto or "tcp",
                        host_ip="" if host_ip == "0.0.0.0" else host_ip,
                        host_port=int(item["HostPort"]),
                        container_ip=ip,
                        container_port=int(port),
                    )
                )
        return out

    async def _publish(self, c: Container, bindings: list[Binding], sockets: list[socket.socket] | None = None) -> None:
        active = self._active.get(c.id)
        if active is None or not bindings:
            return
        bridge = ""
        for ep in c.networks.values():
            if ep.get("IPAddress"):
                bridge = self.get(str(ep["NetworkID"])).bridge
                break
        for i, b in enumerate(bindings):
            sock = sockets[i] if sockets else self.proxy.reserve(b.proto, b.host_ip, b.host_port)
            await self.proxy.start(b, sock)
            active.ports.append((b, bridge))

    # -- live connect / disconnect ----------------------------------------------------------------

    async def connect(self, c: Container, n: Network, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """Returns the container's new ``networks`` mapping (the caller persists it)."""
        if n.driver != "bridge":
            raise InvalidArgument("container cannot be disconnected from host network or connected to host network")
        mode = c.host_config.get("NetworkMode") or ""
        if mode in ("host", "none") or mode.startswith("container:"):
            raise InvalidArgument(
                "container sharing network namespace with another container or host cannot be "
                "connected to any other network"
            )
        if n.name in c.networks:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        networks = dict(c.networks)
        networks[n.name] = self._requested(n, cfg)
        if c.state.running and c.id in self._active:
            planned = self.plan(type(c)(**{**_fields(c), "networks": {n.name: networks[n.name]}}))
            ep = planned[n.name]
            active = self._active[c.id]
            ifname = await self.netlink.call(self.netlink.next_ifname, active.pid)
            await self._wire(c.id, active, n, ep, ifname, default_route=False,
                             with_dns=n.user_defined and not active.dns)  # fmt: skip
            ep["_IfName"] = ifname
            networks[n.name] = ep
        self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        return networks

    async def disconnect(self, c: Container, n: Network) -> dict[str, Any]:
        if n.name not in c.networks:
            raise Forbidden(f"container {c.id} is not connected to network {n.name}")
        networks = dict(c.networks)
        ep = networks.pop(n.name)
        active = self._active.get(c.id)
        if active is not None:
            ifname = ep.get("_IfName") or "eth0"
            try:
                await self.netlink.call(self.netlink.detach_in, active.pid, ifname)
            except (OSError, BallenaError):
                pass
            await self.netlink.call(self.netlink.delete_link, str(ep.get("_HostIf") or ""))
            active.host_ifnames.pop(n.id, None)
        self.events.publish("network", "disconnect", n.id, {"container": c.id, "name": n.name, "type": n.driver})
        return networks

    # -- the embedded DNS ---------------------------------------------------------------------------

    def _peers(self, asking: str) -> tuple[Container | None, list[tuple[str, Container, Mapping[str, Any]]]]:
        everyone = self.containers()
        me = next((c for c in everyone if c.id == asking), None)
        if me is None:
            return None, []
        mine = {str(ep.get("NetworkID")) for ep in me.networks.values() if self._is_user_network(ep)}
        out = []
        for other in everyone:
            if not other.state.running:
                continue
            for ep in other.networks.values():
                nid = str(ep.get("NetworkID"))
                if nid in mine and ep.get("IPAddress"):
                    out.append((nid, other, ep))
        return me, out

    def _lookup(self, asking: str, name: str) -> list[str]:
        me, peers = self._peers(asking)
        if me is None:
            return []
        links = {}
        for ep in me.networks.values():
            for link in ep.get("Links") or []:
                target, _, alias = link.partition(":")
                links[(alias or target).lower()] = target.lower()
        for link in me.host_config.get("Links") or []:
            target, _, alias = link.partition(":")
            links[alias.rsplit("/", 1)[-1].lower() if alias else target.lower()] = target.lstrip("/").lower()
        wanted = links.get(name, name)
        found: list[str] = []
        for _nid, other, ep in peers:
            names = {other.name.lower(), other.id[:12], other.id}
            names.update(a.lower() for a in ep.get("Aliases") or [])
            if wanted in names or name in names:
                ip = str(ep["IPAddress"])
                if ip not in found:
                    found.append(ip)
        return found

    def _reverse(self, asking: str, ip: str) -> str | None:
        _me, peers = self._peers(asking)
        for nid, other, ep in peers:
            if ep.get("IPAddress") == ip:
                try:
                    return f"{other.name}.{self.get(nid).name}"
                except NotFound:
                    return other.name
        return None

    def _upstreams(self, asking: str) -> list[str]:
        me = next((c for c in self.containers() if c.id == asking), None)
        servers = list((me.host_config.get("Dns") if me else None) or []) or list(self.daemon_dns)
        if not servers:
            try:
                text = Path("/etc/resolv.conf").read_text()
            except OSError:
                text = ""
            servers = [
                line.split()[1] for line in text.splitlines() if line.startswith("nameserver") and len(line.split()) > 1
            ]
        return servers

    def resolv_conf(self, c: Container) -> str | None:
        """User networks use the embedded server; others the usual file (None)."""
        if not any(self._is_user_network(ep) for ep in c.networks.values()):
            return None
        hc = c.host_config
        lines = [f"nameserver {EMBEDDED_ADDRESS}"]
        search = list(hc.get("DnsSearch") or [])
        if search:
            lines.append("search " + " ".join(search))
        options = ["ndots:0", *[o for o in hc.get("DnsOptions") or [] if not o.startswith("ndots:")]]
        lines.append("options " + " ".join(options))
        return "\n".join(lines) + "\n"

    def hosts_entries(self, c: Container) -> str:
        """``--link`` entries for /etc/hosts (default bridge links work through this file)."""
        out = []
        everyone = {x.name: x for x in self.containers()}
        for link in c.host_config.get("Links") or []:
            target, _, alias = link.partition(":")
            other = everyone.get(target.lstrip("/"))
            if other is None:
                continue
            ip = next((ep.get("IPAddress") for ep in other.networks.values() if ep.get("IPAddress")), "")
            if ip:
                names = [alias.rsplit("/", 1)[-1]] if alias else []
                out.append(f"{ip}\t{' '.join([*names, other.name, other.id[:12]])}\n")
        return "".join(out)

    def host_gateway(self) -> str:
        try:
            return self.by_name("bridge").gateway
        except NotFound:
            return ""


def _fields(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def _enable_forwarding() -> None:
    """Routing between bridges and out of the host needs IP forwarding (dockerd sets it too)."""
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            if f.read().strip() == "1":
                return
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
    except OSError as e:
        log.warning("could not enable IP forwarding: %s", e)


__all__ = ["NetworkService", "os"]
