import asyncio

import pytest

from ballena.api.router import API_VERSION, Router, api_at_least, version_lt
from ballena.errors import InvalidArgument, NotFound


class Req:
    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.params: dict[str, str] = {}
        self.api_version = ""


def _router() -> Router:
    r = Router()

    @r.route("GET", "/images/{name:.+}/json")
    async def image(req: Req) -> str:  # type: ignore[return]
        return f"image {req.params['name']} @{req.api_version}"

    @r.route("POST", "/containers/{id}/start")
    async def start(req: Req) -> str:  # type: ignore[return]
        return f"start {req.params['id']}"

    return r  # type: ignore[return-value]


def _go(method: str, path: str) -> object:
    return asyncio.run(_router().dispatch(Req(method, path)))  # type: ignore[arg-type]


def test_routes_with_and_without_a_version() -> None:
    assert _go("GET", "/v1.41/images/library/busybox:latest/json") == "image library/busybox:latest @1.41"
    assert _go("GET", "/images/x/json") == f"image x @{API_VERSION}"
    assert _go("POST", "/v1.24/containers/abc/start/") == "start abc"
    assert _go("HEAD", "/images/x/json") == f"image x @{API_VERSION}"


@pytest.mark.parametrize(
    ("path", "fragment"), [("/v1.12/images/x/json", "too old"), ("/v9.99/images/x/json", "too new")]
)
def test_versions_out_of_range(path: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        _go("GET", path)
    assert fragment in e.value.message


def test_unknown_routes_and_methods() -> None:
    with pytest.raises(NotFound):
        _go("GET", "/nothing")
    with pytest.raises(NotFound):
        _go("DELETE", "/images/x/json")


def test_version_comparisons() -> None:
    assert version_lt("1.9", "1.10") and not version_lt("1.44", "1.44")
    r = Req("GET", "/")
    r.api_version = "1.43"
    assert api_at_least(r, "1.40") and not api_at_least(r, "1.44")  # type: ignore[arg-type]
