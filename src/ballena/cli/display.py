"""How docker's formatters show values: short IDs, "3 minutes ago", sizes, ellipses."""

from __future__ import annotations

import time

from ballena.pkg.timeutil import human_duration
from ballena.pkg.units import human_size_precision


def short_id(value: str, no_trunc: bool = False) -> str:
    if no_trunc:
        return value
    if value.startswith("sha256:"):
        value = value[7:]
    return value[:12]


def since(unix_seconds: float) -> str:
    if unix_seconds <= 0:
        return "N/A"
    return human_duration(time.time() - unix_seconds) + " ago"


def size(n: float) -> str:
    return human_size_precision(n, 3)


def ellipsis(text: str, maxlen: int) -> str:
    if len(text) <= maxlen:
        return text
    if maxlen <= 1:
        return text[:maxlen]
    return text[: maxlen - 1] + "…"


def unix_to_rfc3339_local(seconds: float) -> str:
    t = time.localtime(seconds)
    offset = time.strftime("%z", t)
    return time.strftime("%Y-%m-%d %H:%M:%S ", t) + offset + " " + time.strftime("%Z", t)
