"""Registry use cases: pull, push, login, search, and the distribution inspect endpoint.

The distribution client is blocking (``http.client``, one thread per layer); here it runs on
worker threads and its progress messages come back to the event loop as an async stream.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ballena.distribution import manifests as mf
from ballena.distribution.auth import Credentials, TokenCache
from ballena.distribution.client import RegistryClient, registry_error
from ballena.distribution.endpoints import DOCKER_IO, Registries
from ballena.distribution.pull import Puller
from ballena.distribution.push import Pusher
from ballena.errors import BallenaError, Forbidden, InvalidArgument, NotFound, Unauthorized, Unsupported
from ballena.pkg import digest as dg
from ballena.pkg import reference
from ballena.services.events import EventBus
from ballena.stores.images import ImageStore

Message = dict[str, Any]


async def in_thread_with_progress(work: Callable[[Callable[[Message], None]], Any]) -> AsyncIterator[Message]:
    """Run ``work(emit)`` on a thread; yield what it emits, then ``{"result": ...}`` or raise."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    cancelled = threading.Event()

    def emit(msg: Message) -> None:
        if cancelled.is_set():
            raise InvalidArgument("the client went away")
        loop.call_soon_threadsafe(queue.put_nowait, ("msg", msg))

    def run() -> None:
        try:
            result = work(emit)
        except BaseException as e:
            loop.call_soon_threadsafe(queue.put_nowait, ("error", e))
        else:
            loop.call_soon_threadsafe(queue.put_nowait, ("done", result))

    thread = threading.Thread(target=run, name="registry", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "msg":
                yield value
            elif kind == "error":
                if isinstance(value, Unauthorized):
                    # Not a 401: on a 401 from pull or push the docker CLI prompts for a password
                    # on stdin and tries again; dockerd reports these refusals otherwise.
                    raise Forbidden(value.message) from None
                raise value
            else:
                yield {"result": value}
                return
    finally:
        cancelled.set()


# docker compose v2 and buildx, when they find no BuildKit in the daemon, boot one in a
# container of this image (the "docker-container" driver): a pull from Docker Hub that a
# classroom without Internet cannot make, and a builder Ballena would not use. It is refused
# at once with the way out, rather than attempted.
BUILDKIT_IMAGE = "docker.io/moby/buildkit"
NO_BUILDKIT = (
    "Ballena builds with its own classic builder and runs no BuildKit, so moby/buildkit is not pulled: "
    "build with DOCKER_BUILDKIT=0 (docker build, docker compose build), or use `ballena compose`"
)


class RegistryService:
    def __init__(
        self,
        *,
        store: ImageStore,
        events: EventBus,
        registries: Registries,
        max_downloads: int = 3,
        max_uploads: int = 5,
    ) -> None:
        self.store = store
        self.events = events
        self.registries = registries
        self.tokens = TokenCache()
        self.puller = Puller(store=store, registries=registries, tokens=self.tokens, max_downloads=max_downloads)
        self.pusher = Pusher(store=store, registries=registries, tokens=self.tokens, max_uploads=max_uploads)

    # -- pull ---------------------------------------------------------------------------------------

    @staticmethod
    def pull_reference(from_image: str, tag: str | None) -> tuple[reference.Reference, bool]:
        """``fromImage`` and ``tag`` as dockerd reads them; True when all tags are wanted.
        Raises InvalidArgument, Unsupported for BuildKit's own image (``BUILDKIT_IMAGE``)."""
        ref = reference.parse_normalized(from_image)
        if ref.name == BUILDKIT_IMAGE:
            raise Unsupported(NO_BUILDKIT)
        if tag:
            if dg.is_digest(tag):
                ref = ref.name_only().with_digest(tag)
            else:
                reference.validate_tag(tag)
                ref = ref.name_only().with_tag(tag)
        all_tags = ref.tag is None and ref.digest is None
        return ref, all_tags

    async def pull(
        self, ref: reference.Reference, credentials: Credentials, *, platform: str | None, all_tags: bool = False
    ) -> AsyncIterator[Message]:
        """Progress messages of pulling ``ref`` (every tag of the repository with ``all_tags``)."""
        refs = [ref]
        if all_tags:
            tags = await asyncio.to_thread(self.list_tags, ref, credentials)
            refs = [ref.name_only().with_tag(t) for t in tags]
        for one in refs:

            def work(emit: Callable[[Message], None], one: reference.Reference = one) -> Any:
                return self.puller.pull(one, credentials, emit, platform=platform)

            async for msg in in_thread_with_progress(work):
                if "result" in msg:
                    result = msg["result"]
                    yield {"status": f"Digest: {result.manifest_digest}"}
                    shown = one.familiar() if not all_tags else one.name_only().familiar()
                    if result.updated:
                        yield {"status": f"Status: Downloaded newer image for {shown}"}
                    else:
                        yield {"status": f"Status: Image is up to date for {shown}"}
                    self.events.publish("image", "pull", result.image_id, {"name": one.familiar()})
                else:
                    yield msg

    async def pull_for_build(self, name: str, emit: Callable[[Message], Awaitable[None]]) -> str:
        """A ``FROM`` image the store lacks: pull it anonymously, showing the progress in the
        build's output as the classic builder does. Returns the image ID."""
        ref = reference.parse_normalized(name).tagged_or_latest()
        async for msg in self.pull(ref, Credentials(), platform=None):
            await emit(msg)
        return self.store.resolve(str(ref))

    # -- push ---------------------------------------------------------------------------------------

    async def push(self, name: str, tag: str | None, credentials: Credentials) -> AsyncIterator[Message]:
        ref = reference.parse_normalized(name)
        if tag:
            reference.validate_tag(tag)
            ref = ref.name_only().with_tag(tag)
        tags = [ref.tag] if ref.tag else []
        async for msg in in_thread_with_progress(
            lambda emit: self.pusher.push(ref.name_only(), tags, credentials, emit)  # type: ignore[arg-type]
        ):
            if "result" in msg:
                for pushed in msg["result"]:
                    image = self.store.resolve(str(ref.name_only().with_tag(pushed.tag)))
                    self.events.publish(
                        "image", "push", image, {"name": ref.name_only().with_tag(pushed.tag).familiar()}
                    )
            else:
                yield msg

    # -- login ---------------------------------------------------------------------------------------

    def login(self, credentials: Credentials) -> dict[str, str]:
        """``POST /auth``: check the credentials against the registry. Blocking."""
        server = credentials.server or DOCKER_IO
        domain = _domain_of(server)
        client = RegistryClient(self.registries, domain, "", credentials=credentials, tokens=self.tokens)
        try:
            ep = client.ping()
            url = f"{ep.base}/v2/"
            if client.challenge is None:
                return {"Status": "Login Succeeded", "IdentityToken": ""}
            if credentials.empty:
                raise Unauthorized(f"login attempt to {url} failed with status: 401 Unauthorized")
            if client.challenge.scheme == "bearer":
                try:
                    client._authorization()  # a token for no scope proves the password
                except Unauthorized:
                    raise Unauthorized(f"login attempt to {url} failed with status: 401 Unauthorized") from None
            resp = client.request("GET", url)
            resp.read()
            if resp.status == 401:
                raise Unauthorized(f"login attempt to {url} failed with status: 401 Unauthorized")
            if resp.status >= 300 and resp.status != 404:
                raise Unauthorized(f"login attempt to {url} failed with status: {resp.status}")
            return {"Status": "Login Succeeded", "IdentityToken": ""}
        finally:
            client.close()

    # -- tags, search, inspect ---------------------------------------------------------------------

    def list_tags(self, ref: reference.Reference, credentials: Credentials) -> list[str]:
        """Every tag of the repository (following the registry's pagination). Blocking."""
        client = RegistryClient(self.registries, ref.domain, ref.path, credentials=credentials, tokens=self.tokens)
        try:
            return client.list_tags()
        finally:
            client.close()

    def search(self, term: str, limit: int, credentials: Credentials) -> list[dict[str, Any]]:
        """``docker search``: the registry's v1 search (Docker Hub's), else its catalog filtered
        by the term (which plain registries offer and Docker does not use). Blocking."""
        first, sep, rest = term.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            domain, query = first, rest  # "127.0.0.1:5000/name": that registry, that name
        else:
            domain, query = DOCKER_IO, term
        client = RegistryClient(self.registries, domain, "", credentials=credentials, tokens=self.tokens)
        try:
            ep = client.ping()
            base = "https://index.docker.io" if domain == DOCKER_IO else ep.base
            resp = client.request("GET", f"{base}/v1/search?q={urllib.parse.quote(query)}&n={limit or 25}")
            if resp.status == 200:
                doc = json.loads(resp.read() or b"{}")
                return [
                    {
                        "name": r.get("name", ""),
                        "description": r.get("description", ""),
                        "star_count": int(r.get("star_count") or 0),
                        "is_official": bool(r.get("is_official")),
                        "is_automated": bool(r.get("is_automated")),
                    }
                    for r in doc.get("results") or []
                ][: limit or 25]
            resp.read()
            resp = client.check(client.request("GET", f"{ep.base}/v2/_catalog?n=1000"), f"searching {domain}")
            names = json.loads(resp.read() or b"{}").get("repositories") or []
            prefix = "" if domain == DOCKER_IO else f"{domain}/"
            hits = [n for n in names if query.lower() in n.lower()]
            return [
                {"name": prefix + n, "description": "", "star_count": 0, "is_official": False, "is_automated": False}
                for n in hits[: limit or 25]
            ]
        finally:
            client.close()

    def distribution_inspect(self, name: str, credentials: Credentials) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the manifest descriptor and platforms. Blocking."""
        ref = reference.parse_normalized(name).tagged_or_latest()
        client = RegistryClient(self.registries, ref.domain, ref.path, credentials=credentials, tokens=self.tokens)
        try:
            wanted = ref.digest or ref.tag or "latest"
            resp = client.request("GET", f"manifests/{wanted}", headers={"Accept": mf.ACCEPT})
            if resp.status == 404:
                raise NotFound(f"manifest for {ref.familiar()} not found: {registry_error(404, resp.read())}")
            client.check(resp, ref.familiar())
            body = resp.read()
        finally:
            client.close()
        kind = mf.media_type_of(body, resp.header("content-type"))
        doc = json.loads(body)
        platforms: list[dict[str, Any]] = []
        if kind in mf.LISTS:
            for m in doc.get("manifests") or []:
                p = m.get("platform") or {}
                if p.get("os") and p.get("architecture") and p.get("architecture") != "unknown":
                    platforms.append({k: v for k, v in p.items() if v})
        return {
            "Descriptor": {"mediaType": kind, "digest": dg.of_bytes(body), "size": len(body)},
            "Platforms": platforms,
        }


def _domain_of(server: str) -> str:
    """A login's server address (``https://index.docker.io/v1/``, ``127.0.0.1:5000``) as a domain."""
    text = server.strip()
    if "://" in text:
        text = urllib.parse.urlsplit(text).netloc
    text = text.rstrip("/")
    if text in ("index.docker.io", "registry-1.docker.io", "docker.io", ""):
        return DOCKER_IO
    return text


def describe(e: BallenaError) -> Message:
    return {"errorDetail": {"message": e.message}, "error": e.message}
