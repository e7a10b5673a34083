"""Detect and undo layer compression: gzip (isal when installed: about twice zlib's speed), zstd."""

from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO

from ballena.errors import InvalidArgument, Unsupported

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def detect(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``none``, from a stream's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Peekable(io.RawIOBase):
    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        n = len(data)
        b[:n] = data
        return n


class _Checked(io.RawIOBase):
    """A decompressing reader whose corrupt-data errors (each library has its own) become
    InvalidArgument, so that garbage sent as an archive is a 400, never a 500."""

    def __init__(self, inner: Any, kind: str) -> None:
        self._inner = inner
        self._kind = kind

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(b))
        except (EOFError, zlib.error, OSError, ValueError) as e:
            raise InvalidArgument(f"invalid {self._kind} data: {e}") from None
        except Exception as e:  # isal's IsalError, zstandard's ZstdError: neither is an OSError
            raise InvalidArgument(f"invalid {self._kind} data: {e}") from None
        n = len(data)
        b[:n] = data
        return n


def open_decompressed(stream: BinaryIO) -> tuple[BinaryIO, str]:
    """Wrap ``stream`` so that reads yield the uncompressed bytes; also say what it was.
    Reads raise InvalidArgument on corrupt data; a zstd stream without the ``zstandard``
    package raises Unsupported."""
    head = stream.read(4)
    kind = detect(head)
    raw: BinaryIO = io.BufferedReader(_Peekable(head, stream), 1 << 20)  # type: ignore[arg-type]
    if kind == "gzip":
        try:
            from isal import igzip

            inner: Any = igzip.IGzipFile(fileobj=raw, mode="rb")
        except ImportError:  # pragma: no cover - isal is a pinned dependency
            import gzip

            inner = gzip.GzipFile(fileobj=raw, mode="rb")
        return io.BufferedReader(_Checked(inner, kind), 1 << 20), kind  # type: ignore[return-value]
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            raise Unsupported("zstd-compressed layers need the 'zstandard' package") from None
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        return io.BufferedReader(_Checked(reader, kind), 1 << 20), kind  # type: ignore[return-value]
    return raw, kind


def gzip_writer(fileobj: BinaryIO, level: int = 1) -> BinaryIO:
    try:
        from isal import igzip

        return igzip.IGzipFile(fileobj=fileobj, mode="wb", compresslevel=level)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover
        import gzip

        return gzip.GzipFile(fileobj=fileobj, mode="wb", compresslevel=level, mtime=0)  # type: ignore[return-value]
