"""The files every container gets bind-mounted over its own, as Docker writes them:
``/etc/hostname``, ``/etc/hosts`` (localhost, the container's own addresses, ``--add-host``,
``--link`` on the default bridge) and ``/etc/resolv.conf`` (the embedded DNS server's on user
networks, else the host's servers minus loopback ones, or the daemon's ``--dns``).
"""

from __future__ import annotations

from pathlib import Path

from ballena.core.containers import Container
from ballena.pkg.atomicfile import write_bytes
from ballena.services.containers.layout import DnsDefaults
from ballena.services.sandboxes import Sandboxes
from ballena.stores.containers import ContainerStore

__all__ = ["EtcFiles"]

_LOCALHOST_HOSTS = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)


class EtcFiles:
    def __init__(self, *, store: ContainerStore, sandboxes: Sandboxes | None, dns: DnsDefaults) -> None:
        self.store = store
        self.sandboxes = sandboxes
        self.dns = dns

    def write(self, c: Container, hostname: str) -> None:
        """The container's hostname, hosts and resolv.conf (bind-mounted over its own)."""
        cdir = self.store.dir(c.id)
        net_mode = c.host_config.network_mode or "default"
        domain = c.config.domainname
        fqdn = f"{hostname}.{domain}" if domain else hostname
        write_bytes(cdir / "hostname", f"{hostname}\n".encode(), durable=False)
        if net_mode == "host":
            try:
                hosts = Path("/etc/hosts").read_text()
            except OSError:
                hosts = "127.0.0.1\tlocalhost\n"
        else:
            hosts = _LOCALHOST_HOSTS
            names = f"{fqdn}" + (f" {hostname}" if fqdn != hostname else "")
            ep = next((ep for ep in c.networks.values() if ep.ip_address), None)
            if ep is not None:
                hosts += f"{ep.ip_address}\t{names}\n"
                if ep.global_ipv6_address:
                    hosts += f"{ep.global_ipv6_address}\t{names}\n"
        for entry in c.host_config.extra_hosts or ():
            host, _, addr = entry.partition("=" if "=" in entry else ":")
            if addr == "host-gateway":
                addr = self.sandboxes.host_gateway() if self.sandboxes is not None else ""
            if addr:
                hosts += f"{addr}\t{host}\n"
        if self.sandboxes is not None:
            hosts += self.sandboxes.hosts_entries(c)
        write_bytes(cdir / "hosts", hosts.encode(), durable=False)
        write_bytes(cdir / "resolv.conf", self.resolv_conf(c, net_mode).encode(), durable=False)

    def resolv_conf(self, c: Container, net_mode: str) -> str:
        """The container's resolv.conf: the embedded server's on user networks, else the
        host's servers (but loopback ones, unless on the host's network) or the daemon's."""
        hc = c.host_config
        if self.sandboxes is not None:
            text = self.sandboxes.resolv_conf(c)
            if text is not None:
                return text
        try:
            host = Path("/etc/resolv.conf").read_text()
        except OSError:
            host = ""
        servers = list(hc.dns or ()) or list(self.dns.servers)
        search = list(hc.dns_search or ()) or list(self.dns.search)
        options = list(hc.dns_options or ()) or list(self.dns.options)
        host_servers = [
            line.split()[1] for line in host.splitlines() if line.startswith("nameserver") and len(line.split()) > 1
        ]
        if not servers:
            if net_mode == "host":
                servers = host_servers
            else:
                servers = [s for s in host_servers if not s.startswith("127.") and s != "::1"] or ["8.8.8.8", "8.8.4.4"]
        if not search:
            search = [w for line in host.splitlines() if line.startswith("search") for w in line.split()[1:]]
        if not options:
            options = [w for line in host.splitlines() if line.startswith("options") for w in line.split()[1:]]
        lines = [f"nameserver {s}" for s in servers]
        if search:
            lines.append("search " + " ".join(search))
        if options:
            lines.append("options " + " ".join(options))
        return "\n".join(lines) + "\n"

    def refresh_resolv_conf(self, c: Container) -> None:
        """Rewrite a running container's resolv.conf (after it joined a user network). In
        place: the container sees the file through a bind mount of this very inode."""
        text = self.resolv_conf(c, c.host_config.network_mode or "default")
        with open(self.store.dir(c.id) / "resolv.conf", "r+") as f:
            f.write(text)
            f.truncate()
