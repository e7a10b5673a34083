"""Docker's stream encodings: JSON message streams (pull, load, build) and the 8-byte framed
stdout/stderr multiplexing of attach, exec and logs without a TTY."""

from __future__ import annotations

import json
import struct
from typing import Any

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame: [stream, 0, 0, 0, size(4, big endian)] + payload."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def json_line(obj: Any) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def json_error(message: str) -> bytes:
    return json_line({"errorDetail": {"message": message}, "error": message})


def json_status(status: str, id_: str | None = None, **extra: Any) -> bytes:
    obj: dict[str, Any] = {"status": status}
    if id_ is not None:
        obj["id"] = id_
    obj.update(extra)
    return json_line(obj)


def json_stream(text: str) -> bytes:
    return json_line({"stream": text})
