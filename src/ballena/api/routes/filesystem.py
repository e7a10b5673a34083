"""``/containers/{id}/archive``, ``/changes``, ``/export`` and ``/commit``."""

from __future__ import annotations

from typing import Any

from ballena.api.http import Hijack, RawStream, Request, Response, StreamResponse, json_response
from ballena.api.router import Router
from ballena.core.containerconfig import ContainerConfig
from ballena.errors import InvalidArgument
from ballena.pkg import records
from ballena.services.filesystem import FilesystemService
from ballena.shim.fsops import encode_stat

_STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(req: Request) -> str:
    """The ``path`` parameter of the archive routes. Raises InvalidArgument for a NUL byte (no
    path on Linux holds one)."""
    path = req.param("path") or ""
    if "\x00" in path:
        raise InvalidArgument("invalid path: it holds a NUL byte")
    return path


def build(fs: FilesystemService) -> Router:
    r = Router()

    async def stat_only(req: Request) -> Response:
        info = await fs.stat(req.params["id"], _path(req))
        return Response(status=200, content_type="application/json", headers=[(_STAT_HEADER, encode_stat(info))])

    @r.route("GET", "/containers/{id}/archive")
    async def get_archive(req: Request) -> Response | StreamResponse | Hijack:
        if req.method == "HEAD":  # GET routes answer HEAD too
            return await stat_only(req)
        path = _path(req)
        fd = req.connection_fd()
        if fd is not None:
            # The helper writes the tar on the client's connection itself (a body that ends
            # when the connection closes): nothing passes through this process.
            info, write_body = await fs.get_archive_to(req.params["id"], path, fd)

            async def handler(_raw: RawStream) -> None:
                await write_body()

            headers = [(_STAT_HEADER, encode_stat(info)), ("Connection", "close")]
            return Hijack(handler, content_type="application/x-tar", headers=headers)
        info, body = await fs.get_archive(req.params["id"], path)
        return StreamResponse(body, content_type="application/x-tar", headers=[(_STAT_HEADER, encode_stat(info))])

    @r.route("PUT", "/containers/{id}/archive")
    async def put_archive(req: Request) -> Response:
        # The archive goes to the file helper on the client's own connection where it can
        # (1.7 times the throughput of relaying it through this process, bench/README.md).
        await fs.put_archive(
            req.params["id"],
            _path(req),
            req.hand_over_body() or req.chunks(),
            no_overwrite_dir_non_dir=req.bool_param("noOverwriteDirNonDir"),
            copy_uid_gid=req.bool_param("copyUIDGID"),
        )
        return Response(status=200, content_type=None)

    @r.route("GET", "/containers/{id}/changes")
    async def changes(req: Request) -> Response:
        import asyncio

        items = await asyncio.to_thread(fs.changes, req.params["id"])
        return json_response([{"Path": c.path, "Kind": c.kind} for c in items])

    @r.route("GET", "/containers/{id}/export")
    async def export(req: Request) -> StreamResponse:
        return StreamResponse(await fs.export(req.params["id"]), content_type="application/x-tar")

    @r.route("POST", "/commit")
    async def commit(req: Request) -> Response:
        body: dict[str, Any] = await req.json() or {}
        records.decode(ContainerConfig, body)  # the types checked as dockerd's decoder checks them
        container = req.param("container") or ""
        if not container:
            raise InvalidArgument("container is required")
        pause = req.param("pause")
        image_id = await fs.commit(
            container,
            repo=req.param("repo") or None,
            tag=req.param("tag") or None,
            comment=req.param("comment") or "",
            author=req.param("author") or "",
            changes=req.params_all("changes"),
            pause=True if pause is None else req.bool_param("pause"),
            config=body,
        )
        return json_response({"Id": image_id}, status=201)

    return r
