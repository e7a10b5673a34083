"""Netlink work (pyroute2) on one dedicated thread.

pyroute2 opens its netlink socket in whatever network namespace the calling thread is in, and
a socket made in a container's namespace acts there for good. So every call runs on this one
thread: host operations through a socket made in the host namespace at start-up, and work inside
a container through a *fresh* socket made after ``setns`` into the container and closed before
``setns`` back. Each switch is checked against the namespaces' inode numbers, and an in-container
socket is checked to see the container's interfaces, not the host's.

pyroute2 takes about a second to import here, so it is loaded on this thread in the background
while the daemon already serves the API.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from ballena.errors import SystemFailure
from ballena.pkg import linux

T = TypeVar("T")

_IFA_F_NODAD = 0x02  # linux/if_addr.h


def _ns_inode(path: str) -> int:
    return os.stat(path).st_ino


class Netlink:
    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")
        self._ipr: Any = None
        self._host_ns = 0
        self.ready = self._pool.submit(self._init)

    def _init(self) -> None:
        from pyroute2 import IPRoute  # ~1 s: kept off the daemon's start-up path

        self._host_ns = _ns_inode("/proc/thread-self/ns/net")
        self._ipr = IPRoute()
        self._ipr.get_links()  # make the socket now, in the host namespace

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        await asyncio.wrap_future(self.ready)
        return await loop.run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        def close() -> None:
            if self._ipr is not None:
                self._ipr.close()

        self._pool.submit(close)
        self._pool.shutdown(wait=True)

    # -- in the host namespace ------------------------------------------------------------------

    def _check_host(self) -> None:
        if _ns_inode("/proc/thread-self/ns/net") != self._host_ns:
            raise SystemFailure("netlink worker is not in the host network namespace")

    def index(self, name: str) -> int | None:
        """The index of interface ``name`` in this thread's namespace (the host's): an ioctl,
        where netlink's lookup dumps every link of the host and costs a start 0.3 ms."""
        return _index_here(name)

    def host_routes(self) -> list[str]:
        self._check_host()
        out = []
        for r in self._ipr.get_routes(family=socket.AF_INET):
            dst = r.get_attr("RTA_DST")
            if dst:
                out.append(f"{dst}/{r['dst_len']}")
        for a in self._ipr.get_addr(family=socket.AF_INET):
            out.append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        return out

    def ensure_bridge(self, name: str, addresses: list[tuple[str, int]], mtu: int = 0) -> None:
        """The bridge ``name`` exists, holds ``addresses`` (its gateways), has ``mtu`` (when
        not 0) and is up."""
        self._check_host()
        idx = self.index(name)
        if idx is None:
            self._ipr.link("add", ifname=name, kind="bridge")
            idx = self.index(name)
        assert idx is not None
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in self._ipr.get_addr(index=idx)}
        for address, prefix in addresses:
            if (address, prefix) not in have:
                self._ipr.addr("add", index=idx, address=address, prefixlen=prefix, flags=_IFA_F_NODAD)
        if mtu:
            self._ipr.link("set", index=idx, mtu=mtu)
        self._ipr.link("set", index=idx, state="up")

    def ipv4_of(self, name: str) -> str | None:
        """The first IPv4 address of interface ``name`` as ``address/prefix``, or None."""
        self._check_host()
        idx = self.index(name)
        if idx is None:
            return None
        for a in self._ipr.get_addr(index=idx, family=socket.AF_INET):
            return f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
        return None

    def delete_link(self, name: str) -> None:
        self._check_host()
        idx = self.index(name)
        if idx is not None:
            try:
                self._ipr.link("del", index=idx)
            except Exception:
                pass

    def link_kind(self, name: str) -> str | None:
        """What kind of interface ``name`` is (``bridge``, ``veth``, ``""`` for a physical
        one), or None when there is none."""
        self._check_host()
        idx = self.index(name)
        if idx is None:
            return None
        link = self._ipr.get_links(idx)[0]
        info = link.get_attr("IFLA_LINKINFO")
        return str(info.get_attr("IFLA_INFO_KIND") or "") if info is not None else ""

    def link_exists(self, name: str) -> bool:
        self._check_host()
        return self.index(name) is not None

    # -- a container's namespace --------------------------------------------------------------------

    def _in_namespace(self, pid: int, fn: Callable[[Any], T], *, netlink: bool = True) -> T:
        """Run ``fn`` on this thread inside ``pid``'s network namespace, then come back.

        ``fn`` gets a fresh IPRoute made inside the namespace (or None when ``netlink`` is
        false: sockets made in there need no netlink)."""
        self._check_host()
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target_ino = os.fstat(target).st_ino
            linux.setns(target, linux.CLONE_NEWNET)
            try:
                if _ns_inode("/proc/thread-self/ns/net") != target_ino:
                    raise SystemFailure("setns into the container's network namespace did not take")
                if not netlink:
                    return fn(None)
                from pyroute2 import IPRoute

                inner = IPRoute()
                try:
                    return fn(inner)
                finally:
                    inner.close()
            finally:
                linux.setns(host, linux.CLONE_NEWNET)
                self._check_host()
        finally:
            os.close(target)
            os.close(host)

    def attach(
        self,
        *,
        pid: int,
        bridge: str,
        host_ifname: str,
        addresses: list[tuple[str, int]],
        gateways: list[str],
        mac: str,
        ifname: str = "eth0",
        mtu: int = 0,
        dns_address: str | None = None,
    ) -> tuple[socket.socket, socket.socket] | None:
        """A veth pair: one end on ``bridge``, the other as ``ifname`` in the container with
        ``addresses`` (IPv4 and IPv6, with their prefix lengths) and default routes through
        ``gateways`` (none for a second network, or an internal one).

        One request makes the pair with the container's end already in its namespace and
        holding its MAC, and the host's end enslaved and up. With ``dns_address``, also binds
        the embedded DNS server's UDP and TCP sockets in there (same visit) and returns them.
        """
        self._check_host()
        master = self.index(bridge)
        if master is None:
            raise SystemFailure(f"bridge {bridge} does not exist")
        extra = {"mtu": mtu} if mtu else {}
        self._ipr.link(
            "add",
            ifname=host_ifname,
            kind="veth",
            master=master,
            state="up",
            peer={"ifname": ifname, "net_ns_pid": pid, "address": mac, **extra},
            **extra,
        )

        def configure(inner: Any) -> tuple[socket.socket, socket.socket] | None:
            # Ioctls, in the namespace this thread is in (a netlink dump of the links costs 0.5
            # ms more). Seeing the bridge, not our veth end, would mean we stayed in the host.
            i = _index_here(ifname)
            if i is None or _index_here(bridge) is not None:
                raise SystemFailure("netlink socket is not in the container's network namespace")
            for address, prefix in addresses:
                # No duplicate address detection: the address is ours (reserved), and DAD
                # would leave an IPv6 address unusable for a second or more.
                inner.addr("add", index=i, address=address, prefixlen=prefix, flags=_IFA_F_NODAD)
            inner.link("set", index=i, state="up")
            for gateway in gateways:
                dst = "::/0" if ":" in gateway else "0.0.0.0/0"
                inner.route(
                    "add", dst=dst, gateway=gateway, family=socket.AF_INET6 if ":" in gateway else socket.AF_INET
                )
            if dns_address is None:
                return None
            return _bound(socket.SOCK_DGRAM, dns_address), _bound(socket.SOCK_STREAM, dns_address)

        return self._in_namespace(pid, configure)

    def detach_in(self, pid: int, ifname: str) -> None:
        def remove(inner: Any) -> None:
            found = inner.link_lookup(ifname=ifname)
            if found:
                inner.link("del", index=found[0])

        self._in_namespace(pid, remove)

    def next_ifname(self, pid: int) -> str:
        def pick(inner: Any) -> str:
            names = {link.get_attr("IFLA_IFNAME") for link in inner.get_links()}
            i = 0
            while f"eth{i}" in names:
                i += 1
            return f"eth{i}"

        return self._in_namespace(pid, pick)

    def dns_sockets_in(self, pid: int, address: str) -> tuple[socket.socket, socket.socket]:
        """The embedded DNS server's UDP and TCP sockets, bound inside the container's namespace."""
        return self._in_namespace(
            pid, lambda _: (_bound(socket.SOCK_DGRAM, address), _bound(socket.SOCK_STREAM, address)), netlink=False
        )


def _bound(kind: int, address: str, port: int = 53) -> socket.socket:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def _index_here(name: str) -> int | None:
    """The index of interface ``name`` in the calling thread's network namespace, or None."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None
