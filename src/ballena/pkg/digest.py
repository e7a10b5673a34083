"""Content digests (``sha256:<64 hex>``), the identity of every blob, config and layer."""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from typing import NewType

from ballena.errors import InvalidArgument

Digest = NewType("Digest", str)

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")


def parse(value: str) -> Digest:
    """Validate ``value`` as a sha256 digest. Raises InvalidArgument."""
    if not _DIGEST_RE.match(value):
        if value.startswith("sha256:"):
            raise InvalidArgument(f"invalid checksum digest length: {value}")
        raise InvalidArgument(f"invalid digest format: {value}")
    return Digest(value)


def is_digest(value: str) -> bool:
    return bool(_DIGEST_RE.match(value))


def is_full_hex(value: str) -> bool:
    return bool(_HEX64_RE.match(value))


def of_bytes(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def hex_of(digest: str) -> str:
    """The hex part of a digest (what names files in the content store)."""
    return digest.split(":", 1)[1] if ":" in digest else digest


def short(digest: str) -> str:
    """Docker's 12-character short form of an ID or digest."""
    return hex_of(digest)[:12]


class Hasher:
    """Incremental sha256 that yields a Digest."""

    __slots__ = ("_h", "size")

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest("sha256:" + self._h.hexdigest())


class BackgroundHasher:
    """sha256 on a thread of its own: hashlib lets go of the GIL, so a layer's diff ID is
    computed on another core while this one decompresses and unpacks (sha256 is the
    slowest step of a pull on a CPU without SHA instructions). Feed it large pieces."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._queue.put(data)

    def digest(self) -> Digest:
        self._queue.put(None)
        self._thread.join()
        return Digest("sha256:" + self._h.hexdigest())

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


def chain_id(parent_chain: str | None, diff_id: str) -> str:
    """The chain ID of a layer on the stack ``parent_chain`` (None: the bottom layer)."""
    return diff_id if parent_chain is None else of_bytes(f"{parent_chain} {diff_id}".encode())


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ID of each layer: the identity of a layer *stack*, as the OCI image spec defines.

    ``chain(L0) = diff_id(L0)``; ``chain(Ln) = sha256(chain(Ln-1) + " " + diff_id(Ln))``.
    """
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else None, diff_id))
    return out
