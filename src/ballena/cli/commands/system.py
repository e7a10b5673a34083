"""``version``, ``info``, ``events``, ``system df``, ``system prune``."""

from __future__ import annotations

import sys
import time

from ballena import __version__
from ballena.cli.common import filters_param, flags, out, render
from ballena.cli.display import size
from ballena.client import jsonwire
from ballena.client.api import CLIENT_API_VERSION, APIError, Client, ConnectionFailed
from ballena.pkg.platforms import go_arch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def version(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.str("format", "f", "")
    a = p.parse(argv)
    py = ".".join(map(str, sys.version_info[:3]))
    client_info = {
        "Version": __version__,
        "ApiVersion": CLIENT_API_VERSION,
        "GoVersion": f"python{py}",
        "Os": "linux",
        "Arch": go_arch(),
        "BuildTime": "",
        "GitCommit": "",
        "Context": "default",
    }
    server: dict[str, Any] | None = None
    error = None
    try:
        server = client.get("/version")
    except (ConnectionFailed, APIError) as e:
        error = str(e)
    if a.format:
        from ballena.cli.gotemplate import Template

        both = {"Client": client_info, "Server": server}
        out(jsonwire.dumps(both, compact=True) if a.format == "json" else Template(a.format).execute(both))
        return 1 if error else 0
    out("Client:")
    out(f" Version:           {__version__}")
    out(f" API version:       {client.version if server else CLIENT_API_VERSION}")
    out(f" Python version:    {py}")
    out(f" OS/Arch:           linux/{go_arch()}")
    out(" Context:           default")
    if server is None:
        out()
        print(error, file=sys.stderr)
        return 1
    out()
    out(f"Server: {server.get('Platform', {}).get('Name', '')}")
    for comp in server.get("Components") or []:
        out(f" {comp['Name']}:")
        out(f"  Version:          {comp['Version']}")
        d = comp.get("Details") or {}
        if "ApiVersion" in d:
            out(f"  API version:      {d['ApiVersion']} (minimum version {d.get('MinAPIVersion', '')})")
            out(f"  Python version:   {d.get('GoVersion', '').removeprefix('python')}")
            out(f"  OS/Arch:          {d.get('Os', '')}/{d.get('Arch', '')}")
            out(f"  Experimental:     {d.get('Experimental', 'false')}")
    return 0


def info(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.str("format", "f", "")
    a = p.parse(argv)
    data = client.get("/info")
    if a.format:
        from ballena.cli.gotemplate import Template

        out(Template(a.format).execute(data) if a.format != "json" else jsonwire.dumps(data, compact=True))
        return 0
    lines = [
        "Client:",
        f" Version:    {__version__}",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {data.get('Containers', 0)}",
        f"  Running: {data.get('ContainersRunning', 0)}",
        f"  Paused: {data.get('ContainersPaused', 0)}",
        f"  Stopped: {data.get('ContainersStopped', 0)}",
        f" Images: {data.get('Images', 0)}",
        f" Server Version: {data.get('ServerVersion', '')}",
        f" Storage Driver: {data.get('Driver', '')}",
    ]
    lines += [f"  {k}: {v}" for k, v in data.get("DriverStatus") or []]
    lines += [
        f" Logging Driver: {data.get('LoggingDriver', '')}",
        f" Cgroup Driver: {data.get('CgroupDriver', '')}",
        f" Cgroup Version: {data.get('CgroupVersion', '')}",
        " Plugins:",
        f"  Volume: {' '.join(data.get('Plugins', {}).get('Volume') or [])}",
        f"  Network: {' '.join(data.get('Plugins', {}).get('Network') or [])}",
        f"  Log: {' '.join(data.get('Plugins', {}).get('Log') or [])}",
        f" Runtimes: {' '.join(sorted(data.get('Runtimes') or {}))}",
        f" Default Runtime: {data.get('DefaultRuntime', '')}",
        " Security Options:",
    ]
    for opt in data.get("SecurityOptions") or []:
        for part in opt.split(","):
            k, _, v = part.partition("=")
            lines.append(f"  {v}" if k == "name" else f"   {k.capitalize()}: {v}")
    lines += [
        f" Kernel Version: {data.get('KernelVersion', '')}",
        f" Operating System: {data.get('OperatingSystem', '')}",
        f" OSType: {data.get('OSType', '')}",
        f" Architecture: {data.get('Architecture', '')}",
        f" CPUs: {data.get('NCPU', 0)}",
        f" Total Memory: {_gib(data.get('MemTotal', 0))}",
        f" Name: {data.get('Name', '')}",
        f" ID: {data.get('ID', '')}",
        f" Docker Root Dir: {data.get('DockerRootDir', '')}",
        f" Debug Mode: {str(data.get('Debug', False)).lower()}",
        f" Live Restore Enabled: {str(data.get('LiveRestoreEnabled', False)).lower()}",
    ]
    out("\n".join(lines))
    for w in data.get("Warnings") or []:
        print(w, file=sys.stderr)
    return 0


def _gib(n: int) -> str:
    from ballena.pkg.units import bytes_size

    return bytes_size(n)


def events(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.str("since", None, "")
    p.str("until", None, "")
    p.list("filter", "f", "")
    p.str("format", None, "")
    a = p.parse(argv)
    from ballena.pkg.timeutil import cli_timestamp

    params = {
        "since": cli_timestamp(a.since) if a.since else None,
        "until": cli_timestamp(a.until) if a.until else None,
        "filters": filters_param(a.filter),
    }
    tmpl = None
    if a.format and a.format != "json":
        from ballena.cli.gotemplate import Template

        tmpl = Template(a.format)
    for ev in client.stream_json("GET", "/events", params=params):
        if a.format == "json":
            out(jsonwire.dumps(ev, compact=True))
        elif tmpl is not None:
            out(tmpl.execute(ev))
        else:
            out(format_event(ev))
        sys.stdout.flush()
    return 0


def format_event(ev: dict[str, Any]) -> str:
    ns = int(ev.get("timeNano") or ev.get("time", 0) * 10**9)
    t = time.localtime(ns // 10**9)
    offset = time.strftime("%z", t)
    stamp = (
        time.strftime("%Y-%m-%dT%H:%M:%S", t)
        + f".{ns % 10**9:09d}"
        + ("Z" if offset in ("+0000", "-0000") else offset[:3] + ":" + offset[3:])
    )
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    line = f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


def df(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("verbose", "v", "")
    p.str("format", None, "")
    a = p.parse(argv)
    data = client.get("/system/df", params={"verbose": a.verbose or None})
    images = data.get("Images") or []
    containers = data.get("Containers") or []
    volumes = data.get("Volumes") or []
    cache = data.get("BuildCache") or []
    layers = data.get("LayersSize", 0)
    active_images = sum(1 for i in images if i.get("Containers", 0) > 0)
    reclaim_images = sum(i.get("Size", 0) for i in images if i.get("Containers", 0) <= 0)
    rows = [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(active_images),
            "Size": size(layers),
            "Reclaimable": _reclaim(reclaim_images, layers),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(sum(1 for c in containers if c.get("State") == "running")),
            "Size": size(sum(c.get("SizeRw", 0) for c in containers)),
            "Reclaimable": _reclaim(
                sum(c.get("SizeRw", 0) for c in containers if c.get("State") != "running"),
                sum(c.get("SizeRw", 0) for c in containers),
            ),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0)),
            "Size": size(sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in volumes)),
            "Reclaimable": _reclaim(
                sum(
                    max((v.get("UsageData") or {}).get("Size", 0), 0)
                    for v in volumes
                    if (v.get("UsageData") or {}).get("RefCount", 0) == 0
                ),
                sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in volumes),
            ),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": str(sum(1 for c in cache if c.get("InUse"))),
            "Size": size(sum(c.get("Size", 0) for c in cache)),
            "Reclaimable": size(sum(c.get("Size", 0) for c in cache if not c.get("InUse"))),
        },
    ]
    if not a.verbose or a.format:
        out(
            render(
                rows,
                a.format,
                default="table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                headers={
                    "Type": "TYPE",
                    "TotalCount": "TOTAL",
                    "Active": "ACTIVE",
                    "Size": "SIZE",
                    "Reclaimable": "RECLAIMABLE",
                },
            )
        )
        return 0
    from ballena.cli.commands.images import _rows
    from ballena.cli.common import tabwrite
    from ballena.cli.display import short_id, since

    out("Images space usage:\n")
    img_rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]]
    for r in _rows(images, digests=False, no_trunc=False):
        img_rows.append(
            [
                r["Repository"],
                r["Tag"],
                r["ID"],
                r["CreatedSince"],
                r["Size"],
                r["SharedSize"],
                r["UniqueSize"],
                r["Containers"],
            ]
        )
    out(tabwrite(img_rows))
    out("\nContainers space usage:\n")
    c_rows = [["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]]
    for c in containers:
        c_rows.append(
            [
                short_id(c["Id"]),
                c.get("Image", ""),
                '"' + (c.get("Command", "")[:20]) + '"',
                str(len(c.get("Mounts") or [])),
                size(c.get("SizeRw", 0)),
                since(c.get("Created", 0)),
                c.get("Status", ""),
                (c.get("Names") or ["/"])[0][1:],
            ]
        )
    out(tabwrite(c_rows))
    out("\nLocal Volumes space usage:\n")
    v_rows = [["VOLUME NAME", "LINKS", "SIZE"]]
    for v in volumes:
        u = v.get("UsageData") or {}
        v_rows.append([v["Name"], str(u.get("RefCount", 0)), size(max(u.get("Size", 0), 0))])
    out(tabwrite(v_rows))
    out("\nBuild cache usage: " + size(sum(c.get("Size", 0) for c in cache)))
    return 0


def _reclaim(reclaimable: int, total: int) -> str:
    pct = int(reclaimable * 100 / total) if total else 0
    return f"{size(reclaimable)} ({pct}%)"


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("all", "a", "")
    p.bool("force", "f", "")
    p.bool("volumes", None, "")
    p.list("filter", None, "")
    a = p.parse(argv)
    from ballena.cli.commands.images import confirm, print_prune_report

    lines = [
        "WARNING! This will remove:",
        "  - all stopped containers",
        "  - all networks not used by at least one container",
    ]
    if a.volumes:
        lines.append("  - all anonymous volumes not used by at least one container")
    lines.append(
        "  - all images without at least one container associated to them" if a.all else "  - all dangling images"
    )
    lines.append("  - unused build cache" if a.all else "  - all dangling build cache")
    if not a.force and not confirm("\n".join(lines) + "\n"):
        return 0
    total = 0
    filt = filters_param(a.filter)
    try:
        rep = client.post("/containers/prune", params={"filters": filt}) or {}
        if rep.get("ContainersDeleted"):
            out("Deleted Containers:")
            for c in rep["ContainersDeleted"]:
                out(c)
            out()
        total += rep.get("SpaceReclaimed", 0)
    except APIError as e:
        if e.status != 404:
            raise
    try:
        rep = client.post("/networks/prune", params={"filters": filt}) or {}
        if rep.get("NetworksDeleted"):
            out("Deleted Networks:")
            for n in rep["NetworksDeleted"]:
                out(n)
            out()
    except APIError as e:
        if e.status != 404:
            raise
    if a.volumes:
        try:
            rep = client.post("/volumes/prune", params={"filters": filt}) or {}
            if rep.get("VolumesDeleted"):
                out("Deleted Volumes:")
                for v in rep["VolumesDeleted"]:
                    out(v)
                out()
            total += rep.get("SpaceReclaimed", 0)
        except APIError as e:
            if e.status != 404:
                raise
    img_filters = list(a.filter or []) + [f"dangling={'false' if a.all else 'true'}"]
    rep = client.post("/images/prune", params={"filters": filters_param(img_filters)}) or {}
    if rep.get("ImagesDeleted"):
        out("Deleted Images:")
        for d in rep["ImagesDeleted"]:
            if d.get("Untagged"):
                out(f"untagged: {d['Untagged']}")
            if d.get("Deleted"):
                out(f"deleted: {d['Deleted']}")
        out()
    total += rep.get("SpaceReclaimed", 0)
    try:
        rep = client.post("/build/prune", params={"all": a.all or None, "filters": filt}) or {}
        if rep.get("CachesDeleted"):
            out("Deleted build cache objects:")
            for c in rep["CachesDeleted"]:
                out(c)
            out()
        total += rep.get("SpaceReclaimed", 0)
    except APIError as e:
        if e.status != 404:
            raise
    del print_prune_report
    out(f"Total reclaimed space: {size(total)}")
    return 0
