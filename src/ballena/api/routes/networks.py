"""``/networks/*``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from ballena.api.http import Request, Response, json_response
from ballena.api.router import Router
from ballena.core.containerconfig import EndpointSettings
from ballena.core.networks import Endpoint, Network, NetworkCreate
from ballena.errors import InvalidArgument
from ballena.pkg import records
from ballena.pkg.filters import Filters
from ballena.pkg.records import tag
from ballena.pkg.timeutil import rfc3339nano
from ballena.services.containers import NetworkAttachments
from ballena.services.networks import LIST_FILTERS, PRUNE_FILTERS, NetworkService


def network_json(n: Network, endpoints: list[Endpoint] | None = None) -> dict[str, Any]:
    containers = {
        ep.container_id: {
            "Name": ep.container_name,
            "EndpointID": ep.endpoint_id,
            "MacAddress": ep.mac,
            "IPv4Address": f"{ep.ipv4}/{_prefix(n, 4)}" if ep.ipv4 else "",
            "IPv6Address": f"{ep.ipv6}/{_prefix(n, 6)}" if ep.ipv6 else "",
        }
        for ep in endpoints or ()
    }
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": rfc3339nano(n.created_ns),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": n.driver == "bridge",
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": dict(n.ipam_options),
            "Config": [records.encode(p) for p in n.pools],
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(n.options),
        "Labels": dict(n.labels),
    }


def _prefix(n: Network, version: int) -> int:
    pool = n.pool(version)
    return ipaddress.ip_network(pool.subnet).prefixlen if pool else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Connect:
    """The body of ``/networks/{id}/connect`` and ``/disconnect``."""

    __json_case__: ClassVar[str] = "pascal"
    __go_name__: ClassVar[str] = "NetworkConnectOptions"
    container: str = tag(default="")
    endpoint_config: EndpointSettings | None = tag(default=None)
    force: bool = tag(default=False)


def build(networks: NetworkService, attachments: NetworkAttachments) -> Router:
    r = Router()

    @r.route("GET", "/networks")
    async def list_networks(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=LIST_FILTERS)
        return json_response([network_json(n) for n in networks.list_networks(filters)])

    @r.route("GET", "/networks/{id}")
    async def inspect(req: Request) -> Response:
        n = networks.get(req.params["id"])
        return json_response(network_json(n, networks.endpoints_of(n)))

    @r.route("POST", "/networks/create")
    async def create(req: Request) -> Response:
        n = await networks.create(records.decode(NetworkCreate, await req.json(required=True)))
        return json_response({"Id": n.id, "Warning": ""}, status=201)

    @r.route("DELETE", "/networks/{id}")
    async def remove(req: Request) -> Response:
        await networks.remove(req.params["id"])
        return Response(status=204, content_type=None)

    @r.route("POST", "/networks/{id}/connect")
    async def connect(req: Request) -> Response:
        body = records.decode(_Connect, await req.json(required=True))
        if not body.container:
            raise InvalidArgument("container is required")
        await attachments.connect(body.container, req.params["id"], body.endpoint_config or EndpointSettings())
        return Response(status=200, content_type=None)

    @r.route("POST", "/networks/{id}/disconnect")
    async def disconnect(req: Request) -> Response:
        body = records.decode(_Connect, await req.json(required=True))
        if not body.container:
            raise InvalidArgument("container is required")
        await attachments.disconnect(body.container, req.params["id"], force=body.force)
        return Response(status=200, content_type=None)

    @r.route("POST", "/networks/prune")
    async def prune(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=PRUNE_FILTERS)
        removed = await networks.prune(filters)
        return json_response({"NetworksDeleted": removed})

    return r
