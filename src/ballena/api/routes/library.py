"""Ballena's own endpoints for the offline library (no Docker counterpart, so under
``/ballena/``): ``GET /ballena/library`` lists what it can build, ``POST
/ballena/library/build?name=redis:7`` builds one, streaming progress as a pull does."""

from __future__ import annotations

from ballena import errors
from ballena.api.http import Request, Response, StreamResponse, json_response
from ballena.api.router import Router
from ballena.api.routes.registry import stream
from ballena.pkg import reference
from ballena.services.library import LibraryService, catalog_check


def build(library: LibraryService) -> Router:
    r = Router()

    @r.route("GET", "/ballena/library")
    async def listing(req: Request) -> Response:
        return json_response(library.catalog())

    @r.route("POST", "/ballena/library/build")
    async def build_one(req: Request) -> StreamResponse:
        name = req.param("name") or ""
        if not name:
            raise errors.InvalidArgument("name is required: an image of the library, such as redis:7")
        ref = reference.parse_normalized(name)
        if ref.domain != "docker.io" or ref.digest:
            raise errors.InvalidArgument(f"{name} is not a Docker Hub image name (such as redis or mariadb:10.11)")
        repository, tag = ref.path.removeprefix("library/"), ref.tag or "latest"
        catalog_check(repository, tag)  # refused as an HTTP error, before any stream
        return await stream(library.build(repository, tag))

    return r
