"""``docker pull``: manifest (through a list or index to this platform's), config, then the
layers the store lacks, downloaded in parallel and unpacked in order as each arrives.

Every byte is checked against its digest as it streams into the content store's ingest area;
a blob becomes visible only once it matched, and an interrupted download resumes from what
the ingest area holds (a Range request). Layers are unpacked through the image store, which
checks each diff ID against the config. The image record and its tag come last, so a pull
killed at any point leaves nothing half-made that a later pull would trust.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from ballena.distribution import manifests as mf
from ballena.distribution.auth import Credentials, TokenCache
from ballena.distribution.client import RegistryClient, registry_error
from ballena.distribution.endpoints import Registries
from ballena.distribution.progress import Emit, Meter, status
from ballena.errors import InvalidArgument, NotFound, Unauthorized, Unavailable
from ballena.pkg import digest as dg
from ballena.pkg import reference
from ballena.stores.images import ImageStore

RETRIES = 5  # per layer, as dockerd ("Retrying in N seconds")


@dataclass(frozen=True, slots=True)
class PullResult:
    image_id: str
    manifest_digest: str  # what `docker pull` prints as Digest: (the list's, for a list)
    updated: bool  # the tag points at a different image than before


def _short(digest: str) -> str:
    return dg.hex_of(digest)[:12]


class Puller:
    def __init__(
        self,
        *,
        store: ImageStore,
        registries: Registries,
        tokens: TokenCache,
        max_downloads: int = 3,
    ) -> None:
        self.store = store
        self.registries = registries
        self.tokens = tokens
        self.max_downloads = max_downloads
        self._blob_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def pull(
        self, ref: reference.Reference, credentials: Credentials, emit: Emit, *, platform: str | None = None
    ) -> PullResult:
        """Blocking; run on a worker thread. Raises NotFound, Unauthorized, Unavailable, InvalidArgument."""
        client = RegistryClient(self.registries, ref.domain, ref.path, credentials=credentials, tokens=self.tokens)
        try:
            return self._pull(client, ref, emit, mf.parse_platform(platform))
        finally:
            client.close()

    def _pull(
        self, client: RegistryClient, ref: reference.Reference, emit: Emit, platform: tuple[str, str, str]
    ) -> PullResult:
        wanted = ref.digest or ref.tag or "latest"
        body, kind, top_digest = self._manifest(client, ref, wanted)
        # After the manifest, as dockerd: an unknown tag fails before any progress is shown.
        status(emit, f"Pulling from {ref.path}", wanted)
        manifest_body = body
        if kind in mf.LISTS:
            chosen = mf.choose(body, platform, ref.familiar())
            manifest_body, kind, _ = self._manifest(client, ref, chosen.digest)
        image = mf.parse_image(manifest_body, kind)
        config_bytes = self._config(client, image.config)
        try:
            config = json.loads(config_bytes)
            diff_ids = list(config["rootfs"]["diff_ids"])
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument(f"{ref.familiar()}: the image config is not a Docker or OCI image config") from None
        layers = [layer for layer in image.layers if layer.media_type != mf.DOCKER_FOREIGN_LAYER]
        if len(layers) != len(diff_ids):
            raise InvalidArgument(
                f"{ref.familiar()}: the manifest has {len(layers)} layers but the config {len(diff_ids)}"
            )
        self._layers(client, layers, diff_ids, emit)
        image_id = self.store.put_image(config_bytes)
        self.store.content.put_bytes(body)
        self.store.record_manifest(top_digest, image_id, f"{ref.domain}/{ref.path}")
        for layer in layers:
            self.store.add_blob_source(layer.digest, f"{ref.domain}/{ref.path}")
        updated = True
        if ref.digest is None:
            tagged = ref.tagged_or_latest()
            try:
                updated = self.store.resolve(str(tagged)) != image_id
            except NotFound:
                updated = True
            self.store.tag(tagged, image_id)
        else:
            updated = not self.store.exists(image_id) or not self.store.references(image_id)
        self.store.tag(ref.name_only().with_digest(top_digest), image_id)
        return PullResult(image_id=image_id, manifest_digest=top_digest, updated=updated)

    # -- manifest and config ----------------------------------------------------------------------

    def _manifest(self, client: RegistryClient, ref: reference.Reference, wanted: str) -> tuple[bytes, str, str]:
        try:
            resp = client.request("GET", f"manifests/{wanted}", headers={"Accept": mf.ACCEPT})
        except Unauthorized as e:
            raise Unauthorized(
                f"pull access denied for {ref.name_only().familiar()}, repository does not exist or may require "
                f"'docker login': {e.message}"
            ) from None
        if resp.status == 404:
            body = resp.read()
            raise NotFound(
                f"manifest for {ref.familiar() if not ref.digest else ref.name_only().familiar() + '@' + wanted} "
                f"not found: {registry_error(404, body)}"
            )
        if resp.status in (401, 403):
            raise Unauthorized(
                f"pull access denied for {ref.name_only().familiar()}, repository does not exist or may require "
                f"'docker login': {registry_error(resp.status, resp.read())}"
            )
        client.check(resp, f"{ref.familiar()}")
        body = resp.read()
        actual = dg.of_bytes(body)
        if dg.is_digest(wanted) and actual != wanted:
            raise InvalidArgument(f"manifest verification failed for digest {wanted}")
        return body, mf.media_type_of(body, resp.header("content-type")), actual

    def _config(self, client: RegistryClient, desc: mf.Descriptor) -> bytes:
        if self.store.content.exists(desc.digest):
            return self.store.content.read_bytes(desc.digest)
        resp = client.check(client.request("GET", f"blobs/{desc.digest}", follow=True), f"config {desc.digest}")
        data = resp.read()
        if dg.of_bytes(data) != desc.digest:
            raise InvalidArgument(f"image config verification failed for digest {desc.digest}")
        self.store.content.put_bytes(data, expected=desc.digest)
        return data

    # -- layers -----------------------------------------------------------------------------------

    def _layers(self, client: RegistryClient, layers: list[mf.Descriptor], diff_ids: list[str], emit: Emit) -> None:
        chains: list[str] = []
        parent: str | None = None
        for diff_id in diff_ids:
            parent = dg.chain_id(parent, diff_id)
            chains.append(parent)
        missing = [i for i, chain in enumerate(chains) if self.store.layer(chain) is None]
        for i, layer in enumerate(layers):
            if i not in missing:
                status(emit, "Already exists", _short(layer.digest))
        for i in missing:
            status(emit, "Pulling fs layer", _short(layers[i].digest))
        for n, i in enumerate(missing):
            if n >= self.max_downloads:
                status(emit, "Waiting", _short(layers[i].digest))
        if not missing:
            return
        arrivals = {i: Arrival() for i in missing}
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.max_downloads, thread_name_prefix="pull")
        futures = {i: pool.submit(self._download, client, layers[i], emit, arrivals[i]) for i in missing}
        try:
            for i in missing:
                # Unpack in order, each while it still downloads: the follow-reader waits for
                # bytes as they land in the ingest file, and the layer is recorded only after
                # the download has verified the blob's digest.
                self._unpack(layers[i], diff_ids[i], chains[i - 1] if i > 0 else None, arrivals[i], futures[i], emit)
        except BaseException:
            for i in missing:
                arrivals[i].cancel()
                futures[i].cancel()
            raise
        finally:
            pool.shutdown(wait=True)

    def _unpack(
        self,
        layer: mf.Descriptor,
        diff_id: str,
        parent_chain: str | None,
        arrival: Arrival,
        download: concurrent.futures.Future[None],
        emit: Emit,
    ) -> None:
        ident = _short(layer.digest)
        meter = Meter(emit, ident, "Extracting", layer.size)
        reader = _Follow(arrival, meter)
        try:
            self.store.register_layer_stream(
                io.BufferedReader(reader, 1 << 20),  # type: ignore[arg-type]
                blob=layer.digest,
                parent_chain=parent_chain,
                media_type=layer.media_type or mf.DOCKER_LAYER,
                expected_diff_id=diff_id,
                before_commit=download.result,
            )
        except InvalidArgument as e:
            # A blob that fails its digest makes a garbled archive, or the wrong diff ID, often
            # noticed here before the download has finished checking: wait for its verdict and
            # say what really happened.
            try:
                failure = download.exception(timeout=60)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                failure = None
            if failure is not None:
                raise failure from None
            raise InvalidArgument(f"failed to register layer: {e.message}") from None
        finally:
            reader.close()
        meter.advance(0, force=True)
        status(emit, "Pull complete", ident)

    def _download(self, client: RegistryClient, layer: mf.Descriptor, emit: Emit, arrival: Arrival) -> None:
        # Two pulls sharing a layer must not write one ingest file together.
        with self._guard:
            lock = self._blob_locks.setdefault(layer.digest, threading.Lock())
        try:
            with lock:
                self._download_locked(client, layer, emit, arrival)
        except BaseException as e:
            arrival.fail(e)
            raise

    def _download_locked(self, client: RegistryClient, layer: mf.Descriptor, emit: Emit, arrival: Arrival) -> None:
        ident = _short(layer.digest)
        content = self.store.content
        if content.exists(layer.digest):
            arrival.complete(str(content.path(layer.digest)), content.size(layer.digest))
            status(emit, "Download complete", ident)
            return
        for attempt in range(RETRIES + 1):
            try:
                self._fetch(client, layer, emit, ident, arrival)
                status(emit, "Download complete", ident)
                return
            except Unavailable:
                if attempt == RETRIES or arrival.cancelled:
                    raise
                delay = 5 * (attempt + 1) if attempt else 1
                for left in range(delay, 0, -1):
                    status(emit, f"Retrying in {left} second{'s' if left > 1 else ''}", ident)
                    time.sleep(1)

    def _fetch(self, client: RegistryClient, layer: mf.Descriptor, emit: Emit, ident: str, arrival: Arrival) -> None:
        content = self.store.content
        ref = "pull-" + dg.hex_of(layer.digest)
        offset = content.ingest_offset(ref)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = client.request("GET", f"blobs/{layer.digest}", headers=headers, follow=True)
        if offset and resp.status == 200:
            offset = 0  # the registry would not resume: start over
        client.check(resp, f"blob {layer.digest}", ok=(200, 206))
        if not offset:
            content.discard_ingest(ref)
        writer = content.writer(expected=layer.digest, ref=ref, background=True)
        arrival.opened(str(content.ingest_path(ref)), writer.size)
        meter = Meter(emit, ident, "Downloading", layer.size)
        meter.advance(writer.size)
        try:
            for chunk in resp.chunks():
                if arrival.cancelled:
                    raise InvalidArgument("pull cancelled")
                writer.write(chunk)
                arrival.grew(len(chunk))
                meter.advance(len(chunk))
        except BaseException:
            writer.keep()  # what arrived stays in the ingest area for a Range request later
            raise
        meter.advance(0, force=True)
        status(emit, "Verifying Checksum", ident)
        try:
            path = writer.commit(durable=False)
        except InvalidArgument:
            raise InvalidArgument(f"filesystem layer verification failed for digest {layer.digest}") from None
        arrival.complete(str(content.path(path)), content.size(path))


class Arrival:
    """A layer's bytes as they arrive in a file: the download appends and announces, the
    unpacking reads behind it. A restarted download rewrites the same bytes (same digest)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.path: str | None = None
        self.available = 0
        self.done = False
        self.error: BaseException | None = None
        self.cancelled = False
        self.generation = 0  # a new file each time the download starts over

    def opened(self, path: str, existing: int) -> None:
        with self.cond:
            self.path, self.available = path, existing
            self.generation += 1
            self.cond.notify_all()

    def grew(self, n: int) -> None:
        with self.cond:
            self.available += n
            self.cond.notify_all()

    def complete(self, path: str, size: int) -> None:
        """The blob is whole and verified, now at ``path`` (a reader with the ingest file
        open keeps reading it: the rename does not disturb an open descriptor)."""
        with self.cond:
            self.path, self.available, self.done = path, size, True
            self.cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self.cond:
            self.error = error
            self.cond.notify_all()

    def cancel(self) -> None:
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()


class _Follow(io.RawIOBase):
    """Reads a file another thread is still writing (see ``Arrival``)."""

    def __init__(self, arrival: Arrival, meter: Meter) -> None:
        self.arrival = arrival
        self.meter = meter
        self.pos = 0
        self.fd = -1
        self.generation = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        a = self.arrival
        with a.cond:
            while a.error is None and not a.cancelled and not (a.path and (a.available > self.pos or a.done)):
                a.cond.wait()
            if a.error is not None:
                raise InvalidArgument(f"download failed: {a.error}")
            if a.cancelled:
                raise InvalidArgument("pull cancelled")
            if self.pos >= a.available:
                return 0
            want = min(len(b), a.available - self.pos)
            if self.fd < 0 or self.generation != a.generation:
                # Open (or reopen, after a restart replaced the file) while the writer cannot
                # rename it away: under the lock, the path is current.
                if self.fd >= 0:
                    os.close(self.fd)
                assert a.path is not None
                self.fd = os.open(a.path, os.O_RDONLY | os.O_CLOEXEC)
                self.generation = a.generation
        n = os.preadv(self.fd, [memoryview(b)[:want]], self.pos)
        self.pos += n
        self.meter.advance(n)
        return n

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        super().close()
