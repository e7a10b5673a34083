"""``GET /ballena/images/{name}/layers[?tree=N]``: each layer's Dockerfile line, size, files
added/changed/removed and wasted bytes (Ballena's own; ``ballena image layers`` and the
dashboard read it)."""

from __future__ import annotations

import asyncio

from ballena import errors
from ballena.api.http import Request, Response, json_response
from ballena.api.router import Router
from ballena.services.layers import LayerAnalysis


def build(analysis: LayerAnalysis) -> Router:
    r = Router()

    @r.route("GET", "/ballena/images/{name:.+}/layers")
    async def layers(req: Request) -> Response:
        tree = req.param("tree")
        if tree is not None and not tree.lstrip("-").isdigit():
            raise errors.InvalidArgument(f"invalid tree {tree!r}: the index of a layer, from 0")
        return json_response(
            await asyncio.to_thread(analysis.layers, req.params["name"], tree=int(tree) if tree is not None else None)
        )

    return r
