"""Docker's json-file log format: one JSON object per line, ``{"log", "stream", "time"}``,
rotated at ``max-size`` keeping ``max-file`` files (``<path>``, ``<path>.1``, ...).

The writer runs in the monitor; the reader in the daemon (``docker logs``), so a container's
logs are complete whether or not the daemon was running while it wrote them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

DEFAULT_MAX_SIZE = 20 * 1000 * 1000
DEFAULT_MAX_FILE = 5
_PARTIAL_MAX = 16 * 1024


def rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 10**9)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}".rstrip("0").rstrip(".") + "Z"


class LogWriter:
    def __init__(self, path: str, *, max_size: int = DEFAULT_MAX_SIZE, max_file: int = DEFAULT_MAX_FILE) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size
        self._partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    def write(self, stream: str, data: bytes) -> None:
        """Log whole lines now; keep a trailing partial line until it ends or grows large."""
        buf = self._partial[stream]
        buf += data
        now = time.time_ns()
        out = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            out.append(self._entry(stream, bytes(buf[start : nl + 1]), now))
            start = nl + 1
        del buf[:start]
        while len(buf) >= _PARTIAL_MAX:
            out.append(self._entry(stream, bytes(buf[:_PARTIAL_MAX]), now))
            del buf[:_PARTIAL_MAX]
        if out:
            self._append(b"".join(out))

    def flush_partial(self) -> None:
        now = time.time_ns()
        out = []
        for stream, buf in self._partial.items():
            if buf:
                out.append(self._entry(stream, bytes(buf), now))
                buf.clear()
        if out:
            self._append(b"".join(out))

    @staticmethod
    def _entry(stream: str, line: bytes, ns: int) -> bytes:
        text = line.decode("utf-8", errors="replace")
        return (
            json.dumps(
                {"log": text, "stream": stream, "time": rfc3339nano(ns)}, ensure_ascii=False, separators=(",", ":")
            )
            + "\n"
        ).encode()

    def _append(self, data: bytes) -> None:
        if self.max_size > 0 and self.size + len(data) > self.max_size and self.size > 0:
            self._rotate()
        os.write(self.fd, data)
        self.size += len(data)

    def _rotate(self) -> None:
        os.close(self.fd)
        if self.max_file > 1:
            for i in range(self.max_file - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i}")
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        else:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.size = 0

    def close(self) -> None:
        self.flush_partial()
        os.close(self.fd)


def log_files(path: str, max_file: int = 100) -> list[str]:
    """The log files of a container, oldest first."""
    rotated = []
    for i in range(max_file, 0, -1):
        p = f"{path}.{i}"
        if os.path.exists(p):
            rotated.append(p)
    return rotated + ([path] if os.path.exists(path) else [])


def read_entries(path: str) -> Iterator[dict[str, str]]:
    for p in log_files(path):
        try:
            with open(p, "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):
                        try:
                            yield json.loads(line)
                        except ValueError:
                            continue
        except FileNotFoundError:
            continue
