import pytest

from ballena.errors import InvalidArgument
from ballena.pkg.reference import parse_normalized, parse_repository_and_tag


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("me/hola:1", "docker.io/me/hola:1", "me/hola:1"),
        ("localhost:5000/x", "localhost:5000/x", "localhost:5000/x"),
        ("127.0.0.1:5000/bb:1", "127.0.0.1:5000/bb:1", "127.0.0.1:5000/bb:1"),
        ("index.docker.io/x", "docker.io/library/x", "x"),
        ("docker.io/library/busybox", "docker.io/library/busybox", "busybox"),
        ("ghcr.io/a/b/c@sha256:" + "a" * 64, "ghcr.io/a/b/c@sha256:" + "a" * 64, "ghcr.io/a/b/c@sha256:" + "a" * 64),
    ],
)
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = parse_normalized(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
        ("bad name", "invalid reference format"),
        ("a" * 64, f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings"),
        ("x:", "invalid reference format"),
        ("", "invalid reference format"),
    ],
)
def test_docker_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_normalized(text)
    assert e.value.message == message


def test_tagged_or_latest_and_repo_tag_pairs() -> None:
    assert str(parse_normalized("busybox").tagged_or_latest()) == "docker.io/library/busybox:latest"
    assert str(parse_repository_and_tag("me/app", "2")) == "docker.io/me/app:2"
    with pytest.raises(InvalidArgument):
        parse_repository_and_tag("me/app", "bad tag")
