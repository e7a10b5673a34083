"""Images in and out as files: ``docker import`` (one layer from a tarball), ``docker save``
(a docker-archive that is also an OCI image layout, as Docker 25+ writes) and ``docker load``
(either format; nothing becomes visible unless the whole archive is valid)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ballena.builder.metadata import apply_changes
from ballena.core.images import (
    MEDIA_DOCKER_LAYER,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_LAYER,
    MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_MANIFEST,
)
from ballena.errors import InvalidArgument, NotFound
from ballena.pkg import archive, reference
from ballena.pkg import digest as dg
from ballena.pkg.compression import detect, open_decompressed
from ballena.pkg.platforms import go_arch
from ballena.pkg.timeutil import now_ns, rfc3339nano
from ballena.services.events import EventBus
from ballena.services.images import is_id_reference
from ballena.stores.content import BlobWriter
from ballena.stores.images import ImageStore

__all__ = ["ImageArchives"]


class ImageArchives:
    def __init__(self, *, store: ImageStore, events: EventBus, tmp_dir: Path) -> None:
        self.store = store
        self.events = events
        self.tmp_dir = tmp_dir

    def blob_writer(self) -> BlobWriter:
        """Where an uploaded tarball is written (then ``import_layer`` takes its digest)."""
        return self.store.content.writer()

    # -- import -------------------------------------------------------------------------------

    def import_layer(
        self, blob: str, *, repo: str | None, tag: str | None, changes: list[str], message: str, source: str
    ) -> str:
        """``docker import``: one layer from a tarball already in the content store. Blocking."""
        target = reference.parse_repository_and_tag(repo, tag).tagged_or_latest() if repo else None
        blob = self._uncompressed_blob(blob)
        layer = self.store.register_layer(blob, parent_chain=None, media_type=MEDIA_DOCKER_LAYER)
        created = rfc3339nano(now_ns())
        msg = message or f"Imported from {source}"
        run_config = apply_changes({}, changes)
        config = {
            "architecture": go_arch(),
            "comment": msg,
            "config": run_config,
            "created": created,
            "history": [{"created": created, "comment": msg}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        }
        image_id = self.store.put_image(json.dumps(config, separators=(",", ":")).encode())
        self.events.publish("image", "import", image_id, {"name": image_id})
        if target is not None:
            self.store.tag(target, image_id)
            self.events.publish("image", "tag", image_id, {"name": target.familiar()})
        return image_id

    def _uncompressed_blob(self, blob: str) -> str:
        """Local layers are kept uncompressed so their blob digest is their diff ID."""
        with self.store.content.open(blob) as f:
            kind = detect(f.read(4))
        if kind == "none":
            return blob
        with self.store.content.open(blob) as raw:
            stream, _ = open_decompressed(raw)
            with self.store.content.writer() as w:
                while chunk := stream.read(1 << 20):
                    w.write(chunk)
                plain = w.commit()
        if not self.store.content_referenced(blob):
            self.store.content.delete(blob)
        return plain

    # -- save ---------------------------------------------------------------------------------

    def resolve_for_save(self, names: list[str]) -> list[tuple[str, list[reference.Reference]]]:
        """Which images and which of their tags a ``docker save`` of ``names`` writes: a bare
        repository name means all of its tags (moby's tarexport), an ID none."""
        out: dict[str, list[reference.Reference]] = {}
        for name in names:
            ref = reference.parse_normalized(name) if not dg.is_full_hex(name) else None
            if ref is not None and ref.digest is None and ref.tag is None:
                tagged = [
                    (img.id, r)
                    for img in self.store.all()
                    for r in map(reference.parse_normalized, img.repo_tags)
                    if r.name == ref.name
                ]
                for image_id, r in tagged:
                    out.setdefault(image_id, []).append(r)
                if tagged:
                    continue
            image_id = self.store.resolve(name)
            refs = out.setdefault(image_id, [])
            if ref is not None and ref.digest is None and ref.tag is not None and not is_id_reference(name, image_id):
                refs.append(ref)
        return [(k, v) for k, v in out.items()]

    def write_archive(self, selection: list[tuple[str, list[reference.Reference]]], out: BinaryIO) -> None:
        """A docker-archive (manifest.json) that is also an OCI image layout, as Docker 25+ writes."""
        content = self.store.content
        written: set[str] = set()
        manifest_json: list[dict[str, Any]] = []
        index_manifests: list[dict[str, Any]] = []
        with archive.tar_writer(out) as tf:

            def add_blob(digest: str) -> str:
                name = f"blobs/sha256/{dg.hex_of(digest)}"
                if digest not in written:
                    written.add(digest)
                    ti = tarfile.TarInfo(name)
                    ti.size = content.size(digest)
                    ti.mode = 0o444
                    with content.open(digest) as f:
                        tf.addfile(ti, f)
                return name

            def add_bytes(name: str, data: bytes) -> None:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mode = 0o444
                tf.addfile(ti, io.BytesIO(data))

            for d in ("blobs/", "blobs/sha256/"):
                ti = tarfile.TarInfo(d)
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
            for image_id, refs in selection:
                img = self.store.get(image_id)
                self.events.publish("image", "save", image_id, {"name": image_id})
                layer_paths: list[str] = []
                oci_layers: list[dict[str, Any]] = []
                for chain in img.chain_ids:
                    layer = self.store.layer(chain)
                    if layer is None or layer.blob is None:
                        raise NotFound(f"layer {chain} of image {image_id} has no content")
                    layer_paths.append(add_blob(layer.blob))
                    with content.open(layer.blob) as f:
                        kind = detect(f.read(4))
                    oci_layers.append(
                        {
                            "mediaType": MEDIA_OCI_LAYER_GZIP if kind == "gzip" else MEDIA_OCI_LAYER,
                            "digest": layer.blob,
                            "size": layer.blob_size,
                        }
                    )
                config_path = add_blob(image_id)
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": MEDIA_OCI_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": image_id,
                        "size": content.size(image_id),
                    },
                    "layers": oci_layers,
                }
                mbytes = json.dumps(manifest, separators=(",", ":")).encode()
                mdigest = dg.of_bytes(mbytes)
                if mdigest not in written:
                    written.add(mdigest)
                    add_bytes(f"blobs/sha256/{dg.hex_of(mdigest)}", mbytes)
                tags = [r.familiar() for r in refs]
                manifest_json.append({"Config": config_path, "RepoTags": tags or None, "Layers": layer_paths})
                desc: dict[str, Any] = {"mediaType": MEDIA_OCI_MANIFEST, "digest": mdigest, "size": len(mbytes)}
                if refs:
                    for r in refs:
                        index_manifests.append(
                            {
                                **desc,
                                "annotations": {
                                    "io.containerd.image.name": str(r),
                                    "org.opencontainers.image.ref.name": r.tag or "",
                                },
                            }
                        )
                else:
                    index_manifests.append(desc)
            add_bytes(
                "index.json",
                json.dumps(
                    {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index_manifests},
                    separators=(",", ":"),
                ).encode(),
            )
            add_bytes("manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode())
            add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    # -- load ---------------------------------------------------------------------------------

    def load_archive(self, path: Path, progress: Callable[[str], None]) -> list[str]:
        """Load a docker-archive or OCI layout tar spooled at ``path``. Blocking.

        Nothing becomes visible unless the whole archive is valid: blobs are committed one by
        one, but images and tags only at the end. Raises InvalidArgument for a bad archive.
        """
        names: dict[str, str] = {}  # member name -> blob digest
        small: dict[str, bytes] = {}
        links: dict[str, str] = {}
        content = self.store.content
        try:
            with (
                open(path, "rb") as raw,
                tarfile.open(fileobj=raw, mode="r|", errorlevel=2) as tf,
            ):
                for m in tf:
                    name = m.name.lstrip("./") if m.name.startswith("./") else m.name
                    if m.issym() or m.islnk():
                        links[name] = (
                            os.path.normpath(os.path.join(os.path.dirname(name), m.linkname))
                            if m.issym()
                            else m.linkname
                        )
                        continue
                    if not m.isreg():
                        continue
                    f = tf.extractfile(m)
                    assert f is not None
                    if (
                        name.endswith(".json")
                        or name in ("repositories", "oci-layout")
                        or m.size < 64 * 1024
                        and not name.endswith("layer.tar")
                    ):
                        data = f.read()
                        if len(data) != m.size:
                            raise InvalidArgument("unexpected EOF")
                        small[name] = data
                        names[name] = content.put_bytes(data) if name.startswith("blobs/") else ""
                        continue
                    with content.writer() as w:
                        remaining = m.size
                        while remaining:
                            chunk = f.read(min(1 << 20, remaining))
                            if not chunk:
                                raise InvalidArgument("unexpected EOF")
                            w.write(chunk)
                            remaining -= len(chunk)
                        names[name] = w.commit()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise InvalidArgument(f"invalid tar archive: {e}") from None
        except InvalidArgument as e:
            raise InvalidArgument(f"failed to load archive: {e.message}") from None

        def blob_of(member: str) -> str:
            member = member.lstrip("/")
            seen = 0
            while member in links and seen < 16:
                member = links[member]
                seen += 1
            if member in names and names[member]:
                return names[member]
            if member in small:
                return content.put_bytes(small[member])
            raise InvalidArgument(f"archive is missing {member}")

        entries: list[tuple[bytes, list[str], list[str]]] = []  # config, layer blobs, tags
        if "manifest.json" in small:
            try:
                manifest = json.loads(small["manifest.json"])
            except ValueError:
                raise InvalidArgument("invalid manifest.json in archive") from None
            for item in manifest or []:
                cfg_blob = blob_of(item["Config"])
                layers = [blob_of(lp) for lp in item.get("Layers") or []]
                entries.append((content.read_bytes(cfg_blob), layers, list(item.get("RepoTags") or [])))
        elif "index.json" in small:
            index = json.loads(small["index.json"])
            for desc in _walk_index(index, lambda d: json.loads(content.read_bytes(d))):
                mf = json.loads(content.read_bytes(desc["digest"]))
                ann = desc.get("annotations") or {}
                name = ann.get("io.containerd.image.name") or ""
                tags = [name] if name else []
                entries.append(
                    (
                        content.read_bytes(mf["config"]["digest"]),
                        [layer["digest"] for layer in mf.get("layers", [])],
                        tags,
                    )
                )
        else:
            raise InvalidArgument("invalid archive: no manifest.json or index.json (is this a docker save tar?)")

        loaded: list[str] = []
        staged: list[tuple[str, list[reference.Reference]]] = []
        for cfg_bytes, layer_blobs, tags in entries:
            cfg = json.loads(cfg_bytes)
            diff_ids = list(cfg.get("rootfs", {}).get("diff_ids") or [])
            if len(diff_ids) != len(layer_blobs):
                raise InvalidArgument("invalid archive: the config and the manifest disagree on the layers")
            parent: str | None = None
            for blob, diff_id in zip(layer_blobs, diff_ids, strict=True):
                existing = self.store.layer_by_diff(parent, diff_id)
                if existing is None:
                    progress(f"Loading layer {dg.short(diff_id)}")
                    blob = self._uncompressed_blob(blob)
                    existing = self.store.register_layer(blob, parent_chain=parent, expected_diff_id=diff_id)
                parent = existing.chain_id
            image_id = self.store.put_image(cfg_bytes)
            staged.append((image_id, [reference.parse_normalized(t).tagged_or_latest() for t in tags]))
        for image_id, refs in staged:
            if not refs:
                loaded.append(f"Loaded image ID: {image_id}")
            for ref in refs:
                old = self.store.tag(ref, image_id)
                if old is not None:
                    loaded.append(
                        f"The image {ref.familiar()} already exists, renaming the old one with ID {old} to empty string"
                    )
                loaded.append(f"Loaded image: {ref.familiar()}")
                self.events.publish("image", "tag", image_id, {"name": ref.familiar()})
            self.events.publish("image", "load", image_id, {"name": image_id})
        return loaded

    def spool_path(self) -> tuple[int, Path]:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.tmp_dir)
        return fd, Path(name)


def _walk_index(index: dict[str, Any], fetch: Callable[[str], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for desc in index.get("manifests") or []:
        mt = desc.get("mediaType", "")
        if mt in (MEDIA_OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
            sub = fetch(desc["digest"])
            for inner in _walk_index(sub, fetch):
                inner.setdefault("annotations", desc.get("annotations") or {})
                yield inner
        elif mt in (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST) or not mt:
            plat = desc.get("platform") or {}
            if plat and plat.get("architecture") not in (None, go_arch(), "unknown"):
                continue
            yield desc
