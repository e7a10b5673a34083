"""``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``."""

from __future__ import annotations

import platform
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from ballena import __version__
from ballena.api.http import Request, Response, StreamResponse, json_response
from ballena.api.router import API_VERSION, MIN_API_VERSION, Router
from ballena.api.streams import json_line
from ballena.pkg.filters import Filters
from ballena.pkg.timeutil import now_ns, parse_api_timestamp, rfc3339nano
from ballena.services.events import ACCEPTED_FILTERS, EventBus, to_wire
from ballena.services.images import go_arch
from ballena.services.system import HostFacts

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


def build(
    *, events: EventBus, facts: HostFacts, info: Callable[[], dict[str, Any]], disk_usage: Callable[[Request], Any]
) -> Router:
    r = Router()

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
        return json_response(info())

    @r.route("GET", "/system/df")
    async def df(req: Request) -> Response:
        return json_response(await disk_usage(req))

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
