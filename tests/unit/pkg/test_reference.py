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


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag"),
    [
        ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04"),
        ("quay.io/coreos/etcd:v3", "quay.io", "coreos/etcd", "v3"),
        ("my-registry.local:8443/team/app", "my-registry.local:8443", "team/app", None),
        ("localhost/app", "localhost", "app", None),
        ("a.b.c/d_e.f-g__h", "a.b.c", "d_e.f-g__h", None),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1"),
        ("x" * 10 + "/y:" + "t" * 128, "docker.io", "x" * 10 + "/y", "t" * 128),
    ],
)
def test_parts(text: str, domain: str, path: str, tag: str | None) -> None:
    ref = parse_normalized(text)
    assert ref.domain == domain and ref.path == path and ref.tag == tag


@pytest.mark.parametrize(
    "text",
    [
        "app:" + "t" * 129,
        "app@sha256:short",
        "me/UPPER",
        "app:tag:more",
        "-app",
        "app-",
        "a//b",
        "a/b/",
        ":tag",
        "@sha256:" + "a" * 64,
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_normalized(text)


def test_with_and_without_parts() -> None:
    ref = parse_normalized("me/app:1")
    assert str(ref.name_only()) == "docker.io/me/app"
    assert str(ref.with_tag("2")) == "docker.io/me/app:2"
    d = "sha256:" + "b" * 64
    assert ref.with_digest(d).familiar() == f"me/app@{d}"  # a digest names the content: the tag goes
    assert ref.familiar_name == "me/app" and ref.name == "docker.io/me/app"
