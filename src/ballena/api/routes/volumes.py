"""``/volumes/*``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ballena.api.http import Request, Response, json_response, no_content
from ballena.api.router import Router
from ballena.core.volumes import Volume, VolumeCreate
from ballena.pkg import records
from ballena.pkg.filters import Filters
from ballena.services.volumes import LIST_FILTERS, PRUNE_FILTERS, VolumeService


def volume_json(v: Volume, usage: dict[str, int] | None = None) -> dict[str, Any]:
    secs = v.created_ns // 10**9
    out: dict[str, Any] = {
        "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs)),
        "Driver": v.driver,
        "Labels": dict(v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": dict(v.options),
        "Scope": "local",
    }
    if usage is not None:
        out["UsageData"] = usage
    return out


def build(volumes: VolumeService) -> Router:
    r = Router()

    @r.route("GET", "/volumes")
    async def list_volumes(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=LIST_FILTERS)
        return json_response({"Volumes": [volume_json(v) for v in volumes.list_volumes(filters)], "Warnings": []})

    @r.route("POST", "/volumes/create")
    async def create(req: Request) -> Response:
        body = records.decode(VolumeCreate, await req.json())
        v = volumes.create(
            body.name or None,
            driver=body.driver or "local",
            options=dict(body.driver_opts or {}),
            labels=dict(body.labels or {}),
        )
        return json_response(volume_json(v), status=201)

    @r.route("GET", "/volumes/{name}")
    async def inspect(req: Request) -> Response:
        return json_response(volume_json(volumes.get(req.params["name"])))

    @r.route("DELETE", "/volumes/{name}")
    async def remove(req: Request) -> Response:
        volumes.remove(req.params["name"], force=req.bool_param("force"))
        return no_content()

    @r.route("POST", "/volumes/prune")
    async def prune(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=PRUNE_FILTERS)
        removed, reclaimed = await asyncio.to_thread(volumes.prune, filters)
        return json_response({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})

    return r
