"""Registry endpoints: ``POST /images/create?fromImage=`` (pull), ``POST /images/{name}/push``,
``POST /auth``, ``GET /images/search``, ``GET /distribution/{name}/json``.

As dockerd, a pull or push answers with an HTTP error while nothing has been streamed yet (an
unknown tag, a refused login), and with an ``errorDetail`` message in the stream after that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ballena import errors
from ballena.api.errors import message_for
from ballena.api.http import Request, Response, StreamResponse, json_response
from ballena.api.router import Router
from ballena.api.streams import json_error, json_line
from ballena.distribution.auth import credentials_from_header, credentials_from_json
from ballena.pkg.filters import Filters
from ballena.services.library import LibraryService
from ballena.services.registry import RegistryService, describe

log = logging.getLogger(__name__)

SEARCH_FILTERS = frozenset({"is-automated", "is-official", "stars"})


async def stream(messages: AsyncIterator[dict[str, Any]]) -> StreamResponse:
    """Wait for the first message (so early failures become HTTP errors), then stream."""
    try:
        first = await messages.__anext__()
    except StopAsyncIteration:
        first = None

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield json_line(first)
                async for msg in messages:
                    yield json_line(msg)
        except errors.BallenaError as e:
            yield json_line(describe(e))
        except Exception as e:
            # A fault of ours: the client reads it in the stream, as dockerd's do, rather than
            # a cut connection ("unexpected EOF"); the log keeps the whole traceback.
            log.error("pull or push failed", exc_info=e)
            yield json_error(message_for(e))
        finally:
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                await aclose()

    return StreamResponse(body())


def pull_handler(registry: RegistryService, library: LibraryService) -> Callable[[Request], Awaitable[StreamResponse]]:
    """``POST /images/create?fromImage=``: the images routes hand pulls to this. The library
    stands in when docker.io cannot be reached (the daemon's ``offline-library``)."""

    async def pull(req: Request) -> StreamResponse:
        from_image = req.param("fromImage") or ""
        ref, all_tags = registry.pull_reference(from_image, req.param("tag") or None)
        credentials = credentials_from_header(req.headers.get("x-registry-auth"))
        return await stream(library.pull(ref, credentials, platform=req.param("platform") or None, all_tags=all_tags))

    return pull


def build(registry: RegistryService) -> Router:
    r = Router()

    @r.route("POST", "/images/{name:.+}/push")
    async def push(req: Request) -> StreamResponse:
        header = req.headers.get("x-registry-auth")
        if header is not None:
            credentials = credentials_from_header(header)
        else:  # the old way: the AuthConfig as the body
            body = await req.json()
            credentials = credentials_from_json(body if isinstance(body, dict) else {})
        return await stream(registry.push(req.params["name"], req.param("tag") or None, credentials))

    @r.route("POST", "/auth")
    async def auth(req: Request) -> Response:
        body = await req.json(required=True)
        if not isinstance(body, dict):
            raise errors.InvalidArgument("invalid JSON: the body must be an AuthConfig object")
        result = await asyncio.to_thread(registry.login, credentials_from_json(body))
        return json_response(result)

    @r.route("GET", "/images/search")
    async def search(req: Request) -> Response:
        term = req.param("term") or ""
        if not term:
            raise errors.InvalidArgument("the search term must not be empty")
        filters = Filters.parse(req.param("filters"), accepted=SEARCH_FILTERS)
        limit = req.int_param("limit", 25) or 25
        if not 1 <= limit <= 100:
            raise errors.InvalidArgument(f"limit {limit} is outside the range of [1, 100]")
        credentials = credentials_from_header(req.headers.get("x-registry-auth"))
        results = await asyncio.to_thread(registry.search, term, limit, credentials)
        stars = max((int(v) for v in filters.get("stars")), default=0) if "stars" in filters else 0
        official = filters.bool_value("is-official")
        automated = filters.bool_value("is-automated")
        out = [
            x
            for x in results
            if x["star_count"] >= stars
            and (official is None or x["is_official"] == official)
            and (automated is None or x["is_automated"] == automated)
        ]
        return json_response(out)

    @r.route("GET", "/distribution/{name:.+}/json")
    async def distribution(req: Request) -> Response:
        credentials = credentials_from_header(req.headers.get("x-registry-auth"))
        return json_response(await asyncio.to_thread(registry.distribution_inspect, req.params["name"], credentials))

    return r
