import pytest

from ballena.distribution.endpoints import Registries, is_loopback


@pytest.mark.parametrize(
    ("hostport", "loop"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry-1.docker.io", False),
    ],
)
def test_is_loopback(hostport: str, loop: bool) -> None:
    assert is_loopback(hostport) is loop


def test_insecure_registries_and_cidrs() -> None:
    r = Registries(insecure=("myreg:5000", "10.0.0.0/8"), mirrors=(), certs_dir=None)
    assert r.is_insecure("myreg:5000") and r.is_insecure("10.1.2.3:5000") and not r.is_insecure("other:5000")
    assert r.may_use_http("127.0.0.1:5000") and r.may_use_http("myreg:5000")


def test_docker_hub_goes_through_mirrors_first() -> None:
    r = Registries(insecure=(), mirrors=("https://mirror.example",), certs_dir=None)
    eps = r.endpoints("docker.io")
    assert eps[0].mirror and eps[-1].host == "registry-1.docker.io"
    assert not any(e.mirror for e in r.endpoints("docker.io", for_push=True))
