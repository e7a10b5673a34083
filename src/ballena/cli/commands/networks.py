"""``network create/ls/inspect/rm/prune/connect/disconnect``."""

from __future__ import annotations

import sys

from ballena.cli.common import filters_param, flags, out, render
from ballena.cli.display import short_id
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any


def create(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NETWORK", min_args=1, max_args=1)
    p.str("driver", "d", "Driver to manage the Network", default="bridge")
    p.list("subnet", None, "Subnet in CIDR format that represents a network segment")
    p.list("gateway", None, "IPv4 or IPv6 Gateway for the master subnet")
    p.list("ip-range", None, "Allocate container ip from a sub-range")
    p.bool("internal", None, "Restrict external access to the network")
    p.bool("attachable", None, "Enable manual container attachment")
    p.list("label", None, "Set metadata on a network")
    p.list("opt", "o", "Set driver specific options")
    p.bool("ipv6", None, "Enable or disable IPv6 networking")
    a = p.parse(argv)
    ipam: dict[str, Any] = {"Driver": "default", "Config": []}
    for i, subnet in enumerate(a.subnet or []):
        cfg = {"Subnet": subnet}
        if a.gateway and i < len(a.gateway):
            cfg["Gateway"] = a.gateway[i]
        if a.ip_range and i < len(a.ip_range):
            cfg["IPRange"] = a.ip_range[i]
        ipam["Config"].append(cfg)
    body = {
        "Name": a.args[0],
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "IPAM": ipam,
        "EnableIPv6": a.ipv6,
        "Options": dict(o.split("=", 1) for o in a.opt or []),
        "Labels": dict(lbl.split("=", 1) if "=" in lbl else (lbl, "") for lbl in a.label or []),
    }
    out(client.post("/networks/create", body=body)["Id"])
    return 0


def ls(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("quiet", "q", "Only display network IDs")
    p.bool("no-trunc", None, "Do not truncate the output")
    p.list("filter", "f", 'Provide filter values (e.g. "driver=bridge")')
    p.str("format", None, "Format output using a custom template")
    a = p.parse(argv)
    nets = client.get("/networks", params={"filters": filters_param(a.filter)}) or []
    rows = [
        {
            "ID": short_id(n["Id"], a.no_trunc),
            "Name": n["Name"],
            "Driver": n["Driver"],
            "Scope": n["Scope"],
            "IPv6": str(n.get("EnableIPv6", False)).lower(),
            "Internal": str(n.get("Internal", False)).lower(),
            "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items()),
            "CreatedAt": n.get("Created", ""),
        }
        for n in nets
    ]
    if a.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    out(
        render(
            rows,
            a.format,
            default="table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
            headers={
                "ID": "NETWORK ID",
                "Name": "NAME",
                "Driver": "DRIVER",
                "Scope": "SCOPE",
                "IPv6": "IPV6",
                "Internal": "INTERNAL",
                "Labels": "LABELS",
                "CreatedAt": "CREATED",
            },
        )
    )
    return 0


def inspect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NETWORK [NETWORK...]", min_args=1)
    p.str("format", "f", "Format output using a custom template")
    p.bool("verbose", "v", "Verbose output for diagnostics")
    a = p.parse(argv)
    from ballena.cli.commands.inspect import print_inspected

    results, errors = [], []
    for n in a.args:
        try:
            results.append(client.get(f"/networks/{n}"))
        except APIError as e:
            errors.append(f"Error response from daemon: {e.message}")
    return print_inspected(results, errors, a.format)


def rm(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} NETWORK [NETWORK...]", min_args=1)
    p.bool("force", "f", "Do not error if the network does not exist")
    a = p.parse(argv)
    code = 0
    for n in a.args:
        try:
            client.delete(f"/networks/{n}")
            out(n)
        except APIError as e:
            if a.force and e.status == 404:
                continue
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
    return code


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("force", "f", "Do not prompt for confirmation")
    p.list("filter", None, 'Provide filter values (e.g. "until=<timestamp>")')
    a = p.parse(argv)
    from ballena.cli.commands.images import confirm

    if not a.force and not confirm("WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    rep = client.post("/networks/prune", params={"filters": filters_param(a.filter)}) or {}
    if rep.get("NetworksDeleted"):
        out("Deleted Networks:")
        for n in rep["NetworksDeleted"]:
            out(n)
    return 0


def connect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NETWORK CONTAINER", min_args=2, max_args=2)
    p.list("alias", None, "Add network-scoped alias for the container")
    p.str("ip", None, 'IPv4 address (e.g., "172.30.100.104")')
    p.list("link", None, "Add link to another container")
    a = p.parse(argv)
    cfg: dict[str, Any] = {}
    if a.alias:
        cfg["Aliases"] = a.alias
    if a.ip:
        cfg["IPAMConfig"] = {"IPv4Address": a.ip}
    if a.link:
        cfg["Links"] = a.link
    client.post(f"/networks/{a.args[0]}/connect", body={"Container": a.args[1], "EndpointConfig": cfg})
    return 0


def disconnect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NETWORK CONTAINER", min_args=2, max_args=2)
    p.bool("force", "f", "Force the container to disconnect from a network")
    a = p.parse(argv)
    client.post(f"/networks/{a.args[0]}/disconnect", body={"Container": a.args[1], "Force": a.force})
    return 0
