"""The content store: immutable blobs under ``blobs/sha256/<hex>``, keyed by their digest.

A write goes to ``ingest/`` and becomes visible only when ``commit()`` has verified its digest,
fsynced it and renamed it into place, so no reader ever sees a partial blob. Leftovers in
``ingest/`` after a crash are removed at start-up (or resumed, for named ingests).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ballena.errors import InvalidArgument, NotFound
from ballena.pkg import digest as dg
from ballena.pkg.atomicfile import fsync_dir
from ballena.pkg.digest import Digest


@contextmanager
def blob_errors(digest: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as e:
        raise NotFound(f"content {digest}: not found") from e


class BlobWriter:
    """Streams bytes into the ingest area while hashing them."""

    def __init__(
        self, store: LocalContentStore, path: Path, expected: str | None, *, offset: int = 0, background: bool = False
    ) -> None:
        self._store = store
        self._path = path
        self._expected = expected
        self._hasher: dg.Hasher | dg.BackgroundHasher = dg.BackgroundHasher() if background else dg.Hasher()
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o644)
        if offset:
            # Resume: re-hash what is already there.
            with open(path, "rb") as f:
                remaining = offset
                while remaining:
                    chunk = f.read(min(1 << 20, remaining))
                    if not chunk:
                        break
                    self._hasher.update(chunk)
                    remaining -= len(chunk)
            os.lseek(self._fd, self._hasher.size, os.SEEK_SET)
            os.ftruncate(self._fd, self._hasher.size)
        else:
            os.ftruncate(self._fd, 0)
        self._closed = False

    @property
    def size(self) -> int:
        return self._hasher.size

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        total = len(view)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hasher.update(bytes(data) if isinstance(data, memoryview) else data)
        return total

    def commit(self, *, durable: bool = True) -> Digest:
        """Verify, fsync and publish. Raises InvalidArgument on a digest mismatch.

        ``durable=False`` skips the fsync: for a pulled layer's blob, which is no more
        precious than the layer unpacked from it (written without fsync, as Docker does);
        a killed daemon still finds it whole, since it is renamed into place only verified."""
        digest = self._hasher.digest()
        if self._expected is not None and digest != self._expected:
            self.abort()
            raise InvalidArgument(f"digest mismatch: expected {self._expected}, got {digest}")
        if durable:
            os.fsync(self._fd)
        os.close(self._fd)
        self._closed = True
        target = self._store.path(digest)
        if target.exists():
            self._path.unlink(missing_ok=True)
        else:
            os.replace(self._path, target)
            if durable:
                fsync_dir(target.parent)
        return digest

    def _stop_hashing(self) -> None:
        if isinstance(self._hasher, dg.BackgroundHasher):
            self._hasher.close()

    def keep(self) -> None:
        """Stop writing but leave the partial file, so that a later writer of the same ref
        resumes after it."""
        if not self._closed:
            os.close(self._fd)
            self._closed = True
        self._stop_hashing()

    def abort(self) -> None:
        if not self._closed:
            os.close(self._fd)
            self._closed = True
        self._stop_hashing()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._closed:
            self.abort()


class LocalContentStore:
    """Blobs on the local filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs" / "sha256"
        self._ingest = root / "ingest"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._ingest.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self._blobs / dg.hex_of(digest)

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int:
        with blob_errors(digest):
            return self.path(digest).stat().st_size

    def read_bytes(self, digest: str) -> bytes:
        with blob_errors(digest):
            return self.path(digest).read_bytes()

    def open(self, digest: str) -> BinaryIO:
        with blob_errors(digest):
            return open(self.path(digest), "rb")

    def writer(self, *, expected: str | None = None, ref: str | None = None, background: bool = False) -> BlobWriter:
        """A writer into the ingest area. With ``ref``, an interrupted ingest of that name is
        resumed from where it stopped (its bytes are re-hashed). ``background`` hashes on a
        thread of its own (for big blobs arriving over the network)."""
        if ref is not None:
            path = self._ingest / ref.replace("/", "_").replace(":", "_")
            offset = path.stat().st_size if path.exists() else 0
            return BlobWriter(self, path, expected, offset=offset, background=background)
        path = self._ingest / secrets.token_hex(16)
        return BlobWriter(self, path, expected)

    def ingest_path(self, ref: str) -> Path:
        return self._ingest / ref.replace("/", "_").replace(":", "_")

    def discard_ingest(self, ref: str) -> None:
        (self._ingest / ref.replace("/", "_").replace(":", "_")).unlink(missing_ok=True)

    def ingest_offset(self, ref: str) -> int:
        path = self._ingest / ref.replace("/", "_").replace(":", "_")
        return path.stat().st_size if path.exists() else 0

    def put_bytes(self, data: bytes, *, expected: str | None = None) -> Digest:
        d = dg.of_bytes(data)
        if expected is not None and d != expected:
            raise InvalidArgument(f"digest mismatch: expected {expected}, got {d}")
        if self.exists(d):
            return d
        with self.writer() as w:
            w.write(data)
            return w.commit()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def walk(self) -> Iterator[Digest]:
        for entry in os.scandir(self._blobs):
            if len(entry.name) == 64:
                yield Digest("sha256:" + entry.name)

    def clean_ingest(self, *, keep_named: bool = True) -> None:
        """Remove anonymous partial writes (named ones are kept so a pull can resume)."""
        for entry in os.scandir(self._ingest):
            if keep_named and not _is_anonymous(entry.name):
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass


def _is_anonymous(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)
