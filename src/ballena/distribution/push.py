"""``docker push``: each layer the registry lacks (asked with a HEAD first, or mounted from
another repository of the same registry), then the config, then a schema 2 manifest per tag.

A layer pulled from a registry is pushed as the compressed blob we kept. A layer made here
(build, commit, import) is held uncompressed; it is gzip-compressed (isal) while it uploads,
in one pass that also keeps the compressed copy and remembers its digest, so the next push
of it knows the blob and can say "Layer already exists" without compressing again.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass

from ballena.core.images import Layer
from ballena.distribution import manifests as mf
from ballena.distribution.auth import Credentials, TokenCache
from ballena.distribution.client import RegistryClient
from ballena.distribution.endpoints import Registries
from ballena.distribution.progress import Emit, Meter, status
from ballena.errors import InvalidArgument, NotFound, SystemFailure
from ballena.pkg import digest as dg
from ballena.pkg import reference
from ballena.stores.images import ImageStore

_GZIP_TYPES = (mf.DOCKER_LAYER, mf.OCI_LAYER_GZIP)
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Pushed:
    tag: str
    digest: str
    size: int


def _short(digest: str) -> str:
    return dg.hex_of(digest)[:12]


class Pusher:
    def __init__(self, *, store: ImageStore, registries: Registries, tokens: TokenCache, max_uploads: int = 5) -> None:
        self.store = store
        self.registries = registries
        self.tokens = tokens
        self.max_uploads = max_uploads

    def push(self, name: reference.Reference, tags: list[str], credentials: Credentials, emit: Emit) -> list[Pushed]:
        """Push ``name`` with each of ``tags`` (all local tags of the repository when empty).
        Blocking. Raises NotFound, Unauthorized, Unavailable."""
        repo = name.name_only()
        if not tags:
            prefix = str(repo) + ":"
            tags = sorted(r[len(prefix) :] for r in self.store.all_tag_refs() if r.startswith(prefix))
            if not tags:
                raise NotFound(f"An image does not exist locally with the tag: {repo.familiar()}")
        status(emit, f"The push refers to repository [{repo.name}]")
        client = RegistryClient(
            self.registries,
            repo.domain,
            repo.path,
            credentials=credentials,
            tokens=self.tokens,
            actions=("pull", "push"),
            for_push=True,
        )
        out = []
        try:
            for tag in tags:
                try:
                    image_id = self.store.resolve(str(repo.with_tag(tag)))
                except NotFound:
                    raise NotFound(f"tag does not exist: {repo.with_tag(tag).familiar()}") from None
                out.append(self._push_image(client, repo, tag, image_id, emit))
        finally:
            client.close()
        return out

    def _push_image(
        self, client: RegistryClient, repo: reference.Reference, tag: str, image_id: str, emit: Emit
    ) -> Pushed:
        image = self.store.get(image_id)
        layers = [self.store.layer(c) for c in image.chain_ids]
        if any(layer is None for layer in layers):
            raise SystemFailure(f"image {image_id} lacks layers in the store")
        todo = [layer for layer in reversed(layers) if layer is not None]  # Docker lists the top first
        for layer in todo:
            status(emit, "Preparing", _short(layer.diff_id))
        for n, layer in enumerate(todo):
            if n >= self.max_uploads:
                status(emit, "Waiting", _short(layer.diff_id))
        target = f"{repo.domain}/{repo.path}"
        with concurrent.futures.ThreadPoolExecutor(self.max_uploads, thread_name_prefix="push") as pool:
            futures = {layer.chain_id: pool.submit(self._push_layer, client, target, layer, emit) for layer in todo}
            descriptors = {chain: f.result() for chain, f in futures.items()}
        config = self.store.content.read_bytes(image_id)
        config_desc = mf.Descriptor(media_type=mf.DOCKER_CONFIG, digest=image_id, size=len(config))
        if not self._exists(client, image_id):
            self._upload_bytes(client, config, image_id)
        body = mf.schema2(config_desc, [descriptors[c] for c in image.chain_ids])
        resp = client.request("PUT", f"manifests/{tag}", headers={"Content-Type": mf.DOCKER_MANIFEST}, body=body)
        client.check(resp, f"manifest {repo.with_tag(tag).familiar()}", ok=(200, 201, 202))
        resp.read()
        digest = resp.header("docker-content-digest") or dg.of_bytes(body)
        self.store.content.put_bytes(body)
        self.store.record_manifest(digest, image_id, target)
        self.store.tag(repo.with_digest(digest), image_id)
        status(emit, f"{tag}: digest: {digest} size: {len(body)}")
        emit({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(body)}})
        return Pushed(tag=tag, digest=digest, size=len(body))

    # -- layers -----------------------------------------------------------------------------------

    def _known_blob(self, layer: Layer) -> tuple[str, str, int] | None:
        """A compressed form of the layer we hold: (digest, media type, size)."""
        compressed = layer.media_type in _GZIP_TYPES + (mf.OCI_LAYER_ZSTD,) and layer.blob != layer.diff_id
        if layer.blob and compressed and self.store.content.exists(layer.blob):
            return layer.blob, layer.media_type, self.store.content.size(layer.blob)
        found = self.store.compressed_blobs(layer.diff_id)
        return found[0] if found else None

    def _push_layer(self, client: RegistryClient, target: str, layer: Layer, emit: Emit) -> mf.Descriptor:
        ident = _short(layer.diff_id)
        known = self._known_blob(layer)
        if known is not None:
            digest, media_type, size = known
            if self._exists(client, digest):
                status(emit, "Layer already exists", ident)
                return mf.Descriptor(media_type=_docker_type(media_type), digest=digest, size=size)
            source = self._mount(client, target, digest)
            if source is not None:
                status(emit, f"Mounted from {source}", ident)
                self.store.add_blob_source(digest, target)
                return mf.Descriptor(media_type=_docker_type(media_type), digest=digest, size=size)
            meter = Meter(emit, ident, "Pushing", size)
            with self.store.content.open(digest) as f:
                self._upload_stream(client, _read_chunks(f, meter), digest=digest, length=size)
            meter.advance(0, force=True)
        else:
            digest, size = self._compress_and_upload(client, layer, ident, emit)
            media_type = mf.DOCKER_LAYER
        self.store.add_blob_source(digest, target)
        status(emit, "Pushed", ident)
        return mf.Descriptor(media_type=_docker_type(media_type), digest=digest, size=size)

    def _compress_and_upload(self, client: RegistryClient, layer: Layer, ident: str, emit: Emit) -> tuple[str, int]:
        """gzip the layer while uploading it, keep the compressed copy; one pass over the data."""
        from isal import isal_zlib

        if not layer.blob:
            raise SystemFailure(f"layer {layer.diff_id} has no blob to push")
        total = self.store.content.size(layer.blob)
        meter = Meter(emit, ident, "Pushing", total)
        writer = self.store.content.writer()

        def compressed() -> Iterator[bytes]:
            # Level 1: isal's fastest still makes smaller files than zlib's default here,
            # and a layer push is bound by compression speed.
            comp = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
            with self.store.content.open(layer.blob) as f:  # type: ignore[arg-type]
                while chunk := f.read(_CHUNK):
                    meter.advance(len(chunk))
                    out = comp.compress(chunk)
                    if out:
                        writer.write(out)
                        yield out
            tail = comp.flush()
            writer.write(tail)
            yield tail

        try:
            upload = self._start_upload(client)
            resp = client.request(
                "PATCH", upload, headers={"Content-Type": "application/octet-stream"}, body=compressed()
            )
            client.check(resp, f"blob upload for layer {layer.diff_id}", ok=(202, 204))
            resp.read()
            location = _absolute(client, resp.header("location") or upload)
            digest = writer.commit()
        except BaseException:
            writer.abort()
            raise
        size = self.store.content.size(digest)
        resp = client.request("PUT", _with_digest(location, digest), headers={"Content-Length": "0"}, body=b"")
        client.check(resp, f"blob upload for layer {layer.diff_id}", ok=(201, 204))
        resp.read()
        meter.advance(0, force=True)
        self.store.add_compressed_blob(layer.diff_id, digest, mf.DOCKER_LAYER, size)
        return digest, size

    # -- the blob API -------------------------------------------------------------------------

    def _exists(self, client: RegistryClient, digest: str) -> bool:
        resp = client.request("HEAD", f"blobs/{digest}", follow=True)
        resp.read()
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        client.check(resp, f"blob {digest}")
        return False

    def _mount(self, client: RegistryClient, target: str, digest: str) -> str | None:
        """Cross-repository mount from a repository of the same registry that has the blob."""
        prefix = client.domain + "/"
        for repo in self.store.blob_repositories(digest):
            if not repo.startswith(prefix) or repo == target:
                continue
            source = repo[len(prefix) :]
            resp = client.request("POST", f"blobs/uploads/?mount={digest}&from={source}", body=b"")
            resp.read()
            if resp.status == 201:
                return source
            if resp.status == 202:  # the registry would not mount: cancel the upload it opened
                location = resp.header("location")
                if location:
                    client.request("DELETE", _absolute(client, location)).read()
        return None

    def _start_upload(self, client: RegistryClient) -> str:
        resp = client.request("POST", "blobs/uploads/", body=b"")
        client.check(resp, "starting a blob upload", ok=(202,))
        resp.read()
        location = resp.header("location")
        if not location:
            raise SystemFailure("the registry opened an upload without a Location")
        return _absolute(client, location)

    def _upload_bytes(self, client: RegistryClient, data: bytes, digest: str) -> None:
        self._upload_stream(client, iter([data]), digest=digest, length=len(data))

    def _upload_stream(self, client: RegistryClient, chunks: Iterator[bytes], *, digest: str, length: int) -> None:
        """A monolithic upload: one PUT with the whole blob and its digest."""
        location = self._start_upload(client)
        resp = client.request(
            "PUT",
            _with_digest(location, digest),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)},
            body=chunks,
        )
        client.check(resp, f"blob upload {digest}", ok=(201, 204))
        resp.read()


def _read_chunks(f: object, meter: Meter) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):  # type: ignore[attr-defined]
        meter.advance(len(chunk))
        yield chunk


def _absolute(client: RegistryClient, location: str) -> str:
    if "://" in location:
        return location
    ep = client.ping()
    return ep.base + location


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + digest


def _docker_type(media_type: str) -> str:
    if media_type in (mf.OCI_LAYER_GZIP, mf.DOCKER_LAYER):
        return mf.DOCKER_LAYER
    if media_type == mf.OCI_LAYER_ZSTD:
        raise InvalidArgument("a zstd-compressed layer cannot go in a Docker schema 2 manifest")
    return media_type
