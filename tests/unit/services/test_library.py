from typing import Any

from ballena.errors import NotFound, Unavailable
from ballena.pkg import reference
from ballena.services.library import LibraryService


def _library(fallback: bool = True) -> LibraryService:
    none: Any = None
    return LibraryService(
        store=none, builder=none, registry=none, images=none, cache_dir=none, tmp_dir=none, fallback=fallback
    )


def test_the_library_stands_in_only_when_docker_hub_cannot_be_reached() -> None:
    lib = _library()
    unreachable = Unavailable(
        'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'
    )
    assert lib.applies(reference.parse_normalized("redis:7"), unreachable)
    assert lib.applies(reference.parse_normalized("rediscommander/redis-commander"), unreachable)
    assert lib.applies(reference.parse_normalized("debian:bookworm-slim"), unreachable)
    # The registry answered: its answer stands.
    assert not lib.applies(reference.parse_normalized("redis:7"), NotFound("manifest unknown"))
    # Not an image of the library, or another registry.
    assert not lib.applies(reference.parse_normalized("someone/something"), unreachable)
    assert not lib.applies(reference.parse_normalized("127.0.0.1:5000/redis"), unreachable)
    # --offline-library=false
    assert not _library(fallback=False).applies(reference.parse_normalized("redis"), unreachable)
