"""The image store: layers unpacked into snapshots, image configs in the content store, and the
tag and digest references, all recorded in the metadata database.

Every write is a blob commit (atomic rename) or a snapshot commit followed by one database
transaction; a crash in between leaves only unreferenced blobs and directories that ``gc()``
removes, never a visible half-made image.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from ballena.core.images import MEDIA_DOCKER_LAYER, Image, Layer
from ballena.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from ballena.pkg import digest as dg
from ballena.pkg import reference
from ballena.pkg.archive import apply_layer
from ballena.pkg.compression import open_decompressed
from ballena.pkg.timeutil import now_ns, parse_rfc3339
from ballena.stores.content import LocalContentStore
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter


class _HashingReader(io.RawIOBase):
    """Hashes what is read through it: the diff ID of a layer as it is unpacked. Reads come
    in megabytes (a BufferedReader sits on top for tarfile's small reads), and the hashing
    runs on its own thread."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.hasher = dg.BackgroundHasher()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        if n:
            self.hasher.update(data)
        return n

    def drain(self) -> None:
        buf = bytearray(1 << 20)
        while self.readinto(buf):
            pass


class ImageStore:
    def __init__(self, *, db: Database, content: LocalContentStore, snapshots: OverlaySnapshotter) -> None:
        self.db = db
        self.content = content
        self.snapshots = snapshots
        self._config_cache: dict[str, dict[str, Any]] = {}
        self._layer_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- layers -------------------------------------------------------------------------------

    def layer(self, chain_id: str) -> Layer | None:
        rows = self.db.query(
            "SELECT chain_id, diff_id, parent, size, blob, media_type, blob_size FROM layers WHERE chain_id=?",
            (chain_id,),
        )
        if not rows:
            return None
        c, d, p, s, b, m, bs = rows[0]
        return Layer(
            chain_id=str(c),
            diff_id=str(d),
            parent=p if p is None else str(p),
            size=int(s),  # type: ignore[arg-type]
            blob=b if b is None else str(b),
            media_type=str(m or MEDIA_DOCKER_LAYER),
            blob_size=int(bs or 0),
        )  # type: ignore[arg-type]

    def layer_by_diff(self, parent_chain: str | None, diff_id: str) -> Layer | None:
        chain = dg.chain_id(parent_chain, diff_id)
        return self.layer(chain)

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._layer_locks.setdefault(key, threading.Lock())

    def register_layer(
        self,
        blob: str,
        *,
        parent_chain: str | None,
        media_type: str = MEDIA_DOCKER_LAYER,
        expected_diff_id: str | None = None,
    ) -> Layer:
        """Unpack the layer tarball ``blob`` (any compression) on top of ``parent_chain``.

        Blocking; call from a worker thread. Idempotent: an existing layer is returned as is.
        Raises InvalidArgument for a malformed tarball or a diff ID that does not match.
        """
        if expected_diff_id is not None:
            existing = self.layer_by_diff(parent_chain, expected_diff_id)
            if existing is not None:
                return existing
        with self.content.open(blob) as raw:
            return self.register_layer_stream(
                raw, blob=blob, parent_chain=parent_chain, media_type=media_type, expected_diff_id=expected_diff_id
            )

    def register_layer_stream(
        self,
        raw: BinaryIO,
        *,
        blob: str,
        parent_chain: str | None,
        media_type: str = MEDIA_DOCKER_LAYER,
        expected_diff_id: str | None = None,
        before_commit: Callable[[], str | None] | None = None,
    ) -> Layer:
        """Unpack the layer read from ``raw`` (the bytes of ``blob``, which may still be
        arriving: a pull unpacks while it downloads). ``before_commit`` runs once the layer is
        unpacked and checked, before it is recorded (a pull waits there for the blob's digest;
        a commit, which writes the blob while this unpacks it, returns the blob's digest then,
        and ``blob`` may be empty until it does
        to be verified). Blocking. Raises InvalidArgument."""
        key = f"extract-{secrets.token_hex(8)}"
        self.snapshots.prepare(key, parent_chain)
        try:
            stream, _ = open_decompressed(raw)
            hashing = _HashingReader(stream)
            try:
                buffered = io.BufferedReader(hashing, 1 << 20)
                size = apply_layer(buffered, str(self.snapshots.upper_dir(key)))  # type: ignore[arg-type]
                while buffered.read(1 << 20):  # tar padding after the end marker is part of the diff
                    pass
                diff_id = hashing.hasher.digest()
            finally:
                hashing.hasher.close()
            if expected_diff_id is not None and diff_id != expected_diff_id:
                raise InvalidArgument(f"layer {blob}: diff ID {diff_id} does not match {expected_diff_id}")
            if before_commit is not None:
                blob = before_commit() or blob
            chain_id = dg.chain_id(parent_chain, diff_id)
            with self._lock_for(chain_id):
                existing = self.layer(chain_id)
                if existing is not None:
                    self.snapshots.remove(key)
                    return existing
                with self.db.tx() as conn:
                    self.snapshots.commit(chain_id, key)
                    conn.execute(
                        "INSERT INTO layers(chain_id, diff_id, parent, size, blob, media_type, blob_size) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (chain_id, diff_id, parent_chain, size, blob, media_type, self.content.size(blob)),
                    )
        except BaseException:
            if self.snapshots.exists(key):
                self.snapshots.remove(key)
            raise
        layer = self.layer(chain_id)
        assert layer is not None
        return layer

    def register_layer_from_snapshot(
        self, key: str, *, diff_id: str, blob: str, size: int, parent_chain: str | None
    ) -> Layer:
        """Commit an active snapshot (a container's upper directory, already packed into
        ``blob``) as a layer, without unpacking anything again."""
        chain_id = dg.chain_id(parent_chain, diff_id)
        with self._lock_for(chain_id):
            existing = self.layer(chain_id)
            if existing is not None:
                self.snapshots.remove(key)
                return existing
            with self.db.tx() as conn:
                self.snapshots.commit(chain_id, key)
                conn.execute(
                    "INSERT INTO layers(chain_id, diff_id, parent, size, blob, media_type, blob_size) VALUES (?,?,?,?,?,?,?)",
                    (chain_id, diff_id, parent_chain, size, blob, MEDIA_DOCKER_LAYER, self.content.size(blob)),
                )
        layer = self.layer(chain_id)
        assert layer is not None
        return layer

    # -- images -------------------------------------------------------------------------------

    def config(self, image_id: str) -> dict[str, Any]:
        cached = self._config_cache.get(image_id)
        if cached is None:
            cached = json.loads(self.content.read_bytes(image_id))
            self._config_cache[image_id] = cached
        return cached

    def put_image(self, config_bytes: bytes, *, parent: str = "") -> str:
        """Record an image whose layers are all registered. Returns its ID (the config digest).

        Raises InvalidArgument when the config is not an image config or a layer is missing.
        """
        try:
            cfg = json.loads(config_bytes)
            diff_ids = list(cfg["rootfs"]["diff_ids"])
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument("invalid image config: no rootfs.diff_ids") from None
        chain_ids = dg.chain_ids(diff_ids)
        size = 0
        for chain in chain_ids:
            layer = self.layer(chain)
            if layer is None:
                raise InvalidArgument(f"image config refers to layer {chain} that is not present")
            size += layer.size
        image_id = self.content.put_bytes(config_bytes)
        try:
            created = parse_rfc3339(str(cfg.get("created") or ""))
        except InvalidArgument:
            created = 0
        with self.db.tx() as conn:
            if conn.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone():
                if parent:
                    conn.execute("UPDATE images SET parent=? WHERE id=? AND parent=''", (parent, image_id))
                return image_id
            conn.execute(
                "INSERT INTO images(id, parent, created, last_tag, size) VALUES (?,?,?,0,?)",
                (image_id, parent, created, size),
            )
            conn.executemany(
                "INSERT INTO image_layers(image_id, position, chain_id) VALUES (?,?,?)",
                [(image_id, i, c) for i, c in enumerate(chain_ids)],
            )
        return image_id

    def exists(self, image_id: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM images WHERE id=?", (image_id,)))

    def get(self, image_id: str) -> Image:
        rows = self.db.query("SELECT id, parent, created, last_tag, size FROM images WHERE id=?", (image_id,))
        if not rows:
            raise NotFound(f"No such image: {image_id}")
        return self._image(rows[0])

    def _image(self, row: tuple[Any, ...]) -> Image:
        iid, parent, created, last_tag, size = row
        iid = str(iid)
        chains = tuple(
            str(r[0])
            for r in self.db.query("SELECT chain_id FROM image_layers WHERE image_id=? ORDER BY position", (iid,))
        )
        tags = tuple(sorted(str(r[0]) for r in self.db.query("SELECT ref FROM tags WHERE image_id=?", (iid,))))
        digests = tuple(sorted(str(r[0]) for r in self.db.query("SELECT ref FROM digests WHERE image_id=?", (iid,))))
        return Image(
            id=iid,
            parent=str(parent),
            created_ns=int(created),
            last_tag_ns=int(last_tag),
            size=int(size),
            chain_ids=chains,
            repo_tags=tags,
            repo_digests=digests,
            config=self.config(iid),
        )

    def all(self) -> list[Image]:
        # Four queries for the whole list, not three per image: `docker images` stays flat
        # however many images there are.
        rows = self.db.query("SELECT id, parent, created, last_tag, size FROM images")
        chains: dict[str, list[str]] = {}
        for iid, chain in self.db.query("SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position"):
            chains.setdefault(iid, []).append(chain)
        tags: dict[str, list[str]] = {}
        for ref, iid in self.db.query("SELECT ref, image_id FROM tags"):
            tags.setdefault(iid, []).append(ref)
        digests: dict[str, list[str]] = {}
        for ref, iid in self.db.query("SELECT ref, image_id FROM digests"):
            digests.setdefault(iid, []).append(ref)
        return [
            Image(
                id=iid,
                parent=str(parent),
                created_ns=int(created),
                last_tag_ns=int(last_tag),
                size=int(size),
                chain_ids=tuple(chains.get(iid, ())),
                repo_tags=tuple(sorted(tags.get(iid, ()))),
                repo_digests=tuple(sorted(digests.get(iid, ()))),
                config=self.config(iid),
            )
            for iid, parent, created, last_tag, size in rows
        ]

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT id FROM images")]

    def children(self, image_id: str) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT id FROM images WHERE parent=?", (image_id,))]

    # -- references ---------------------------------------------------------------------------

    def resolve(self, ref_or_id: str) -> str:
        """Docker's image lookup: a full ID, a reference (``:latest`` implied), or an ID prefix.

        Raises NotFound("No such image: name:tag") or InvalidArgument for a malformed name.
        """
        text = ref_or_id
        if dg.is_digest(text) or dg.is_full_hex(text):
            iid = text if text.startswith("sha256:") else "sha256:" + text
            if self.exists(iid):
                return iid
            raise NotFound(f"No such image: {iid}")
        ref = reference.parse_normalized(text)
        if ref.digest is not None:
            rows = self.db.query(
                "SELECT image_id FROM digests WHERE ref=?", (str(ref.name_only().with_digest(ref.digest)),)
            )
            if rows:
                return str(rows[0][0])
            if ref.tag is None and self.exists(ref.digest):
                return ref.digest
        else:
            rows = self.db.query("SELECT image_id FROM tags WHERE ref=?", (str(ref.tagged_or_latest()),))
            if rows:
                return str(rows[0][0])
        if ref.tag is None and ref.digest is None:
            prefix = text[7:] if text.startswith("sha256:") else text
            if prefix and all(c in "0123456789abcdef" for c in prefix):
                rows = self.db.query("SELECT id FROM images WHERE id LIKE ?", (f"sha256:{prefix}%",))
                if len(rows) == 1:
                    return str(rows[0][0])
        raise NotFound(f"No such image: {ref.tagged_or_latest().familiar()}")

    def tag(self, ref: reference.Reference, image_id: str) -> str | None:
        """Point ``ref`` at ``image_id``. Returns the image it pointed at before, if another."""
        key = str(ref)
        table = "digests" if ref.digest is not None else "tags"
        with self.db.tx() as conn:
            if not conn.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone():
                raise NotFound(f"No such image: {image_id}")
            row = conn.execute(f"SELECT image_id FROM {table} WHERE ref=?", (key,)).fetchone()
            previous = str(row[0]) if row else None
            if table == "tags":
                conn.execute(
                    "INSERT OR REPLACE INTO tags(ref, image_id, created) VALUES (?,?,?)", (key, image_id, now_ns())
                )
            else:
                conn.execute("INSERT OR REPLACE INTO digests(ref, image_id) VALUES (?,?)", (key, image_id))
            conn.execute("UPDATE images SET last_tag=? WHERE id=?", (now_ns(), image_id))
        return previous if previous != image_id else None

    def untag(self, ref: str) -> None:
        with self.db.tx() as conn:
            cur = conn.execute("DELETE FROM tags WHERE ref=?", (ref,))
            if cur.rowcount == 0:
                cur = conn.execute("DELETE FROM digests WHERE ref=?", (ref,))
            if cur.rowcount == 0:
                raise NotFound(f"No such image: {ref}")

    def all_tag_refs(self) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT ref FROM tags")]

    def references(self, image_id: str) -> list[str]:
        rows = self.db.query(
            "SELECT ref FROM tags WHERE image_id=? UNION ALL SELECT ref FROM digests WHERE image_id=?",
            (image_id, image_id),
        )
        return [str(r[0]) for r in rows]

    # -- removal and garbage collection -------------------------------------------------------

    def delete(self, image_id: str) -> list[str]:
        """Delete an image record and its references; returns the chain IDs of layers released."""
        with self.db.tx() as conn:
            chains = [
                str(r[0])
                for r in conn.execute(
                    "SELECT chain_id FROM image_layers WHERE image_id=? ORDER BY position DESC", (image_id,)
                )
            ]
            conn.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
            conn.execute("DELETE FROM digests WHERE image_id=?", (image_id,))
            conn.execute("DELETE FROM manifests WHERE image_id=?", (image_id,))
            conn.execute("DELETE FROM image_layers WHERE image_id=?", (image_id,))
            conn.execute("DELETE FROM images WHERE id=?", (image_id,))
            conn.execute("UPDATE images SET parent='' WHERE parent=?", (image_id,))
            conn.execute("DELETE FROM build_cache WHERE image_id=?", (image_id,))
        self._config_cache.pop(image_id, None)
        if not self.content_referenced(image_id):
            self.content.delete(image_id)
        return self.release_layers(chains)

    def release_layers(self, chains: Iterable[str]) -> list[str]:
        """Remove the given layers (top first) that no image or snapshot stands on any more."""
        removed: list[str] = []
        for chain in chains:
            if self.db.query("SELECT 1 FROM image_layers WHERE chain_id=? LIMIT 1", (chain,)):
                continue
            self._drop_unused_init(chain)
            if self.snapshots.exists(chain) and self.snapshots.children(chain):
                continue
            layer = self.layer(chain)
            extra: list[str] = []
            with self.db.tx() as conn:
                conn.execute("DELETE FROM layers WHERE chain_id=?", (chain,))
                if self.snapshots.exists(chain):
                    self.snapshots.remove(chain)
                if (
                    layer is not None
                    and not conn.execute("SELECT 1 FROM layers WHERE diff_id=? LIMIT 1", (layer.diff_id,)).fetchone()
                ):
                    # No layer has these contents any more: their compressed copies go too.
                    extra = [str(r[0]) for r in conn.execute("SELECT digest FROM layer_blobs WHERE diff_id=?",
                                                             (layer.diff_id,))]  # fmt: skip
                    conn.execute("DELETE FROM layer_blobs WHERE diff_id=?", (layer.diff_id,))
            for blob in ([layer.blob] if layer is not None and layer.blob else []) + extra:
                if not self.content_referenced(blob):
                    self.content.delete(blob)
            removed.append(chain)
        return removed

    INIT_PREFIX = "init/"  # the containers' shared init layer of a top layer: init/<chain ID>

    def _drop_unused_init(self, chain: str) -> None:
        """The init layer made on top of ``chain`` for its containers is a cache: once no
        container stands on it, it must not keep the layer (and its disk space) alive."""
        key = self.INIT_PREFIX + chain
        if self.snapshots.exists(key) and not self.snapshots.children(key):
            try:
                self.snapshots.remove(key)
            except (NotFound, Conflict):
                pass

    def content_referenced(self, digest: str) -> bool:
        return bool(
            self.db.query(
                "SELECT 1 FROM layers WHERE blob=? UNION ALL SELECT 1 FROM images WHERE id=? "
                "UNION ALL SELECT 1 FROM manifests WHERE digest=? "
                "UNION ALL SELECT 1 FROM layer_blobs WHERE digest=? LIMIT 1",
                (digest, digest, digest, digest),
            )
        )

    # -- what registries know -------------------------------------------------------------------

    def compressed_blobs(self, diff_id: str) -> list[tuple[str, str, int]]:
        """Compressed forms of the layer ``diff_id`` we hold: (digest, media type, size)."""
        rows = self.db.query("SELECT digest, media_type, size FROM layer_blobs WHERE diff_id=?", (diff_id,))
        return [(str(d), str(m), int(s)) for d, m, s in rows if self.content.exists(str(d))]

    def add_compressed_blob(self, diff_id: str, digest: str, media_type: str, size: int) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO layer_blobs(diff_id, digest, media_type, size) VALUES (?,?,?,?)",
                (diff_id, digest, media_type, size),
            )

    def blob_repositories(self, digest: str) -> list[str]:
        """Repositories (``host/path``) a blob is known to be in: candidates for a mount."""
        return [str(r[0]) for r in self.db.query("SELECT repo FROM blob_sources WHERE blob=?", (digest,))]

    def add_blob_source(self, digest: str, repo: str) -> None:
        with self.db.tx() as conn:
            conn.execute("INSERT OR IGNORE INTO blob_sources(blob, repo) VALUES (?,?)", (digest, repo))

    def record_manifest(self, digest: str, image_id: str, repo: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO manifests(digest, image_id, repo) VALUES (?,?,?)", (digest, image_id, repo)
            )

    def gc(self) -> None:
        """Start-up clean-up: interrupted extractions, unreferenced layers and blobs."""
        for key in self.snapshots.keys(prefix="extract-"):
            try:
                self.snapshots.remove(key)
            except (NotFound, AlreadyExists):
                pass
        self.snapshots.clean()
        self.content.clean_ingest()
        used_chains = {str(r[0]) for r in self.db.query("SELECT chain_id FROM image_layers")}
        all_layers = [str(r[0]) for r in self.db.query("SELECT chain_id FROM layers")]
        orphans = [c for c in all_layers if c not in used_chains]
        # Release top-most first so parents free up in the same pass.
        depth = {c: self._depth(c) for c in orphans}
        self.release_layers(sorted(orphans, key=lambda c: -depth[c]))
        referenced: set[str] = set()
        for q in (
            "SELECT blob FROM layers",
            "SELECT id FROM images",
            "SELECT digest FROM manifests",
            "SELECT digest FROM layer_blobs",
        ):
            referenced.update(str(r[0]) for r in self.db.query(q) if r[0])
        for blob in list(self.content.walk()):
            if blob not in referenced:
                self.content.delete(blob)

    def _depth(self, chain: str) -> int:
        n = 0
        layer = self.layer(chain)
        while layer is not None and layer.parent:
            n += 1
            layer = self.layer(layer.parent)
        return n
