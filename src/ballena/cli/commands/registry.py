"""Registry commands: pull, push, login, logout, search, image tags."""

from __future__ import annotations

import sys

from ballena.cli.common import die, flags, out
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any, TextIO


def _split(image: str) -> tuple[str, str | None]:
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = image.rpartition(":")
        return name, tag
    return image, None


def pull_image(
    client: Client,
    image: str,
    *,
    quiet: bool = False,
    out: TextIO = sys.stdout,
    all_tags: bool = False,
    platform: str | None = None,
) -> None:
    name, tag = _split(image)
    params: dict[str, Any] = {"fromImage": name, "tag": tag or (None if all_tags else "latest"), "platform": platform}
    progress = _Progress(out, quiet)
    for msg in client.stream_json("POST", "/images/create", params=params):
        if msg.get("error"):
            progress.finish()
            die(f"Error response from daemon: {msg['error']}")
        progress.show(msg)
    progress.finish()


class _Progress:
    """Docker's pull display: one line per layer, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.lines: dict[str, int] = {}
        self.count = 0

    def show(self, msg: dict[str, Any]) -> None:
        if self.quiet:
            return
        status = msg.get("status", "")
        ident = msg.get("id")
        text = f"{ident}: {status}" if ident else status
        if msg.get("progress"):
            text += " " + msg["progress"]
        if ident and self.tty:
            if ident in self.lines:
                up = self.count - self.lines[ident]
                self.stream.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
            else:
                self.lines[ident] = self.count
                self.count += 1
                self.stream.write(text + "\n")
        elif ident and not msg.get("progressDetail", {}).get("current") or not ident:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.flush()


def pull(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NAME[:TAG|@DIGEST]", min_args=1, max_args=1)
    p.bool("all-tags", "a", "Download all tagged images in the repository")
    p.bool("quiet", "q", "Suppress verbose output")
    p.str("platform", None, "Set platform if server is multi-platform capable")
    a = p.parse(argv)
    try:
        pull_image(client, a.args[0], quiet=a.quiet, all_tags=a.all_tags, platform=a.platform)
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    if a.quiet:
        name, tag = _split(a.args[0])
        out(f"{name}:{tag or 'latest'}" if not (tag or "").startswith("sha256:") else a.args[0])
    return 0
