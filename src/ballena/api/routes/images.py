"""``/images/*``, ``/commit`` is in containers: the wire format of images."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from ballena import errors
from ballena.api.http import Request, Response, StreamResponse, json_response
from ballena.api.router import Router, api_at_least
from ballena.api.streams import json_error, json_status, json_stream
from ballena.core.images import Image
from ballena.distribution.manifests import parse_platform
from ballena.pkg import reference
from ballena.pkg.bridge import produce
from ballena.pkg.filters import Filters
from ballena.pkg.timeutil import rfc3339nano
from ballena.services.imagearchives import ImageArchives
from ballena.services.images import LIST_FILTERS, PRUNE_FILTERS, ImageService


@functools.lru_cache(maxsize=4096)
def _familiar_one(ref: str) -> str:
    return reference.parse_normalized(ref).familiar()


def _familiar(refs: tuple[str, ...]) -> list[str]:
    return [_familiar_one(r) for r in refs]


def summary(img: Image, req: Request, containers: int = -1) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Containers": containers,
        "Created": img.created_ns // 10**9,
        "Id": img.id,
        "Labels": dict(img.labels),
        "ParentId": img.parent,
        "RepoDigests": _familiar(img.repo_digests),
        "RepoTags": _familiar(img.repo_tags),
        "SharedSize": -1,
        "Size": img.size,
    }
    if not api_at_least(req, "1.44"):
        out["VirtualSize"] = img.size
    if not api_at_least(req, "1.43") and not img.repo_tags:
        out["RepoTags"] = ["<none>:<none>"]
        if not img.repo_digests:
            out["RepoDigests"] = ["<none>@<none>"]
    return out


def inspect(img: Image, req: Request, graph: dict[str, str]) -> dict[str, Any]:
    cfg = img.config
    run = dict(cfg.get("config") or {})
    out: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": _familiar(img.repo_tags),
        "RepoDigests": _familiar(img.repo_digests),
        "Parent": img.parent,
        "Comment": cfg.get("comment", ""),
        "Created": cfg.get("created") or rfc3339nano(img.created_ns),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": _image_run_config(run, req),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", "linux"),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay2", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": list(cfg.get("rootfs", {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": rfc3339nano(img.last_tag_ns)},
    }
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    if not api_at_least(req, "1.44"):
        out["VirtualSize"] = img.size
        out["Container"] = ""
        out["ContainerConfig"] = {}
    return out


# The keys Docker always shows in a container config (an image's or a container's).
CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


# An image's config from API 1.52 (Engine 29) on: the OCI image config's fields, each left out
# when empty, as the schema has them (no nulls; the container-only fields gone). Before, the
# container-config shape with its defaults, nulls included (deprecated in Engine 28.3).
IMAGE_CONFIG_FIELDS = (
    "User", "ExposedPorts", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Volumes", "WorkingDir",
    "Entrypoint", "OnBuild", "Labels", "StopSignal", "Shell",
)  # fmt: skip


def _image_run_config(run: dict[str, Any], req: Request) -> dict[str, Any]:
    if api_at_least(req, "1.52"):
        return {k: run[k] for k in IMAGE_CONFIG_FIELDS if run.get(k) not in (None, "", [], {}, False)}
    return {**CONFIG_DEFAULTS, **run}


def build(images: ImageService, archives: ImageArchives, *, containers_count: Any = None, pull: Any = None) -> Router:
    r = Router()

    @r.route("GET", "/images/json")
    async def list_images(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=LIST_FILTERS)
        if req.param("filter"):
            filters.fields.setdefault("reference", (req.param("filter") or "",))
        imgs = await asyncio.to_thread(images.list_images, all_=req.bool_param("all"), filters=filters)
        counts = containers_count() if containers_count else {}
        return json_response([summary(i, req, counts.get(i.id, -1) if counts else -1) for i in imgs])

    @r.route("GET", "/images/{name:.+}/json")
    async def inspect_image(req: Request) -> Response:
        img = images.get(req.params["name"])
        graph = images.graph_driver_data(img)
        return json_response(inspect(img, req, graph))

    @r.route("GET", "/images/{name:.+}/attestations")
    async def attestations(req: Request) -> Response:
        # Pulls keep the image for this platform only, not the attestation manifests beside
        # it: every local image has none, which the spec answers with an empty array.
        if req.param("platform"):
            parse_platform(req.param("platform"))
        images.get(req.params["name"])
        return json_response([])

    @r.route("GET", "/images/{name:.+}/history")
    async def history(req: Request) -> Response:
        return json_response(images.history(req.params["name"]))

    @r.route("POST", "/images/{name:.+}/tag")
    async def tag(req: Request) -> Response:
        repo = req.param("repo") or ""
        if not repo:
            raise errors.InvalidArgument("repository name must have at least one component")
        images.tag(req.params["name"], repo, req.param("tag"))
        return Response(status=201, content_type=None)

    @r.route("DELETE", "/images/{name:.+}")
    async def remove(req: Request) -> Response:
        records = images.remove(req.params["name"], force=req.bool_param("force"), prune=not req.bool_param("noprune"))
        return json_response([{"Untagged": x.untagged} if x.untagged else {"Deleted": x.deleted} for x in records])

    @r.route("POST", "/images/prune")
    async def prune(req: Request) -> Response:
        filters = Filters.parse(req.param("filters"), accepted=PRUNE_FILTERS)
        dangling = filters.bool_value("dangling")
        records, reclaimed = await asyncio.to_thread(images.prune, dangling_only=dangling is not False, filters=filters)
        deleted = [{"Untagged": x.untagged} if x.untagged else {"Deleted": x.deleted} for x in records]
        return json_response({"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed})

    @r.route("POST", "/images/create")
    async def create(req: Request) -> Response | StreamResponse:
        src = req.param("fromSrc")
        if src is None:
            from_image = req.param("fromImage")
            if not from_image:
                raise errors.InvalidArgument("fromImage or fromSrc is required")
            if pull is None:
                raise errors.Unsupported("pulling images from a registry is not configured")
            return await pull(req)
        repo = req.param("repo") or None
        tag = req.param("tag") or None
        if repo:
            reference.parse_repository_and_tag(repo, tag)  # fail before reading the body
        changes = req.params_all("changes")
        message = req.param("message") or ""
        if src != "-":
            raise errors.Unsupported("importing from a URL is not available yet")
        writer = archives.blob_writer()
        try:
            async for chunk in req.chunks():
                writer.write(chunk)
            if writer.size == 0:
                raise errors.InvalidArgument("import: the archive is empty")
            blob = writer.commit()
        except BaseException:
            writer.abort()
            raise

        async def run() -> Any:
            try:
                image_id = await asyncio.to_thread(
                    archives.import_layer, blob, repo=repo, tag=tag, changes=changes, message=message, source="-"
                )
                yield json_status(image_id)
            except errors.BallenaError as e:
                yield json_error(e.message)

        return StreamResponse(run())

    @r.route("GET", "/images/{name:.+}/get")
    async def save_one(req: Request) -> StreamResponse:
        return await _save(archives, [req.params["name"]])

    @r.route("GET", "/images/get")
    async def save_many(req: Request) -> StreamResponse:
        return await _save(archives, req.params_all("names"))

    @r.route("POST", "/images/load")
    async def load(req: Request) -> StreamResponse:
        quiet = req.bool_param("quiet")
        fd, path = archives.spool_path()
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in req.chunks():
                    f.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

        async def run() -> Any:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[bytes | None] = asyncio.Queue()

            def progress(text: str) -> None:
                if not quiet:
                    loop.call_soon_threadsafe(queue.put_nowait, json_status(text, None))

            async def work() -> list[str]:
                try:
                    return await asyncio.to_thread(archives.load_archive, path, progress)
                finally:
                    path.unlink(missing_ok=True)
                    queue.put_nowait(None)

            task = asyncio.ensure_future(work())
            while (item := await queue.get()) is not None:
                yield item
            try:
                lines = await task
            except errors.BallenaError as e:
                yield json_error(e.message)
                return
            for line in lines:
                yield json_stream(line + "\n")

        return StreamResponse(run())

    return r


async def _save(archives: ImageArchives, names: list[str]) -> StreamResponse:
    if not names:
        raise errors.InvalidArgument("no images given to save")
    selection = archives.resolve_for_save(names)
    return StreamResponse(produce(lambda w: archives.write_archive(selection, w)), content_type="application/x-tar")
