"""``/containers/*`` and ``/exec/*``: Docker's container JSON, attach and exec streams."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from ballena.api.http import Hijack, RawStream, Request, Response, StreamResponse, json_response, no_content
from ballena.api.router import Router, api_at_least
from ballena.api.streams import DetachKeys, frame, json_line
from ballena.api.websocket import WebSocket, WebSocketStream, accept_key
from ballena.core.containerconfig import (
    ContainerConfig,
    EndpointSettings,
    ExecCreate,
    ExecStart,
    HostConfig,
    NetworkingConfig,
    UpdateConfig,
)
from ballena.core.containers import Container, ExecState
from ballena.errors import BallenaError, CommandNotRunnable, Conflict, InvalidArgument, RuntimeFailure
from ballena.pkg import records
from ballena.pkg.filters import Filters
from ballena.pkg.timeutil import human_duration, parse_api_timestamp, rfc3339nano
from ballena.services.containers import (
    LIST_FILTERS,
    PRUNE_FILTERS,
    ContainerQueries,
    Execs,
    Lifecycle,
    Logs,
    Supervisor,
)
from ballena.services.containers.links import inspect_links
from ballena.services.stats import StatsService

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def _args_text(args: list[str]) -> str:
    return " ".join(f"'{a}'" if " " in a else a for a in args)


def status_text(c: Container) -> str:
    s = c.state
    now = time.time_ns()
    if s.status == "paused":
        return f"Up {human_duration((now - s.started_at_ns) / 1e9)} (Paused)"
    if s.status == "restarting":
        return f"Restarting ({s.exit_code}) {human_duration((now - s.finished_at_ns) / 1e9)} ago"
    if s.status == "running":
        up = f"Up {human_duration((now - s.started_at_ns) / 1e9)}"
        if s.health is not None:
            return f"{up} (health: starting)" if s.health.status == "starting" else f"{up} ({s.health.status})"
        return up
    if s.status == "removing":
        return "Removal In Progress"
    if s.status == "dead":
        return "Dead"
    if not s.started_at_ns or s.status == "created":
        return "Created"
    if not s.finished_at_ns:
        return ""
    return f"Exited ({s.exit_code}) {human_duration((now - s.finished_at_ns) / 1e9)} ago"


def _ports(c: Container) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    published = c.ports if c.state.running else {}
    for port in sorted(set(c.config.exposed_ports or ()) | set(published)):
        num, _, proto = port.partition("/")
        items = published.get(port) or ()
        for b in items:
            out.append(
                {
                    "IP": b.host_ip or "0.0.0.0",
                    "PrivatePort": int(num),
                    "PublicPort": int(b.host_port or 0),
                    "Type": proto or "tcp",
                }
            )
        if not items:
            out.append({"PrivatePort": int(num), "Type": proto or "tcp"})
    return out


def network_settings(c: Container, *, summary: bool = False) -> dict[str, Any]:
    nets = {name: records.encode(ep, nulls=False) for name, ep in c.networks.items()}
    if summary:
        return {"Networks": nets}
    bridge = c.networks.get("bridge") or EndpointSettings()
    ports: dict[str, Any] = {}
    if c.state.running:
        for key in c.config.exposed_ports or ():
            ports[key] = None
        for key, items in c.ports.items():
            ports[key] = [records.encode(b) for b in items] or None
    return {
        "Bridge": "",
        "SandboxID": c.id if c.state.running else "",
        "SandboxKey": f"/proc/{c.state.pid}/ns/net" if c.state.running and c.state.pid else "",
        "Ports": ports,
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": [],
        "SecondaryIPv6Addresses": [],
        "EndpointID": bridge.endpoint_id,
        "Gateway": bridge.gateway,
        "GlobalIPv6Address": bridge.global_ipv6_address,
        "GlobalIPv6PrefixLen": bridge.global_ipv6_prefix_len,
        "IPAddress": bridge.ip_address,
        "IPPrefixLen": bridge.ip_prefix_len,
        "IPv6Gateway": bridge.ipv6_gateway,
        "MacAddress": bridge.mac_address,
        "Networks": nets,
    }


def summary(queries: ContainerQueries, c: Container, req: Request, *, size: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": [f"/{c.name}"],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": (c.path + (" " + _args_text(list(c.args)) if c.args else "")),
        "Created": c.created_ns // 10**9,
        "Ports": _ports(c),
        "Labels": dict(c.labels),
        "State": c.state.status,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.network_mode or "bridge"},
        "NetworkSettings": network_settings(c, summary=True),
        "Mounts": [records.encode(m) for m in c.mounts],
    }
    if size:
        out["SizeRw"] = queries.size_rw(c)
        out["SizeRootFs"] = queries.size_rootfs(c)
    return out


def inspect(
    queries: ContainerQueries, c: Container, req: Request, *, exec_ids: list[str], size: bool = False
) -> dict[str, Any]:
    s = c.state
    files = queries.files(c)
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": rfc3339nano(c.created_ns),
        "Path": c.path,
        "Args": list(c.args),
        "State": {
            "Status": s.status,
            "Running": s.running,
            "Paused": s.status == "paused",
            "Restarting": s.status == "restarting",
            "OOMKilled": s.oom_killed,
            "Dead": s.status == "dead",
            "Pid": s.pid if s.running else 0,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": rfc3339nano(s.started_at_ns),
            "FinishedAt": rfc3339nano(s.finished_at_ns),
            **({"Health": records.encode(s.health)} if s.health is not None else {}),
        },
        "Image": c.image_id,
        "ResolvConfPath": str(files.resolv_conf),
        "HostnamePath": str(files.hostname),
        "HostsPath": str(files.hosts),
        "LogPath": str(files.log),
        "Name": f"/{c.name}",
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": c.platform,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids or None,
        "HostConfig": {**records.encode(c.host_config, nulls=False), "Links": inspect_links(c) or []},
        "GraphDriver": {"Data": files.graph, "Name": "overlay2"},
        "Mounts": [records.encode(m) for m in c.mounts],
        "Config": records.encode(c.config, nulls=False),
        "NetworkSettings": network_settings(c),
    }
    if size:
        out["SizeRw"] = queries.size_rw(c)
        out["SizeRootFs"] = queries.size_rootfs(c)
    return out


def build(
    *,
    queries: ContainerQueries,
    lifecycle: Lifecycle,
    supervisor: Supervisor,
    execs: Execs,
    logs: Logs,
    stats: StatsService,
) -> Router:
    r = Router()

    @r.route("GET", "/containers/json")
    async def list_containers(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=LIST_FILTERS)
        limit = req.int_param("limit", -1) or -1
        items = queries.list_containers(
            all_=req.bool_param("all"), limit=limit, filters=filters, latest=req.bool_param("latest")
        )
        size = req.bool_param("size")
        if size:
            data = await asyncio.to_thread(lambda: [summary(queries, c, req, size=True) for c in items])
        else:
            data = [summary(queries, c, req, size=False) for c in items]
        return json_response(data)

    @r.route("POST", "/containers/create")
    async def create(req: Request) -> Response:
        body = await req.json(required=True)
        if not isinstance(body, dict):
            raise InvalidArgument("invalid JSON: the body must be an object")
        root = "ContainerConfigWrapper"
        config = records.decode(ContainerConfig, body, root=root)
        host_config = records.decode(HostConfig, body.get("HostConfig"), root="HostConfig", path="HostConfig")
        networking = records.decode(
            NetworkingConfig, body.get("NetworkingConfig"), root="NetworkingConfig", path="NetworkingConfig"
        )
        name = req.param("name") or None
        c, warnings = await lifecycle.create(name=name, config=config, host_config=host_config, networking=networking)
        return json_response({"Id": c.id, "Warnings": warnings}, status=201)

    @r.route("GET", "/containers/{id}/json")
    async def inspect_container(req: Request) -> Response:
        c = queries.get(req.params["id"])
        size = req.bool_param("size")
        exec_ids = [e for e in c.exec_ids if execs.known(e)]
        if size:
            data = await asyncio.to_thread(inspect, queries, c, req, exec_ids=exec_ids, size=True)
        else:
            data = inspect(queries, c, req, exec_ids=exec_ids)
        return json_response(data)

    @r.route("POST", "/containers/{id}/start")
    async def start(req: Request) -> Response:
        await req.drain()
        await lifecycle.start(req.params["id"])
        return no_content()

    @r.route("POST", "/containers/{id}/stop")
    async def stop(req: Request) -> Response:
        await lifecycle.stop(req.params["id"], timeout=req.int_param("t"), signal_name=req.param("signal") or None)
        return no_content()

    @r.route("POST", "/containers/{id}/restart")
    async def restart(req: Request) -> Response:
        await lifecycle.restart(req.params["id"], timeout=req.int_param("t"), signal_name=req.param("signal") or None)
        return no_content()

    @r.route("POST", "/containers/{id}/kill")
    async def kill(req: Request) -> Response:
        await lifecycle.kill(req.params["id"], req.param("signal") or None)
        return no_content()

    @r.route("DELETE", "/containers/{id:.+}")
    async def remove(req: Request) -> Response:
        if req.bool_param("link"):  # `docker rm --link /container/alias`
            await lifecycle.remove_link(req.params["id"])
            return no_content()
        await lifecycle.remove(req.params["id"], force=req.bool_param("force"), volumes=req.bool_param("v"))
        return no_content()

    @r.route("POST", "/containers/{id}/wait")
    async def wait(req: Request) -> StreamResponse:
        fut = lifecycle.register_wait(req.params["id"], req.param("condition") or "not-running")

        async def body() -> Any:
            result = await fut
            if result.get("Error") is None:  # dockerd's omitempty
                result = {k: v for k, v in result.items() if k != "Error"}
            yield json_line(result)

        return StreamResponse(body())

    @r.route("POST", "/containers/{id}/rename")
    async def rename(req: Request) -> Response:
        await lifecycle.rename(req.params["id"], req.param("name") or "")
        return no_content()

    @r.route("POST", "/containers/{id}/pause")
    async def pause(req: Request) -> Response:
        await lifecycle.pause(req.params["id"])
        return no_content()

    @r.route("POST", "/containers/{id}/unpause")
    async def unpause(req: Request) -> Response:
        await lifecycle.unpause(req.params["id"])
        return no_content()

    @r.route("POST", "/containers/{id}/resize")
    async def resize(req: Request) -> Response:
        c = queries.get(req.params["id"])
        await supervisor.resize(c, req.int_param("h", 0) or 0, req.int_param("w", 0) or 0)
        return Response(status=200, content_type="text/plain; charset=utf-8")

    @r.route("POST", "/containers/{id}/update")
    async def update(req: Request) -> Response:
        body = await req.json(required=True)
        if not isinstance(body, dict):
            raise InvalidArgument("invalid JSON: the body must be an object")
        warnings = await lifecycle.update(req.params["id"], records.decode(UpdateConfig, body))
        return json_response({"Warnings": warnings})

    @r.route("GET", "/containers/{id}/stats")
    async def container_stats(req: Request) -> Response | StreamResponse:
        stream = req.bool_param("stream", True)
        samples = stats.stream(req.params["id"], stream=stream, one_shot=req.bool_param("one-shot"))
        first = await samples.__anext__()  # errors (no such container) before any byte is sent
        if not stream:
            await samples.aclose()
            return json_response(first)

        async def lines() -> AsyncIterator[bytes]:
            yield json_line(first)
            async for sample in samples:
                yield json_line(sample)

        return StreamResponse(lines())

    @r.route("GET", "/containers/{id}/top")
    async def top(req: Request) -> Response:
        return json_response(await asyncio.to_thread(queries.top, req.params["id"], req.param("ps_args") or ""))

    @r.route("POST", "/containers/prune")
    async def prune(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=PRUNE_FILTERS)
        removed, reclaimed = await lifecycle.prune(filters)
        return json_response({"ContainersDeleted": removed, "SpaceReclaimed": reclaimed})

    @r.route("GET", "/containers/{id}/logs")
    async def container_logs(req: Request) -> StreamResponse:
        since = parse_api_timestamp(req.param("since") or "0") if req.param("since") not in (None, "", "0") else 0
        until = parse_api_timestamp(req.param("until") or "0") if req.param("until") not in (None, "", "0") else 0
        tail_raw = req.param("tail") or "all"
        if tail_raw == "all":
            tail = -1
        else:
            try:
                tail = int(tail_raw)
            except ValueError:
                tail = -1
        c, entries = await logs.logs(
            req.params["id"],
            stdout=req.bool_param("stdout"),
            stderr=req.bool_param("stderr"),
            follow=req.bool_param("follow"),
            since_ns=since,
            until_ns=until,
            tail=tail,
            timestamps=req.bool_param("timestamps"),
        )
        tty = c.tty

        async def body() -> Any:
            async for stream, data in entries:
                yield data if tty else frame(stream, data)

        return StreamResponse(body(), content_type=RAW if tty else MULTIPLEXED)

    @r.route("GET", "/containers/{id}/attach/ws")
    async def attach_ws(req: Request) -> Hijack:
        accept = accept_key(req)
        want_stdin, want_out, want_err = req.bool_param("stdin"), req.bool_param("stdout"), req.bool_param("stderr")
        c = queries.get(req.params["id"])
        detach_keys = DetachKeys(req.param("detachKeys") or "", tty=c.tty)
        sub = await supervisor.attach(c, stdout=want_out, stderr=want_err) if req.bool_param("stream") else None
        logs_too = req.bool_param("logs")
        binary = api_at_least(req, "1.42")

        async def handler(raw: RawStream) -> None:
            ws = WebSocket(raw, binary=binary)
            try:
                if logs_too:
                    _c, entries = await logs.logs(
                        c.id, stdout=want_out, stderr=want_err, follow=False, since_ns=0, until_ns=0, tail=-1,
                        timestamps=False,
                    )  # fmt: skip
                    async for _s, data in entries:
                        await ws.send(data)
                if sub is None:
                    return
                detached = asyncio.Event()

                async def pump_in() -> None:
                    while (data := await ws.receive()) is not None:
                        out, seen = detach_keys.feed(data)
                        if out and want_stdin and c.config.open_stdin:
                            await supervisor.write_stdin(c.id, out)
                        if seen:
                            detached.set()
                            break
                    sub.close()  # the client closed the socket or detached: no more output

                reader = asyncio.ensure_future(pump_in())
                try:
                    while (item := await sub.queue.get()) is not None:
                        try:
                            await ws.send(item[1])
                        except (ConnectionError, OSError):
                            break
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
                    await supervisor.detach(c.id, sub, by_keys=detached.is_set())
            finally:
                await ws.close()

        return Hijack(handler, websocket_accept=accept)

    @r.route("POST", "/containers/{id}/attach")
    async def attach(req: Request) -> Hijack:
        want_stdin = req.bool_param("stdin")
        want_out = req.bool_param("stdout")
        want_err = req.bool_param("stderr")
        stream = req.bool_param("stream")
        logs_too = req.bool_param("logs")
        c0 = queries.get(req.params["id"])
        detach_keys = DetachKeys(req.param("detachKeys") or "", tty=c0.tty)
        if c0.state.status == "paused":
            raise Conflict(f"container {c0.id} is paused, unpause the container before attach")
        if not stream and not logs_too:
            raise InvalidArgument("at least one of stream or logs must be set")
        if stream:
            sub = await supervisor.attach(c0, stdout=want_out, stderr=want_err)
        else:
            sub = None
        c = c0
        tty = c.tty

        async def handler(raw: RawStream) -> None:
            if logs_too:
                _c, entries = await logs.logs(
                    c.id,
                    stdout=want_out,
                    stderr=want_err,
                    follow=False,
                    since_ns=0,
                    until_ns=0,
                    tail=-1,
                    timestamps=False,
                )
                async for s, data in entries:
                    await raw.write(data if tty else frame(s, data))
            if sub is None:
                return
            detached = asyncio.Event()

            async def pump_in() -> None:
                while True:
                    data = await raw.read()
                    if not data:
                        if c.config.stdin_once and not detached.is_set():
                            await supervisor.close_stdin(c.id)
                        return
                    out, seen = detach_keys.feed(data)
                    if out:
                        await supervisor.write_stdin(c.id, out)
                    if seen:
                        detached.set()
                        sub.close()
                        return

            reader = asyncio.ensure_future(pump_in()) if want_stdin and c.config.open_stdin else None
            try:
                while True:
                    item = await sub.queue.get()
                    if item is None:
                        break
                    s, data = item
                    try:
                        await raw.write(data if tty else frame(s, data))
                    except (ConnectionError, OSError):
                        break
            finally:
                if reader is not None:
                    reader.cancel()
                await supervisor.detach(c.id, sub, by_keys=detached.is_set())

        return Hijack(handler, content_type=RAW if tty else MULTIPLEXED)

    # -- exec -------------------------------------------------------------------------------------

    @r.route("POST", "/containers/{id}/exec")
    async def exec_create(req: Request) -> Response:
        body = await req.json(required=True)
        eid = execs.create(req.params["id"], records.decode(ExecCreate, body))
        return json_response({"Id": eid}, status=201)

    def startable(exec_id: str) -> ExecState:
        """The exec, if it may start now. Raises NotFound, Conflict (not running, already run)."""
        ex = execs.get(exec_id)
        c = execs.container_of(ex.config.id)
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        if ex.started:
            raise Conflict(f"Error: Exec command {ex.config.id} has already run")
        return ex

    async def run_exec(
        raw: RawStream | WebSocketStream, ex: ExecState, *, tty: bool | None, console: tuple[int, int] | None
    ) -> None:
        """An attached exec session over ``raw``: its input to the process, the process's
        output back (framed unless a TTY), until it ends or the client detaches."""
        use_tty = ex.config.tty if tty is None else bool(tty)
        detach_keys = DetachKeys(ex.config.detach_keys, tty=use_tty)
        try:
            session = await execs.start(ex.config.id, detach=False, tty=tty, console_size=console)
        except BallenaError as e:
            # The command's own failure (not found, not executable) is its output, as dockerd
            # writes it; anything else goes to stderr.
            message = (e.message + "\r\n").encode()
            stream = 1 if isinstance(e, CommandNotRunnable | RuntimeFailure) else 2
            await raw.write(message if use_tty else frame(stream, message))
            return

        detached = asyncio.Event()

        async def pump_in() -> None:
            while True:
                data = await raw.read()
                if not data:
                    await session.close_stdin()
                    return
                out, seen = detach_keys.feed(data)
                if out:
                    await session.send_stdin(out)
                if seen:  # the exec goes on; this client leaves it
                    detached.set()
                    return

        reader = asyncio.ensure_future(pump_in()) if ex.config.attach_stdin else None
        frames = aiter(session.frames())
        try:
            while not detached.is_set():
                next_frame = asyncio.ensure_future(anext(frames))
                stop = asyncio.ensure_future(detached.wait())
                done, _ = await asyncio.wait({next_frame, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if next_frame not in done:
                    next_frame.cancel()
                    break
                try:
                    s, data = next_frame.result()
                except StopAsyncIteration:
                    break
                if s == 1 and not ex.config.attach_stdout and not use_tty:
                    continue
                if s == 2 and not ex.config.attach_stderr and not use_tty:
                    continue
                try:
                    await raw.write(data if use_tty else frame(s, data))
                except (ConnectionError, OSError):
                    break
        finally:
            if reader is not None:
                # Gone before the caller reads the connection again (a WebSocket's close).
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    @r.route("POST", "/exec/{id}/start")
    async def exec_start(req: Request) -> Response | Hijack:
        body = records.decode(ExecStart, await req.json())
        ex = startable(req.params["id"])
        tty = body.tty
        size = body.console_size
        console = (int(size[0]), int(size[1])) if size and len(size) == 2 and any(size) else None
        if body.detach:
            try:
                await execs.start(ex.config.id, detach=True, tty=tty, console_size=console)
            except (CommandNotRunnable, RuntimeFailure) as e:
                raise InvalidArgument(e.message) from None
            return Response(status=200, content_type=None)
        use_tty = ex.config.tty if tty is None else bool(tty)

        async def handler(raw: RawStream) -> None:
            await run_exec(raw, ex, tty=tty, console=console)

        return Hijack(handler, content_type=RAW if use_tty else MULTIPLEXED)

    @r.route("GET", "/ballena/exec/{id}/ws")
    async def exec_ws(req: Request) -> Hijack:
        """An exec started over a WebSocket, for browsers (the dashboard's terminal), which
        cannot take over an HTTP connection as ``POST /exec/{id}/start`` does. Binary
        frames, raw as a TTY's; ``h`` and ``w`` give the first console size."""
        accept = accept_key(req)
        ex = startable(req.params["id"])
        h, w = req.int_param("h", 0) or 0, req.int_param("w", 0) or 0
        console = (h, w) if h > 0 and w > 0 else None

        async def handler(raw: RawStream) -> None:
            ws = WebSocket(raw, binary=True)
            try:
                await run_exec(WebSocketStream(ws), ex, tty=None, console=console)
            finally:
                await ws.close()

        return Hijack(handler, websocket_accept=accept)

    @r.route("GET", "/exec/{id}/json")
    async def exec_inspect(req: Request) -> Response:
        ex = execs.get(req.params["id"])
        cfg = ex.config
        return json_response(
            {
                "CanRemove": False,
                "ContainerID": cfg.container_id,
                "DetachKeys": cfg.detach_keys,
                "ExitCode": ex.exit_code,
                "ID": cfg.id,
                "OpenStderr": cfg.attach_stderr,
                "OpenStdin": cfg.attach_stdin,
                "OpenStdout": cfg.attach_stdout,
                "Running": ex.running,
                "Pid": ex.pid if ex.running else 0,
                "ProcessConfig": {
                    "arguments": list(cfg.cmd[1:]),
                    "entrypoint": cfg.cmd[0],
                    "privileged": cfg.privileged,
                    "tty": cfg.tty,
                    "user": cfg.user,
                },
            }
        )

    @r.route("POST", "/exec/{id}/resize")
    async def exec_resize(req: Request) -> Response:
        await execs.resize(req.params["id"], req.int_param("h", 0) or 0, req.int_param("w", 0) or 0)
        return Response(status=200, content_type="text/plain; charset=utf-8")

    return r
