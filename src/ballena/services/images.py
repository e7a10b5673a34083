"""Image use cases: list, inspect, tag, remove, history, import, save, load, prune.

Removal follows moby's rules exactly (daemon/images/image_delete.go): removing a name only
untags while other names remain; removing by ID with several names needs force; an image used
by a running container can never be removed, by a stopped one only with force.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ballena.builder.metadata import apply_changes
from ballena.core.images import (
    MEDIA_DOCKER_CONFIG,
    MEDIA_DOCKER_LAYER,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_LAYER,
    MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_MANIFEST,
    Image,
)
from ballena.errors import Conflict, InvalidArgument, NotFound
from ballena.pkg import archive, reference
from ballena.pkg import digest as dg
from ballena.pkg.compression import detect, open_decompressed
from ballena.pkg.filters import Filters
from ballena.pkg.stringid import truncate_id
from ballena.pkg.timeutil import now_ns, parse_api_timestamp, rfc3339nano
from ballena.services.events import EventBus
from ballena.stores.images import ImageStore

LIST_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


class ImageUsers(Protocol):
    """Who uses an image: the containers service answers (container ID, running?)."""

    def users_of(self, image_id: str) -> list[tuple[str, bool]]: ...


class _NoUsers:
    def users_of(self, image_id: str) -> list[tuple[str, bool]]:
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecord:
    untagged: str = ""
    deleted: str = ""


def go_arch() -> str:
    m = platform.machine()
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "i686": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(m, m)


class ImageService:
    def __init__(self, *, store: ImageStore, events: EventBus, tmp_dir: Path, users: ImageUsers | None = None) -> None:
        self.store = store
        self.events = events
        self.tmp_dir = tmp_dir
        self.users: ImageUsers = users or _NoUsers()

    # -- queries ------------------------------------------------------------------------------

    def get(self, name: str) -> Image:
        return self.store.get(self.store.resolve(name))

    def list_images(self, *, all_: bool = False, filters: Filters | None = None) -> list[Image]:
        f = filters or Filters({})
        images = self.store.all()
        dangling = f.bool_value("dangling")
        before = since = None
        if "before" in f:
            before = min(self.get(v).created_ns for v in f.get("before"))
        if "since" in f:
            since = max(self.get(v).created_ns for v in f.get("since"))
        until = None
        if "until" in f:
            until = min(parse_api_timestamp(v) for v in f.get("until"))
        children = {img.parent for img in images if img.parent}
        out = []
        for img in images:
            if not img.repo_tags and not img.repo_digests:
                if dangling is False:
                    continue
                # Intermediate images (someone's parent) only show with -a.
                if not all_ and img.id in children and dangling is None:
                    continue
            elif dangling is True:
                continue
            if dangling is True and img.id in children and not all_:
                continue
            if not f.match_labels("label", dict(img.labels)):
                continue
            if before is not None and img.created_ns >= before:
                continue
            if since is not None and img.created_ns <= since:
                continue
            if until is not None and img.created_ns > until:
                continue
            if "reference" in f and not _matches_reference(img, f.get("reference")):
                continue
            out.append(img)
        out.sort(key=lambda i: i.created_ns, reverse=True)
        return out

    def history(self, name: str) -> list[dict[str, Any]]:
        img = self.get(name)
        hist = list(img.config.get("history") or [])
        layers = list(img.chain_ids)
        sizes: list[int] = []
        for h in hist:
            if h.get("empty_layer"):
                sizes.append(0)
            else:
                chain = layers.pop(0) if layers else None
                layer = self.store.layer(chain) if chain else None
                sizes.append(layer.size if layer else 0)
        out: list[dict[str, Any]] = []
        top_id = img.id
        tags = [reference.parse_normalized(t).familiar() for t in img.repo_tags]
        for i, (h, size) in enumerate(zip(reversed(hist), reversed(sizes), strict=True)):
            created = h.get("created") or ""
            try:
                from ballena.pkg.timeutil import parse_rfc3339

                created_s = parse_rfc3339(created) // 10**9 if created else 0
            except InvalidArgument:
                created_s = 0
            out.append(
                {
                    "Id": top_id if i == 0 else "<missing>",
                    "Created": created_s,
                    "CreatedBy": h.get("created_by", ""),
                    "Tags": tags if i == 0 else None,
                    "Size": size,
                    "Comment": h.get("comment", ""),
                }
            )
        return out

    # -- tags ---------------------------------------------------------------------------------

    def tag(self, source: str, repo: str, tag: str | None) -> reference.Reference:
        image_id = self.store.resolve(source)
        ref = reference.parse_repository_and_tag(repo, tag)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        ref = ref.tagged_or_latest()
        if ref.familiar_name == "scratch" or ref.path == "library/scratch":
            raise InvalidArgument("'scratch' is a reserved name")
        previous = self.store.tag(ref, image_id)
        self.events.publish("image", "tag", image_id, {"name": ref.familiar()})
        if previous is not None:
            # The old image may now be dangling; Docker says nothing more.
            pass
        return ref

    # -- removal ------------------------------------------------------------------------------

    def remove(self, name: str, *, force: bool = False, prune: bool = True) -> list[DeleteRecord]:
        image_id = self.store.resolve(name)
        records: list[DeleteRecord] = []
        refs = self.store.references(image_id)
        by_id = _is_id_reference(name, image_id)
        removed_repository_ref = False
        if not by_id:
            parsed = reference.parse_normalized(name)
            parsed = parsed if parsed.digest is not None else parsed.tagged_or_latest()
            if not force and _is_single_reference(refs):
                user = next(iter(self.users.users_of(image_id)), None)
                if user is not None:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{name}" (must force) - container '
                        f"{truncate_id(user[0])} is using its referenced image {truncate_id(image_id)}"
                    )
            self.store.untag(str(parsed))
            records.append(DeleteRecord(untagged=parsed.familiar()))
            self.events.publish("image", "untag", image_id, {"name": image_id})
            refs = self.store.references(image_id)
            if parsed.digest is None:
                same_repo_tags = [r for r in refs if "@" not in r and r.rsplit(":", 1)[0] == parsed.name]
                if not same_repo_tags:
                    for r in list(refs):
                        if "@" in r and r.split("@", 1)[0] == parsed.name:
                            self.store.untag(r)
                            records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
                    refs = self.store.references(image_id)
            if refs:
                return records
            removed_repository_ref = True
        elif _is_single_reference(refs):
            self._check_conflict(image_id, hard=True, soft=not force, active_reference=False)
            for r in refs:
                self.store.untag(r)
                records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
                self.events.publish("image", "untag", image_id, {"name": image_id})
        self._delete_helper(image_id, records, force=force, prune=prune, quiet=removed_repository_ref)
        return records

    def _conflict(
        self, image_id: str, *, hard: bool, soft: bool, active_reference: bool = True
    ) -> tuple[Conflict, bool] | None:
        """moby's checkImageDeleteConflict: the first conflict, and whether a container uses it."""

        def conflict(message: str, is_hard: bool) -> Conflict:
            how = "cannot be forced" if is_hard else "must be forced"
            return Conflict(f"conflict: unable to delete {truncate_id(image_id)} ({how}) - {message}")

        if hard and self.store.children(image_id):
            return conflict("image has dependent child images", True), False
        users = self.users.users_of(image_id)
        if hard:
            for cid, running in users:
                if running:
                    return conflict(f"image is being used by running container {truncate_id(cid)}", True), True
        if soft and active_reference and self.store.references(image_id):
            return conflict("image is referenced in multiple repositories", False), False
        if soft:
            for cid, running in users:
                if not running:
                    return conflict(f"image is being used by stopped container {truncate_id(cid)}", False), True
        return None

    def _check_conflict(self, image_id: str, *, hard: bool, soft: bool, active_reference: bool = True) -> None:
        found = self._conflict(image_id, hard=hard, soft=soft, active_reference=active_reference)
        if found is not None:
            raise found[0]

    def _delete_helper(
        self, image_id: str, records: list[DeleteRecord], *, force: bool, prune: bool, quiet: bool
    ) -> None:
        found = self._conflict(image_id, hard=True, soft=not force)
        if found is not None:
            exc, used = found
            # Quietly keep an image that still has names or that a container uses.
            if quiet and (not self._is_dangling(image_id) or used):
                return
            raise exc
        parent = self.store.get(image_id).parent
        for r in self.store.references(image_id):
            self.store.untag(r)
            records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
        released = self.store.delete(image_id)
        self.events.publish("image", "delete", image_id, {"name": image_id})
        records.append(DeleteRecord(deleted=image_id))
        records.extend(DeleteRecord(deleted=c) for c in released)
        if prune and parent and self.store.exists(parent):
            self._delete_helper(parent, records, force=False, prune=True, quiet=True)

    def _is_dangling(self, image_id: str) -> bool:
        return not self.store.references(image_id)

    def prune(self, *, dangling_only: bool, filters: Filters) -> tuple[list[DeleteRecord], int]:
        """``image prune``: dangling images (or, with ``-a``, all unused ones) and the layers they
        alone held. Returns the records and the bytes reclaimed."""
        until = min(parse_api_timestamp(v) for v in filters.get("until")) if "until" in filters else None
        records: list[DeleteRecord] = []
        reclaimed = 0
        changed = True
        while changed:  # removing a child can make its parent prunable
            changed = False
            images = self.store.all()
            parents = {i.parent for i in images if i.parent}
            for img in images:
                if img.id in parents or self.users.users_of(img.id):
                    continue
                if dangling_only and (img.repo_tags or img.repo_digests):
                    continue
                if until is not None and img.created_ns > until:
                    continue
                if "label" in filters and not filters.match_labels("label", dict(img.labels)):
                    continue
                if "label!" in filters and filters.match_labels("label!", dict(img.labels)):
                    continue
                sizes = {c: layer.size for c in img.chain_ids if (layer := self.store.layer(c)) is not None}
                for r in self.store.references(img.id):
                    self.store.untag(r)
                    records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
                released = self.store.delete(img.id)
                self.events.publish("image", "delete", img.id, {"name": img.id})
                records.append(DeleteRecord(deleted=img.id))
                records.extend(DeleteRecord(deleted=c) for c in released)
                reclaimed += sum(sizes.get(c, 0) for c in released)
                changed = True
        return records, reclaimed

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
        """Which images and which of their tags a ``docker save`` of ``names`` writes."""
        out: dict[str, list[reference.Reference]] = {}
        for name in names:
            image_id = self.store.resolve(name)
            refs = out.setdefault(image_id, [])
            if _is_id_reference(name, image_id):
                continue
            ref = reference.parse_normalized(name)
            if ref.digest is None and ref.tag is None:
                # A bare repository name saves all of its tags.
                for img in self.store.all():
                    for t in img.repo_tags:
                        r = reference.parse_normalized(t)
                        if r.name == ref.name:
                            out.setdefault(img.id, []).append(r)
            elif ref.digest is None:
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


def _is_id_reference(name: str, image_id: str) -> bool:
    text = name[7:] if name.startswith("sha256:") else name
    return (
        bool(text)
        and dg.hex_of(image_id).startswith(text)
        and all(c in "0123456789abcdef" for c in text)
        and not _is_tag_named(name)
    )


def _is_tag_named(name: str) -> bool:
    return ":" in name.split("/")[-1] and not name.startswith("sha256:")


def _is_single_reference(refs: list[str]) -> bool:
    if len(refs) <= 1:
        return len(refs) == 1
    single: str | None = None
    canonical_repos: set[str] = set()
    for r in refs:
        if "@" in r:
            canonical_repos.add(r.split("@", 1)[0])
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    repo = single.split("@", 1)[0] if "@" in single else single.rsplit(":", 1)[0]
    return len(canonical_repos) == 1 and repo in canonical_repos


def _matches_reference(img: Image, patterns: tuple[str, ...]) -> bool:
    import fnmatch

    for t in (*img.repo_tags, *img.repo_digests):
        ref = reference.parse_normalized(t)
        familiar = ref.familiar()
        repo = ref.familiar_name
        for p in patterns:
            if fnmatch.fnmatchcase(familiar, p) or fnmatch.fnmatchcase(repo, p) or fnmatch.fnmatchcase(str(ref), p):
                return True
            if ":" not in p.split("/")[-1] and fnmatch.fnmatchcase(repo, p):
                return True
    return False


__all__ = ["MEDIA_DOCKER_CONFIG", "DeleteRecord", "ImageService", "ImageUsers"]
