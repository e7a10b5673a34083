"""Container commands after creation: stop, restart, kill, rm, ps, logs, wait, rename, pause, unpause,
attach, exec, top, port, inspect, prune, update, and the filesystem ones (cp, diff, commit, export).
`run`, `create` and `start` are in `run.py`, their flags in `createflags.py`."""

from __future__ import annotations

import os
import sys
import time

from ballena.cli.common import die, filters_param, flags, for_each, out, render
from ballena.cli.display import ellipsis, short_id, since, size, unix_to_rfc3339_local
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
# run/createflags/streams/dockerconfig are imported where used: `ballena ps` needs none of them.
if TYPE_CHECKING:
    from typing import Any

PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedSince": "CREATED",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "State": "STATE",
    "LocalVolumes": "LOCAL VOLUMES",
}


def stop(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.int("time", "t", "Seconds to wait before killing the container", default=None)
    p.str("signal", "s", "Signal to send to the container")
    a = p.parse(argv)
    return for_each(a.args, lambda n: client.post(f"/containers/{n}/stop", params={"t": a.time, "signal": a.signal}))


def restart(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.int("time", "t", "Seconds to wait before killing the container", default=None)
    p.str("signal", "s", "Signal to send to the container")
    a = p.parse(argv)
    return for_each(a.args, lambda n: client.post(f"/containers/{n}/restart", params={"t": a.time, "signal": a.signal}))


def kill(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.str("signal", "s", "Signal to send to the container")
    a = p.parse(argv)
    return for_each(a.args, lambda n: client.post(f"/containers/{n}/kill", params={"signal": a.signal}))


def rm(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.bool("force", "f", "Force the removal of a running container (uses SIGKILL)")
    p.bool("volumes", "v", "Remove anonymous volumes associated with the container")
    p.bool("link", "l", "Remove the specified link")
    a = p.parse(argv)
    return for_each(
        a.args,
        lambda n: client.delete(f"/containers/{n}", params={"force": a.force or None, "v": a.volumes or None}),
    )


def pause(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [CONTAINER...]", min_args=1)
    a = p.parse(argv)
    return for_each(a.args, lambda n: client.post(f"/containers/{n}/pause"))


def unpause(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [CONTAINER...]", min_args=1)
    a = p.parse(argv)
    return for_each(a.args, lambda n: client.post(f"/containers/{n}/unpause"))


def rename(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER NEW_NAME", min_args=2, max_args=2)
    a = p.parse(argv)
    client.post(f"/containers/{a.args[0]}/rename", params={"name": a.args[1]})
    return 0


def wait(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [CONTAINER...]", min_args=1)
    a = p.parse(argv)
    code = 0
    for n in a.args:
        try:
            res = client.post(f"/containers/{n}/wait")
            out(str(res.get("StatusCode", 0)))
        except APIError as e:
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
    return code


def _ports_text(ports: list[dict[str, Any]]) -> str:
    items = []
    for pt in sorted(ports, key=lambda x: (x.get("PrivatePort", 0), x.get("Type", ""))):
        if pt.get("PublicPort"):
            ip = pt.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            items.append(f"{ip}:{pt['PublicPort']}->{pt['PrivatePort']}/{pt['Type']}")
        else:
            items.append(f"{pt['PrivatePort']}/{pt['Type']}")
    return ", ".join(dict.fromkeys(items))


def ps(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("all", "a", "Show all containers (default shows just running)")
    p.bool("quiet", "q", "Only display container IDs")
    p.bool("latest", "l", "Show the latest created container (includes all states)")
    p.int("last", "n", "Show n last created containers (includes all states)", default=-1)
    p.bool("size", "s", "Display total file sizes")
    p.bool("no-trunc", None, "Don't truncate output")
    p.list("filter", "f", "Filter output based on conditions provided")
    p.str("format", None, "Format output using a custom template")
    a = p.parse(argv)
    params = {
        "all": a.all or None,
        "limit": a.last if a.last > 0 else None,
        "latest": a.latest or None,
        "size": a.size or None,
        "filters": filters_param(a.filter),
    }
    items = client.get("/containers/json", params=params) or []
    rows = []
    for c in items:
        cmd = c.get("Command", "")
        names = [n.lstrip("/") for n in c.get("Names") or []]
        image = c.get("Image", "")
        if image.startswith("sha256:") and not a.no_trunc:
            image = short_id(image)
        row = {
            "ID": short_id(c["Id"], a.no_trunc),
            "Image": image,
            "Command": f'"{cmd if a.no_trunc else ellipsis(cmd, 20)}"',
            "CreatedSince": since(c.get("Created", 0)),
            "RunningFor": since(c.get("Created", 0)),
            "CreatedAt": unix_to_rfc3339_local(c.get("Created", 0)),
            "Status": c.get("Status", ""),
            "Ports": _ports_text(c.get("Ports") or []),
            "Names": ",".join(names),
            "State": c.get("State", ""),
            "Labels": ",".join(f"{k}={v}" for k, v in (c.get("Labels") or {}).items()),
            "Networks": ",".join(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
            "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
            "Size": f"{size(c.get('SizeRw', 0))} (virtual {size(c.get('SizeRootFs', 0))})" if a.size else "",
        }
        rows.append(row)
    if a.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    default = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    if a.size:
        default += "\t{{.Size}}"
    out(render(rows, a.format, default=default, headers=PS_HEADERS))
    return 0


def logs(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER", min_args=1, max_args=1)
    p.bool("follow", "f", "Follow log output")
    p.str("tail", "n", "Number of lines to show from the end of the logs", default="all")
    p.str("since", None, "Show logs since timestamp or relative")
    p.str("until", None, "Show logs before a timestamp or relative")
    p.bool("timestamps", "t", "Show timestamps")
    p.bool("details", None, "Show extra details provided to logs")
    a = p.parse(argv)
    from ballena.pkg.timeutil import cli_timestamp

    info = client.get(f"/containers/{a.args[0]}/json")
    params = {
        "stdout": True,
        "stderr": True,
        "follow": a.follow or None,
        "tail": a.tail,
        "since": cli_timestamp(a.since) if a.since else None,
        "until": cli_timestamp(a.until) if a.until else None,
        "timestamps": a.timestamps or None,
    }
    resp = client.request("GET", f"/containers/{info['Id']}/logs", params=params)
    tty = bool(info["Config"]["Tty"])
    import struct

    buf = bytearray()
    for chunk in resp.iter_chunks():
        if tty:
            os.write(1, chunk)
            continue
        buf += chunk
        while len(buf) >= 8:
            kind, n = struct.unpack(">BxxxI", buf[:8])
            if len(buf) < 8 + n:
                break
            os.write(2 if kind == 2 else 1, bytes(buf[8 : 8 + n]))
            del buf[: 8 + n]
    return 0


def attach(client: Client, argv: list[str], *, prog: str) -> int:
    from ballena.cli.commands.run import attach_and_start

    p = flags(prog, f"{prog} [OPTIONS] CONTAINER", min_args=1, max_args=1)
    p.bool("no-stdin", None, "Do not attach STDIN")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    p.bool("sig-proxy", None, "Proxy all received signals to the process", default=True)
    a = p.parse(argv)
    info = client.get(f"/containers/{a.args[0]}/json")
    if not info["State"]["Running"]:
        die("You cannot attach to a stopped container, start it first")
    tty = bool(info["Config"]["Tty"])
    stdin = bool(info["Config"]["OpenStdin"]) and not a.no_stdin
    return attach_and_start(
        client,
        info["Id"],
        tty=tty,
        stdin=stdin,
        stdout=True,
        stderr=True,
        remove=bool(info["HostConfig"].get("AutoRemove")),
        detach_keys=a.detach_keys,
        prog=prog,
        sig_proxy=a.sig_proxy,
        start=False,
    )


def exec_(client: Client, argv: list[str], *, prog: str) -> int:
    from ballena.cli import dockerconfig
    from ballena.cli.commands.createflags import env_list
    from ballena.cli.streams import RawTerminal, demux_to, pump_stdin, terminal_size

    p = flags(prog, f"{prog} [OPTIONS] CONTAINER COMMAND [ARG...]", interspersed=False, min_args=2)
    p.bool("detach", "d", "Detached mode: run command in the background")
    p.bool("interactive", "i", "Keep STDIN open even if not attached")
    p.bool("tty", "t", "Allocate a pseudo-TTY")
    p.list("env", "e", "Set environment variables")
    p.list("env-file", None, "Read in a file of environment variables")
    p.str("workdir", "w", "Working directory inside the container")
    p.str("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])")
    p.bool("privileged", None, "Give extended privileges to the command")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    a = p.parse(argv)
    name, cmd = a.args[0], a.args[1:]
    size_console = terminal_size() if a.tty else None
    body = {
        "User": a.user or "",
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive and not a.detach,
        "AttachStdout": not a.detach,
        "AttachStderr": not a.detach,
        "Detach": a.detach,
        "DetachKeys": dockerconfig.detach_keys(a.detach_keys) or "",
        "Env": env_list(a),
        "WorkingDir": a.workdir or "",
        "Cmd": cmd,
        "ConsoleSize": list(size_console) if size_console else None,
    }
    try:
        eid = client.post(f"/containers/{name}/exec", body=body)["Id"]
    except APIError as e:
        die(f"Error response from daemon: {e.message}", 1 if e.status != 404 else 1)
    if a.detach:
        client.post(f"/exec/{eid}/start", body={"Detach": True, "Tty": a.tty})
        return 0
    sock, initial = client.hijack(
        f"/exec/{eid}/start", body={"Detach": False, "Tty": a.tty, "ConsoleSize": body["ConsoleSize"]}
    )
    if a.tty and size_console:
        try:
            client.post(f"/exec/{eid}/resize", params={"h": size_console[0], "w": size_console[1]})
        except APIError:
            pass
    from contextlib import nullcontext

    with RawTerminal(sys.stdin.fileno()) if (a.tty and a.interactive) else nullcontext():
        if a.interactive:
            pump_stdin(sock)
        demux_to(sock, initial, tty=a.tty)
    sock.close()
    for _ in range(100):
        info = client.get(f"/exec/{eid}/json")
        if not info.get("Running"):
            break
        time.sleep(0.02)
    return int(info.get("ExitCode") or 0)


def inspect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.str("format", "f", "Format output using a custom template")
    p.bool("size", "s", "Display total file sizes")
    a = p.parse(argv)
    from ballena.cli.commands.inspect import print_inspected

    results, errors = [], []
    for n in a.args:
        try:
            results.append(client.get(f"/containers/{n}/json", params={"size": a.size or None}))
        except APIError as e:
            if e.status != 404:
                raise
            errors.append(f"Error response from daemon: {e.message}")
    return print_inspected(results, errors, a.format)


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("force", "f", "Do not prompt for confirmation")
    p.list("filter", None, 'Provide filter values (e.g. "until=<timestamp>")')
    a = p.parse(argv)
    from ballena.cli.commands.images import confirm

    if not a.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    rep = client.post("/containers/prune", params={"filters": filters_param(a.filter)}) or {}
    if rep.get("ContainersDeleted"):
        out("Deleted Containers:")
        for c in rep["ContainersDeleted"]:
            out(c)
        out()
    out(f"Total reclaimed space: {size(rep.get('SpaceReclaimed', 0))}")
    return 0


def top(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [ps OPTIONS]", interspersed=False, min_args=1)
    a = p.parse(argv)
    res = client.get(f"/containers/{a.args[0]}/top", params={"ps_args": " ".join(a.args[1:]) or None})
    from ballena.cli.common import tabwrite

    out(tabwrite([res.get("Titles") or []] + [list(r) for r in res.get("Processes") or []]))
    return 0


def port(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [PRIVATE_PORT[/PROTO]]", min_args=1, max_args=2)
    a = p.parse(argv)
    info = client.get(f"/containers/{a.args[0]}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(a.args) == 2:
        key = a.args[1] if "/" in a.args[1] else a.args[1] + "/tcp"
        found = ports.get(key)
        if not found:
            die(f"Error: No public port '{key}' published for {a.args[0]}")
        for b in found:
            ip = b.get("HostIp") or "0.0.0.0"
            out(f"{'[' + ip + ']' if ':' in ip else ip}:{b.get('HostPort')}")
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            ip = b.get("HostIp") or "0.0.0.0"
            out(f"{key} -> {'[' + ip + ']' if ':' in ip else ip}:{b.get('HostPort')}")
    return 0


def stats(client: Client, argv: list[str], *, prog: str) -> int:
    from ballena.cli.commands.stats import stats as _stats

    return _stats(client, argv, prog=prog)


def update(client: Client, argv: list[str], *, prog: str) -> int:
    from ballena.cli.commands.createflags import restart_policy, size_bytes

    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.str("memory", "m", "Memory limit")
    p.str("memory-swap", None, "Swap limit equal to memory plus swap")
    p.str("memory-reservation", None, "Memory soft limit")
    p.str("cpus", None, "Number of CPUs")
    p.int("cpu-shares", "c", "CPU shares (relative weight)", default=None)
    p.int("cpu-period", None, "Limit CPU CFS period", default=None)
    p.int("cpu-quota", None, "Limit CPU CFS quota", default=None)
    p.str("cpuset-cpus", None, "CPUs in which to allow execution")
    p.str("cpuset-mems", None, "MEMs in which to allow execution")
    p.int("pids-limit", None, "Tune container pids limit", default=None)
    p.int("blkio-weight", None, "Block IO weight", default=None)
    p.str("restart", None, "Restart policy to apply when a container exits")
    a = p.parse(argv)
    body: dict[str, Any] = {}
    if a.memory:
        body["Memory"] = size_bytes(a.memory, "--memory")
    if a.memory_swap:
        body["MemorySwap"] = -1 if a.memory_swap == "-1" else size_bytes(a.memory_swap, "--memory-swap")
    if a.memory_reservation:
        body["MemoryReservation"] = size_bytes(a.memory_reservation, "--memory-reservation")
    if a.cpus:
        body["NanoCpus"] = int(float(a.cpus) * 1e9)
    for key, val in (
        ("CpuShares", a.cpu_shares),
        ("CpuPeriod", a.cpu_period),
        ("CpuQuota", a.cpu_quota),
        ("PidsLimit", a.pids_limit),
        ("BlkioWeight", a.blkio_weight),
    ):
        if val is not None:
            body[key] = val
    if a.cpuset_cpus:
        body["CpusetCpus"] = a.cpuset_cpus
    if a.cpuset_mems:
        body["CpusetMems"] = a.cpuset_mems
    if a.restart:
        body["RestartPolicy"] = restart_policy(a.restart)

    def one(n: str) -> None:
        res = client.post(f"/containers/{n}/update", body=body) or {}
        for w in res.get("Warnings") or []:
            print(f"WARNING: {w}", file=sys.stderr)

    return for_each(a.args, one)


def _fs(name: str) -> Any:
    from ballena.cli.commands import filesystem

    return getattr(filesystem, name)


def cp(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("cp")(client, argv, prog=prog))


def diff(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("diff")(client, argv, prog=prog))


def commit(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("commit")(client, argv, prog=prog))


def export(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("export")(client, argv, prog=prog))
