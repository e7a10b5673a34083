"""Docker's stream encodings: JSON message streams (pull, load, build) and the 8-byte framed
stdout/stderr multiplexing of attach, exec and logs without a TTY."""

from __future__ import annotations

import json
import struct
from typing import Any

from ballena.errors import InvalidArgument

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


def detach_sequence(spec: str) -> bytes:
    """``ctrl-p,ctrl-q`` -> b"\\x10\\x11" (Docker's detach keys). Raises InvalidArgument."""
    out = bytearray()
    for key in (spec or "ctrl-p,ctrl-q").split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[ch])
            else:
                raise InvalidArgument(f"Invalid escape keys ({spec}) provided")
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise InvalidArgument(f"Invalid escape keys ({spec}) provided")
    return bytes(out)


class DetachKeys:
    """Watches a client's stdin for the detach sequence (moby's escape proxy): ``feed`` gives
    the bytes to pass on and whether the sequence was typed. A partial sequence is held back
    until the next byte says whether it was one. As dockerd, only on a terminal (``tty``):
    piped binary input goes through untouched, whatever bytes it holds."""

    def __init__(self, spec: str, *, tty: bool = True) -> None:
        self.sequence = detach_sequence(spec) if tty else b""
        self._matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        seq = self.sequence
        for byte in data:
            if seq and byte == seq[self._matched]:
                self._matched += 1
                if self._matched == len(seq):
                    self._matched = 0
                    return bytes(out), True
                continue
            if self._matched:
                out += seq[: self._matched]
                self._matched = 0
            out.append(byte)
        return bytes(out), False
