"""The pull and push stream: early failures are HTTP errors, later ones messages in the stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ballena import errors
from ballena.api.routes.registry import stream


async def _messages(fail: BaseException, after: int) -> AsyncIterator[dict[str, Any]]:
    for i in range(after):
        yield {"status": f"step {i}"}
    raise fail


async def _body(fail: BaseException, after: int) -> list[dict[str, Any]]:
    resp = await stream(_messages(fail, after))
    return [json.loads(chunk) async for chunk in resp.chunks]


def test_a_failure_before_anything_is_streamed_is_the_http_error() -> None:
    with pytest.raises(errors.NotFound):
        asyncio.run(_body(errors.NotFound("manifest unknown"), 0))


def test_a_ballena_error_mid_stream_is_an_error_message() -> None:
    out = asyncio.run(_body(errors.Unavailable("registry gone"), 2))
    assert out[:2] == [{"status": "step 0"}, {"status": "step 1"}]
    assert out[2] == {"errorDetail": {"message": "registry gone"}, "error": "registry gone"}


def test_a_bug_mid_stream_is_an_error_message_not_a_cut_connection() -> None:
    out = asyncio.run(_body(KeyError("config"), 1))
    assert out[0] == {"status": "step 0"}
    assert out[-1]["errorDetail"]["message"] == "KeyError: 'config'"
    assert len(out) == 2
