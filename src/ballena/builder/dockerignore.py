"""``.dockerignore``: which context paths a build never sees (moby's patternmatcher).

Patterns are cleaned paths relative to the context root, matched with Go's ``filepath.Match``
per path element, with ``**`` for any number of directories; ``!pattern`` re-includes. The last
pattern that matches a path (or one of its parent directories) decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    exclusion: bool
    text: str


def _go_match_to_regex(pattern: str) -> str:
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern[i : i + 2] == "**":
                # "**/" matches zero or more directories; a trailing "**" anything below.
                if pattern[i + 2 : i + 3] == "/":
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 1
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse(text: str) -> list[str]:
    """The patterns of a .dockerignore file, as moby reads them."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        line = posixpath.normpath(line.replace("\\", "/")).lstrip("/")
        if line in (".", ""):
            line = "."
        out.append(("!" if exclusion else "") + line)
    return out


class Matcher:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for p in patterns:
            exclusion = p.startswith("!")
            text = p[1:] if exclusion else p
            if text == ".":
                continue  # "." would ignore the whole context; Docker ignores such a pattern
            self.patterns.append(_Pattern(re.compile("^" + _go_match_to_regex(text) + "$"), exclusion, text))

    def excluded(self, path: str) -> bool:
        """Whether the context path ``path`` (relative, with /) is ignored."""
        path = posixpath.normpath(path).lstrip("/")
        parents = []
        parts = path.split("/")
        for i in range(1, len(parts)):
            parents.append("/".join(parts[:i]))
        matched = False
        for p in self.patterns:
            hit = bool(p.regex.match(path)) or any(p.regex.match(parent) for parent in parents)
            if hit:
                matched = not p.exclusion
        return matched

    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)
