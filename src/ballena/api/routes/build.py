"""``POST /build`` (the classic builder the docker CLI uses without buildx) and ``/build/prune``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from ballena.api.http import Request, Response, StreamResponse, json_response
from ballena.api.router import Router
from ballena.api.streams import json_line
from ballena.errors import BallenaError, InvalidArgument
from ballena.pkg import reference
from ballena.services.build import BuildError, BuildOptions, BuildService


def _json_param(req: Request, name: str) -> Any:
    raw = req.param(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {name} JSON: {raw}") from None


def build(builder: BuildService) -> Router:
    r = Router()

    @r.route("POST", "/build")
    async def post_build(req: Request) -> StreamResponse:
        tags = req.params_all("t")
        for t in tags:
            reference.parse_normalized(t)  # a bad tag fails before the context is sent
        args = _json_param(req, "buildargs") or {}
        opts = BuildOptions(
            tags=tuple(tags),
            dockerfile=req.param("dockerfile") or "Dockerfile",
            build_args={k: (None if v is None else str(v)) for k, v in args.items()},
            no_cache=req.bool_param("nocache"),
            pull=req.bool_param("pull"),
            remove=req.bool_param("rm", True),
            force_remove=req.bool_param("forcerm"),
            labels=_json_param(req, "labels") or {},
            target=req.param("target") or None,
            network_mode=req.param("networkmode") or "default",
            quiet=req.bool_param("q"),
            cache_from=tuple(_json_param(req, "cachefrom") or ()),
            # The docker CLI sends one comma-separated value, docker-py one value per host.
            extra_hosts=tuple(h for v in req.params_all("extrahosts") for h in v.split(",") if h),
        )
        if req.param("remote"):
            raise InvalidArgument("remote build contexts are not supported; send the context as the body")
        context = await builder.receive_context(req.chunks())

        async def stream() -> AsyncIterator[bytes]:
            try:
                async with contextlib.aclosing(builder.stream(context=context, opts=opts)) as messages:
                    async for msg in messages:
                        if "result" not in msg:
                            yield json_line(msg)
            except BuildError as e:
                yield json_line({"errorDetail": {"code": e.code, "message": e.message}, "error": e.message})
            except BallenaError as e:
                yield json_line({"errorDetail": {"message": e.message}, "error": e.message})
            finally:
                # Not awaited: a cancelled build (the client went away) still removes it.
                asyncio.get_running_loop().run_in_executor(None, context.close)

        return StreamResponse(stream())

    @r.route("POST", "/build/prune")
    async def prune(req: Request) -> Response:
        removed, reclaimed = await asyncio.to_thread(builder.prune, all_=req.bool_param("all"))
        return json_response({"CachesDeleted": removed, "SpaceReclaimed": reclaimed})

    @r.route("POST", "/build/cancel")
    async def cancel(req: Request) -> Response:
        return Response(status=200, content_type=None)

    return r
