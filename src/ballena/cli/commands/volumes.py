"""``volume create/ls/inspect/rm/prune``."""

from __future__ import annotations

import sys

from ballena.cli.common import filters_param, flags, out, render
from ballena.client.api import APIError, Client


def create(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] [VOLUME]", max_args=1)
    p.str("driver", "d", "Specify volume driver name", default="local")
    p.list("opt", "o", "Set driver specific options")
    p.list("label", None, "Set metadata for a volume")
    p.str("name", None, "Specify volume name")
    a = p.parse(argv)
    opts = dict(o.split("=", 1) if "=" in o else (o, "") for o in a.opt or [])
    labels = dict(lbl.split("=", 1) if "=" in lbl else (lbl, "") for lbl in a.label or [])
    name = a.args[0] if a.args else a.name
    v = client.post(
        "/volumes/create", body={"Name": name or "", "Driver": a.driver, "DriverOpts": opts, "Labels": labels}
    )
    out(v["Name"])
    return 0


def ls(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("quiet", "q", "Only display volume names")
    p.list("filter", "f", 'Provide filter values (e.g. "dangling=true")')
    p.str("format", None, "Format output using a custom template")
    a = p.parse(argv)
    res = client.get("/volumes", params={"filters": filters_param(a.filter)}) or {}
    vols = res.get("Volumes") or []
    if a.quiet:
        for v in vols:
            out(v["Name"])
        return 0
    rows = [
        {
            "Driver": v["Driver"],
            "Name": v["Name"],
            "Mountpoint": v["Mountpoint"],
            "Scope": v["Scope"],
            "Labels": ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items()),
        }
        for v in vols
    ]
    out(
        render(
            rows,
            a.format,
            default="table {{.Driver}}\t{{.Name}}",
            headers={
                "Driver": "DRIVER",
                "Name": "VOLUME NAME",
                "Mountpoint": "MOUNTPOINT",
                "Scope": "SCOPE",
                "Labels": "LABELS",
            },
        )
    )
    return 0


def inspect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] VOLUME [VOLUME...]", min_args=1)
    p.str("format", "f", "Format output using a custom template")
    a = p.parse(argv)
    from ballena.cli.commands.inspect import print_inspected

    results, errors = [], []
    for n in a.args:
        try:
            results.append(client.get(f"/volumes/{n}"))
        except APIError as e:
            errors.append(f"Error response from daemon: {e.message}")
    return print_inspected(results, errors, a.format)


def rm(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] VOLUME [VOLUME...]", min_args=1)
    p.bool("force", "f", "Force the removal of one or more volumes")
    a = p.parse(argv)
    code = 0
    for n in a.args:
        try:
            client.delete(f"/volumes/{n}", params={"force": a.force or None})
            out(n)
        except APIError as e:
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
    return code


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("all", "a", "Remove all unused volumes, not just anonymous ones")
    p.bool("force", "f", "Do not prompt for confirmation")
    p.list("filter", None, 'Provide filter values (e.g. "label=<label>")')
    a = p.parse(argv)
    from ballena.cli.commands.images import confirm
    from ballena.cli.display import size

    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if a.all
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not a.force and not confirm(warning):
        return 0
    filters = list(a.filter or []) + (["all=true"] if a.all else [])
    rep = client.post("/volumes/prune", params={"filters": filters_param(filters)}) or {}
    if rep.get("VolumesDeleted"):
        out("Deleted Volumes:")
        for v in rep["VolumesDeleted"]:
            out(v)
        out()
    out(f"Total reclaimed space: {size(rep.get('SpaceReclaimed', 0))}")
    return 0
