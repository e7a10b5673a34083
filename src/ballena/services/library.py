"""The offline library as a use case: build ``redis:7`` from Debian packages, on request
(``ballena bootstrap redis``) or when a pull of a Docker Hub library image cannot reach
docker.io (the daemon's ``offline-library`` setting).

A recipe builds with our own builder from its folder, ``FROM debian:bookworm-slim`` (itself
made here when missing); then the versions dpkg installed are read from the image's layers,
recorded in its labels, and name its tags. Builds of one recipe are serialised (a compose file
with two ``image: mariadb`` services builds it once), and the builder's cache makes a second
build of a recipe, after an ``rmi``, take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ballena.builder.context import BuildContext
from ballena.distribution.auth import Credentials
from ballena.errors import BallenaError, InvalidArgument, NotFound, Unavailable
from ballena.library import catalog, debian
from ballena.library.catalog import Wanted
from ballena.pkg import overlay, reference
from ballena.pkg.platforms import go_arch
from ballena.pkg.timeutil import rfc3339nano
from ballena.services.build import BuildOptions, BuildService
from ballena.services.images import ImageService
from ballena.services.registry import RegistryService, in_thread_with_progress
from ballena.stores.images import ImageStore

Message = dict[str, Any]
DOCKER_IO = "docker.io"


class LibraryService:
    def __init__(
        self,
        *,
        store: ImageStore,
        builder: BuildService,
        registry: RegistryService,
        images: ImageService,
        cache_dir: Path,
        tmp_dir: Path,
        fallback: bool = True,
    ) -> None:
        self.store = store
        self.builder = builder
        self.registry = registry
        self.images = images  # tags as `docker tag` does (and says so in the events)
        self.cache_dir = cache_dir  # the debootstrap kept between builds
        self.tmp_dir = tmp_dir
        self.fallback = fallback  # build when docker.io cannot be reached (--offline-library)
        self._locks: dict[str, asyncio.Lock] = {}

    # -- what it has --------------------------------------------------------------------------

    def catalog(self) -> list[dict[str, Any]]:
        """Every recipe, its tags, and the versions of what is already built here."""
        out = []
        for r in catalog.recipes().values():
            for repository in (r.name, *r.aliases):
                built = self._built(repository)
                out.append(
                    {
                        "Name": repository,
                        "Recipe": r.name,
                        "Description": r.description,
                        "Package": r.package,
                        "Series": r.series,
                        "Tags": catalog.producible(r),
                        "Built": built,
                    }
                )
        debian_built = self._built("debian")
        out.append(
            {
                "Name": "debian",
                "Recipe": "debootstrap",
                "Description": f"Debian {catalog.DEBIAN_SUITE} (debootstrap minbase), and its slim variant",
                "Package": "",
                "Series": catalog.DEBIAN_RELEASE,
                "Tags": list(catalog.DEBIAN_TAGS),
                "Built": debian_built,
            }
        )
        return sorted(out, key=lambda e: e["Name"])

    def _built(self, repository: str) -> dict[str, str]:
        """Tag -> the Debian version its image records, for the tags present here."""
        out: dict[str, str] = {}
        prefix = f"{reference.parse_normalized(repository).name}:"
        for ref in self.store.all_tag_refs():
            if ref.startswith(prefix):
                try:
                    labels = self.store.get(self.store.resolve(ref)).run_config.get("Labels") or {}
                except NotFound:
                    continue
                out[ref[len(prefix) :]] = str(labels.get(f"{catalog.LABEL_PREFIX}.version", ""))
        return out

    # -- pulls that fall back to the library ------------------------------------------------------

    def applies(self, ref: reference.Reference, error: BallenaError) -> bool:
        """Docker Hub could not be reached (not: it answered no) for an image the library has."""
        return (
            self.fallback
            and isinstance(error, Unavailable)
            and ref.domain == DOCKER_IO
            and ref.path.removeprefix("library/") in catalog.repository_names()
        )

    async def pull(
        self, ref: reference.Reference, credentials: Credentials, *, platform: str | None, all_tags: bool
    ) -> AsyncIterator[Message]:
        """A registry pull; when docker.io is unreachable and the library has the image, a
        library build instead, saying so in the pull's progress."""
        try:
            async for msg in self.registry.pull(ref, credentials, platform=platform, all_tags=all_tags):
                yield msg
            return
        except BallenaError as e:
            if not self.applies(ref, e) or ref.digest is not None:
                raise
            reason = e.message
        tag = ref.tag or "latest"
        name = ref.path.removeprefix("library/")
        try:
            catalog_check(name, tag)  # a tag it cannot make: the error says which it can
        except InvalidArgument as e:
            raise InvalidArgument(f"{reason}; and {e.message}") from None
        yield {"status": f"docker.io unreachable: building {ref.path}:{tag} from Debian packages"}
        yield {"stream": f"({reason})\n"}
        async for msg in self.build(name, tag):
            yield msg

    async def pull_for_build(self, name: str, emit: Callable[[Message], Awaitable[None]]) -> str:
        """A ``FROM`` the store lacks: as ``RegistryService.pull_for_build``, with the fallback."""
        ref = reference.parse_normalized(name).tagged_or_latest()
        async for msg in self.pull(ref, Credentials(), platform=None, all_tags=False):
            await emit(msg)
        return self.store.resolve(str(ref))

    # -- building ---------------------------------------------------------------------------------

    async def build(self, repository: str, tag: str | None) -> AsyncIterator[Message]:
        """Build ``repository:tag`` from the library; progress messages as a pull's, with the
        build's output as ``stream`` messages. Ends with the image's ID as ``aux``."""
        tag = tag or "latest"
        if repository == "debian":
            slim = catalog.debian_slim(tag)
            async for msg in self._base(slim):
                yield msg
            return
        w = catalog.wanted(repository, tag)
        async with self._lock(w.recipe.name):
            base = w.recipe.base or f"debian:{catalog.DEBIAN_SUITE}-slim"
            if self._resolve(base) is None:
                # The library's own base (php:8.2-apache for phpmyadmin), whatever docker.io says.
                base_repository, _, base_tag = base.partition(":")
                async for msg in self.build(base_repository, base_tag):
                    if "aux" not in msg:
                        yield msg
            async for msg in self._recipe(w):
                yield msg

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _resolve(self, name: str) -> str | None:
        try:
            return self.store.resolve(name)
        except NotFound:
            return None

    async def _base(self, slim: bool) -> AsyncIterator[Message]:
        suite = catalog.DEBIAN_SUITE
        async with self._lock("debian"):
            wanted = f"debian:{suite}-slim" if slim else f"debian:{suite}"
            yield {"status": f"Bootstrapping {wanted} from {debian.mirror()}"}

            def work(emit: Callable[[Message], None]) -> str:
                raw = debian.debootstrap(self.cache_dir, suite, lambda line: emit({"stream": line + "\n"}))
                emit({"status": f"Making {wanted} from the debootstrap"})
                return self._import_base(raw, suite, slim)

            image_id = ""
            async for msg in in_thread_with_progress(work):
                if "result" in msg:
                    image_id = msg["result"]
                else:
                    yield msg
            for t in catalog.debian_tags(slim):
                self.images.tag(image_id, "debian", t)
            yield {"status": f"Built {wanted}"}
            yield {"aux": {"ID": image_id}}

    def _import_base(self, raw: Path, suite: str, slim: bool) -> str:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="library-rootfs-", dir=self.tmp_dir))
        try:
            epoch = debian.prepare_rootfs(raw, work / "root", suite=suite, slim=slim)
            with self.store.content.writer() as w:
                debian.tar_rootfs(work / "root", epoch, w.write)
                blob = w.commit()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        layer = self.store.register_layer(blob, parent_chain=None)
        created = rfc3339nano(epoch * 1_000_000_000)
        what = f"debootstrap --variant=minbase {suite}" + (", slimmed as debian:*-slim" if slim else "")
        config = {
            "architecture": go_arch(),
            "config": {"Env": [debian.PATH_ENV], "Cmd": ["bash"]},
            "created": created,
            "history": [{"created": created, "created_by": f"ballena library: {what}"}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        }
        return self.store.put_image(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())

    async def _recipe(self, w: Wanted) -> AsyncIterator[Message]:
        r = w.recipe
        yield {"status": f"Building {w.repository}:{w.tag} from the library recipe {r.name}"}
        context = await asyncio.to_thread(_context_of, r.folder, self.tmp_dir)
        opts = BuildOptions(dockerfile=r.variants[w.variant], build_args=dict(r.build_args))
        built = ""
        try:
            async with contextlib.aclosing(self.builder.stream(context=context, opts=opts)) as messages:
                async for msg in messages:
                    if "result" in msg:
                        built = msg["result"]
                    else:
                        yield msg
        finally:
            await asyncio.to_thread(context.close)
        versions = await asyncio.to_thread(self._installed, built)
        if r.package not in versions:
            raise InvalidArgument(f"the recipe {r.name} did not install {r.package}")
        version = r.version or catalog.upstream_version(versions[r.package])
        image_id = await asyncio.to_thread(self._labelled, built, catalog.labels(r, w.repository, versions))
        tags = catalog.tags_for(r, w.variant, version)
        for t in tags:
            self.images.tag(image_id, w.repository, t)
        if w.tag not in tags:
            raise InvalidArgument(
                f"the offline library built {w.repository} {version} (Debian {versions[r.package]}), "
                f"not {w.repository}:{w.tag}; it has " + ", ".join(f"{w.repository}:{t}" for t in tags)
            )
        yield {"status": f"Built {w.repository}:{w.tag} ({r.package} {versions[r.package]})"}
        yield {"aux": {"ID": image_id}}

    def _installed(self, image_id: str) -> dict[str, str]:
        """What dpkg says the image has installed, read from its topmost status file."""
        chain = self.store.get(image_id).chain_ids[-1]
        dirs = [str(self.store.snapshots.upper_dir(chain)), *map(str, self.store.snapshots.lower_dirs(chain))]
        found = overlay.lookup_in_layers(dirs, "var/lib/dpkg/status")
        if found is None:
            return {}
        return catalog.installed_versions(Path(found).read_text(errors="replace"))

    def _labelled(self, image_id: str, labels: dict[str, str]) -> str:
        """The built image with the library's labels: a new config over the same layers."""
        config = json.loads(json.dumps(self.store.config(image_id)))
        run_config = config.setdefault("config", {})
        run_config["Labels"] = {**(run_config.get("Labels") or {}), **labels}
        created = config.get("created") or rfc3339nano(0)
        config.setdefault("history", []).append(
            {"created": created, "created_by": "ballena library: LABEL (Debian package versions)", "empty_layer": True}
        )
        return self.store.put_image(json.dumps(config, separators=(",", ":")).encode(), parent=image_id)


def catalog_check(repository: str, tag: str) -> None:
    """Raise at once for what the library cannot make (before the user waits for a build)."""
    if repository == "debian":
        catalog.debian_slim(tag)
    else:
        catalog.wanted(repository, tag)


# The certificate authorities this host's administrator added (a school's TLS-inspecting proxy,
# say): what a recipe downloading past Debian (npm) must trust to reach its registry from here.
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")


def _context_of(folder: Path, tmp_dir: Path) -> BuildContext:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(Path(tempfile.mkdtemp(prefix="library-", dir=tmp_dir)))
    shutil.copytree(folder, ctx.root, symlinks=True)
    (ctx.root / "recipe.toml").unlink(missing_ok=True)
    # Always present (empty when the host added none), so a recipe can COPY it unconditionally.
    # Certificates are public; a recipe uses them for its download only, never the image's trust.
    bundle = b"".join(p.read_bytes() for p in sorted(HOST_EXTRA_CAS.glob("**/*.crt")) if p.is_file())
    (ctx.root / catalog.HOST_CAS_FILE).write_bytes(bundle)
    return ctx
