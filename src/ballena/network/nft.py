"""Our nftables table ``ballena``: NAT for outbound traffic, forwarding for our bridges,
isolation between networks, and DNAT for published ports. The whole table is rewritten
atomically from the daemon's state (``nft -f`` runs one transaction), so it can never drift.

Bridged traffic goes through netfilter here (``bridge-nf-call-iptables=1``), hence the forward
rules, as Docker adds to FORWARD.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from ballena.errors import SystemFailure

TABLE = "ballena"  # the system daemon's; others are named after their bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeRules:
    ifname: str
    subnet: str
    internal: bool = False  # no traffic in or out of the bridge but between its containers
    icc: bool = True  # its containers may talk to each other
    masquerade: bool = True  # NAT for traffic leaving the host


@dataclass(frozen=True, slots=True, kw_only=True)
class PortRule:
    proto: str  # tcp | udp
    host_ip: str  # "" for any address
    host_port: int
    container_ip: str
    container_port: int
    bridge: str


def render(bridges: Iterable[BridgeRules], ports: Iterable[PortRule], table: str = TABLE) -> str:
    bridges = list(bridges)
    ports = list(ports)
    names = [b.ifname for b in bridges]
    lines = [f"table ip {table} {{"]
    lines.append("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;")
    lines.append("    fib daddr type local jump published")
    lines.append("  }")
    lines.append("  chain output {\n    type nat hook output priority -100; policy accept;")
    # Loopback destinations go to the userland proxy; others are DNATed like external traffic.
    lines.append("    ip daddr != 127.0.0.0/8 fib daddr type local jump published")
    lines.append("  }")
    lines.append("  chain published {")
    for p in ports:
        match = f"ip daddr {p.host_ip} " if p.host_ip and p.host_ip != "0.0.0.0" else ""
        lines.append(
            f'    iifname != "{p.bridge}" {match}{p.proto} dport {p.host_port} '
            f"dnat to {p.container_ip}:{p.container_port}"
        )
    lines.append("  }")
    lines.append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;")
    for b in bridges:
        if not b.internal and b.masquerade:
            lines.append(f'    ip saddr {b.subnet} oifname != "{b.ifname}" masquerade')
    for p in ports:
        # Hairpin: a container reaching its own published port through the host.
        lines.append(
            f"    ip saddr {p.container_ip} ip daddr {p.container_ip} {p.proto} dport {p.container_port} masquerade"
        )
    lines.append("  }")
    lines.append("  chain forward {\n    type filter hook forward priority filter - 1; policy accept;")
    if names:
        ours = ", ".join(f'"{n}"' for n in names)
        for b in bridges:
            others = [n for n in names if n != b.ifname]
            if others:
                lines.append(
                    f'    iifname "{b.ifname}" oifname {{ {", ".join(chr(34) + o + chr(34) for o in others)} }} drop'
                )
            if b.internal:
                lines.append(f'    iifname "{b.ifname}" oifname != "{b.ifname}" drop')
                lines.append(f'    oifname "{b.ifname}" iifname != "{b.ifname}" drop')
            if not b.icc:
                lines.append(f'    iifname "{b.ifname}" oifname "{b.ifname}" drop')
        lines.append(f"    oifname {{ {ours} }} ct state established,related accept")
        lines.append(f"    iifname {{ {ours} }} accept")
        lines.append(f"    oifname {{ {ours} }} ct status dnat accept")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


class Firewall:
    def __init__(self, table: str = TABLE) -> None:
        self.table = table
        self.nft = shutil.which("nft")
        self._last = ""

    def apply(self, bridges: Iterable[BridgeRules], ports: Iterable[PortRule]) -> None:
        """Replace our table in one transaction. Raises SystemFailure when nft refuses."""
        text = render(bridges, ports, self.table)
        if text == self._last:
            return
        if self.nft is None:
            raise SystemFailure("nft (nftables) is needed for bridge networks: apt-get install nftables")
        script = f"table ip {self.table}\ndelete table ip {self.table}\n{text}"
        res = subprocess.run([self.nft, "-f", "-"], input=script.encode(), capture_output=True)
        if res.returncode != 0:
            raise SystemFailure(f"nftables: {res.stderr.decode().strip()}")
        self._last = text

    def remove(self) -> None:
        if self.nft is None:
            return
        subprocess.run(
            [self.nft, "-f", "-"],
            input=f"table ip {self.table}\ndelete table ip {self.table}\n".encode(),
            capture_output=True,
        )
        self._last = ""
