"""``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ballena import __version__
from ballena.api.http import Request, Response, StreamResponse, json_response
from ballena.api.router import API_VERSION, MIN_API_VERSION, Router
from ballena.api.routes import containers as containers_routes
from ballena.api.routes import images as images_routes
from ballena.api.routes import volumes as volumes_routes
from ballena.api.streams import json_line
from ballena.pkg import records
from ballena.pkg.filters import Filters
from ballena.pkg.platforms import go_arch
from ballena.pkg.timeutil import now_ns, parse_api_timestamp, rfc3339nano
from ballena.services.containers import ContainerQueries
from ballena.services.events import ACCEPTED_FILTERS, EventBus, to_wire
from ballena.services.system import HostFacts, SystemService

ENGINE_NAME = "Ballena Engine"


def version_info(facts: HostFacts) -> dict[str, Any]:
    py = f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    return {
        "Platform": {"Name": f"{ENGINE_NAME} {__version__}"},
        "Components": [
            {
                "Name": "Engine",
                "Version": __version__,
                "Details": {
                    "ApiVersion": API_VERSION,
                    "Arch": go_arch(),
                    "BuildTime": "",
                    "Experimental": "false",
                    "GitCommit": "",
                    "GoVersion": py,
                    "KernelVersion": facts.kernel,
                    "MinAPIVersion": MIN_API_VERSION,
                    "Os": "linux",
                },
            }
        ],
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": py,
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": facts.kernel,
        "BuildTime": "",
    }


def build(*, events: EventBus, system: SystemService) -> Router:
    r = Router()
    facts = system.facts

    async def ping(req: Request) -> Response:
        headers = [
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
            ("Builder-Version", "1"),
            ("Swarm", "inactive"),
        ]
        if req.method == "HEAD":
            return Response(
                status=200,
                body=b"",
                content_type="text/plain; charset=utf-8",
                headers=[*headers, ("Content-Length", "0")],
            )
        return Response(status=200, body=b"OK", content_type="text/plain; charset=utf-8", headers=headers)

    r.add("GET", "/_ping", ping)

    @r.route("GET", "/version")
    async def version(req: Request) -> Response:
        return json_response(version_info(facts))

    @r.route("GET", "/info")
    async def get_info(req: Request) -> Response:
        return json_response(info(system))

    @r.route("GET", "/system/df")
    async def df(req: Request) -> Response:
        return json_response(await asyncio.to_thread(disk_usage, system, system.queries, req))

    @r.route("GET", "/events")
    async def get_events(req: Request) -> StreamResponse:
        filters = Filters.parse(req.param("filters"), accepted=ACCEPTED_FILTERS)
        since = parse_api_timestamp(req.param("since") or "") if req.param("since") else None
        until = parse_api_timestamp(req.param("until") or "") if req.param("until") else None
        if since is not None and since > now_ns():
            since = since  # future since: wait for events from then on

        async def stream() -> AsyncIterator[bytes]:
            async for ev in events.subscribe(since_ns=since, until_ns=until, filters=filters):
                yield json_line(to_wire(ev))

        return StreamResponse(stream())

    return r


def machine() -> str:
    return platform.machine()


def now_text() -> str:
    return rfc3339nano(now_ns())


def info(system: SystemService) -> dict[str, Any]:
    """``/info`` in dockerd's shape."""
    f, s, state = system.facts, system.settings, system.state()
    runtimes: dict[str, dict[str, Any]] = {}
    for name, rt in s.runtimes.items():
        path = "ballena (native)" if rt.native else rt.path
        runtimes[name] = {"path": path, **({"runtimeArgs": list(rt.args)} if rt.args else {})}
    security = ["name=seccomp,profile=builtin"] if f.seccomp else []
    if f.apparmor:
        security.insert(0, "name=apparmor")
    if f.cgroup_version == "2":
        security.append("name=cgroupns")
    warnings = []
    if not f.apparmor:
        warnings.append("WARNING: AppArmor is not available on this host: containers run without an AppArmor profile")
    return {
        "ID": s.engine_id,
        "Containers": state.containers["total"],
        "ContainersRunning": state.containers["running"],
        "ContainersPaused": state.containers["paused"],
        "ContainersStopped": state.containers["stopped"],
        "Images": state.images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", _fs_type(s.data_root)],
            ["Supports d_type", "true"],
            ["Using metacopy", "false"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "none"],
            "Authorization": [],
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": True,
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "Debug": s.debug,
        "NFd": state.open_files,
        "OomKillDisable": True,
        "NGoroutines": 0,
        "SystemTime": now_text(),
        "LoggingDriver": s.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": f.cgroup_version,
        "NEventsListener": state.event_listeners,
        "KernelVersion": f.kernel,
        "OperatingSystem": f.operating_system,
        "OSVersion": f.os_version,
        "OSType": "linux",
        "Architecture": f.architecture,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "IndexConfigs": {
                "docker.io": {
                    "Name": "docker.io",
                    "Mirrors": list(s.registry_mirrors),
                    "Secure": True,
                    "Official": True,
                }
            },
            "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
            "Mirrors": list(s.registry_mirrors),
        },
        "NCPU": f.ncpu,
        "MemTotal": f.mem_total,
        "GenericResources": [],
        "DockerRootDir": str(s.data_root),
        "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
        "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": socket.gethostname(),
        "Labels": list(s.labels),
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": runtimes,
        "DefaultRuntime": s.default_runtime,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": s.live_restore,
        "Isolation": "",
        "InitBinary": "ballena-init",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": security,
        "CDISpecDirs": [],
        "Warnings": warnings or None,
    }


def disk_usage(system: SystemService, queries: ContainerQueries, req: Request) -> dict[str, Any]:
    """``/system/df`` (blocking)."""
    du = system.disk_usage()
    images = []
    for u in du.images:
        doc = images_routes.summary(u.image, req, u.containers)
        doc["SharedSize"] = u.shared_size
        images.append(doc)
    return {
        "LayersSize": du.layers_size,
        "Images": images,
        "Containers": [containers_routes.summary(queries, c, req, size=True) for c in du.containers],
        "Volumes": [volumes_routes.volume_json(v, usage) for v, usage in du.volumes],
        "BuildCache": [records.encode(r) for r in du.build_cache],
    }


def _fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return {"ext4": "extfs", "ext3": "extfs", "ext2": "extfs"}.get(kind, kind)
