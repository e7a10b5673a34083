"""``/networks/*``."""

from __future__ import annotations

from typing import Any

from ballena.api.http import Request, Response, json_response
from ballena.api.router import Router
from ballena.core.networks import Network
from ballena.errors import InvalidArgument
from ballena.pkg.filters import Filters
from ballena.pkg.timeutil import rfc3339nano
from ballena.services.containers import Lifecycle
from ballena.services.networks import LIST_FILTERS, PRUNE_FILTERS, NetworkService


def network_json(n: Network, containers: dict[str, Any] | None = None) -> dict[str, Any]:
    config = (
        [{"Subnet": n.subnet, "Gateway": n.gateway, **({"IPRange": n.ip_range} if n.ip_range else {})}]
        if n.subnet
        else []
    )
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": rfc3339nano(n.created_ns),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": n.driver == "bridge",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if n.builtin else {}, "Config": config},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers if containers is not None else {},
        "Options": dict(n.options),
        "Labels": dict(n.labels),
    }


def build(networks: NetworkService, containers: Lifecycle) -> Router:
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
        body = await req.json(required=True) or {}
        n = await networks.create(body)
        return json_response({"Id": n.id, "Warning": ""}, status=201)

    @r.route("DELETE", "/networks/{id}")
    async def remove(req: Request) -> Response:
        await networks.remove(req.params["id"])
        return Response(status=204, content_type=None)

    @r.route("POST", "/networks/{id}/connect")
    async def connect(req: Request) -> Response:
        body = await req.json(required=True) or {}
        if not body.get("Container"):
            raise InvalidArgument("container is required")
        await containers.connect_network(body["Container"], req.params["id"], body.get("EndpointConfig") or {})
        return Response(status=200, content_type=None)

    @r.route("POST", "/networks/{id}/disconnect")
    async def disconnect(req: Request) -> Response:
        body = await req.json(required=True) or {}
        if not body.get("Container"):
            raise InvalidArgument("container is required")
        await containers.disconnect_network(body["Container"], req.params["id"], force=bool(body.get("Force")))
        return Response(status=200, content_type=None)

    @r.route("POST", "/networks/prune")
    async def prune(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=PRUNE_FILTERS)
        removed = await networks.prune(filters)
        return json_response({"NetworksDeleted": removed or None})

    return r
