"""Frames between the daemon and a monitor: ``type (1 byte) | length (4 bytes, big endian) | payload``.

Types: ``J`` a JSON message; ``0`` bytes for the process's stdin; ``1``/``2`` bytes it wrote to
stdout/stderr (``1`` only, with a TTY). Each connection starts with a JSON ``hello`` naming its
role: ``control`` (lifecycle and attach) or ``exec`` (one exec's streams).
"""

from __future__ import annotations

import json
import struct
from typing import Any

JSON = b"J"
STDIN = b"0"
STDOUT = b"1"
STDERR = b"2"
HEADER = struct.Struct(">cI")
MAX_FRAME = 16 << 20


def encode(kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def encode_json(obj: Any) -> bytes:
    return encode(JSON, json.dumps(obj, separators=(",", ":")).encode())


class Decoder:
    """Incremental frame parser: feed bytes, take complete frames."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buf)
            if size > MAX_FRAME:
                raise ValueError("frame too large")
            end = HEADER.size + size
            if len(self.buf) < end:
                break
            out.append((kind, bytes(self.buf[HEADER.size : end])))
            del self.buf[:end]
        return out
