"""The daemon's side of the zygote, with the zygote's answers played by the test."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from ballena.pkg import framing
from ballena.shim.config import FileHelperConfig
from ballena.shim.spawner import Zygote


def test_a_child_gone_before_its_descriptor_arrives_still_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file helper that finds no such path reports it and exits at once, perhaps before the
    daemon has passed it the client's connection: that send then fails, and the report must
    still reach the caller (it once came back as "BrokenPipeError")."""
    zygote = Zygote(log_path=tmp_path / "log", file_helpers=True)

    async def exchange(frame: bytes, fd: int | None) -> dict[str, Any]:
        assert fd is not None  # the child's end: the child reports and is gone
        os.write(fd, framing.encode_json({"done": True, "error": "Could not find the file /nope", "kind": "NotFound"}))
        return {"pid": 12345}

    monkeypatch.setattr(zygote, "start", lambda: None)
    monkeypatch.setattr(zygote, "_exchange", exchange)
    client_a, client_b = socket.socketpair()

    async def case() -> None:
        cfg = FileHelperConfig(id="c1", op="get", path="/nope")
        pid, channel = await zygote.spawn(cfg, pass_fd=client_a.fileno())
        assert pid == 12345
        assert await channel.next_json() == {"done": True, "error": "Could not find the file /nope", "kind": "NotFound"}
        assert await channel.next_json() is None
        channel.close()

    try:
        asyncio.run(case())
    finally:
        client_a.close()
        client_b.close()
