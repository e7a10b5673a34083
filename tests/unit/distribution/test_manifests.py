import json

import pytest

from ballena.distribution import manifests as mf
from ballena.errors import InvalidArgument, NotFound

LIST = json.dumps(
    {
        "manifests": [
            {"digest": "sha256:" + "1" * 64, "size": 1, "mediaType": mf.OCI_MANIFEST, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:" + "2" * 64, "size": 1, "mediaType": mf.OCI_MANIFEST, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:" + "3" * 64, "size": 1, "mediaType": mf.OCI_MANIFEST, "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
            {"digest": "sha256:" + "4" * 64, "size": 1, "mediaType": mf.OCI_MANIFEST, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": "sha256:" + "5" * 64, "size": 1, "mediaType": mf.OCI_MANIFEST, "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        ]
    }
).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("platform", "digit"),
    [
        (("linux", "amd64", ""), "1"),
        (("linux", "arm64", "v8"), "2"),
        (("linux", "arm64", ""), "2"),
        (("linux", "arm", "v7"), "4"),
    ],
)
def test_choose_the_platforms_manifest(platform: tuple[str, str, str], digit: str) -> None:
    assert mf.choose(LIST, platform, "x").digest == "sha256:" + digit * 64


def test_no_match_in_dockers_words() -> None:
    with pytest.raises(NotFound) as e:
        mf.choose(LIST, ("windows", "amd64", ""), "x")
    assert e.value.message == "no matching manifest for windows/amd64 in the manifest list entries"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("linux/amd64", ("linux", "amd64", "")),
        ("linux/arm64/v8", ("linux", "arm64", "v8")),
        ("LINUX/ARM", ("linux", "arm", "")),
    ],
)
def test_parse_platform(text: str, parsed: tuple[str, str, str]) -> None:
    assert mf.parse_platform(text) == parsed


@pytest.mark.parametrize("text", ["linux", "/amd64", "linux/"])
def test_bad_platforms(text: str) -> None:
    with pytest.raises(InvalidArgument):
        mf.parse_platform(text)


@pytest.mark.parametrize(
    ("body", "header", "kind"),
    [
        (b"{}", mf.DOCKER_MANIFEST, mf.DOCKER_MANIFEST),
        (b'{"mediaType": "x/y"}', "application/json", "x/y"),
        (b'{"manifests": []}', "", mf.OCI_INDEX),
        (b'{"schemaVersion": 1}', "text/plain", mf.SCHEMA1[0]),
        (b'{"schemaVersion": 2}', "", mf.OCI_MANIFEST),
    ],
)
def test_media_type_of(body: bytes, header: str, kind: str) -> None:
    assert mf.media_type_of(body, header) == kind


def test_schema1_is_refused_as_docker_does() -> None:
    with pytest.raises(InvalidArgument) as e:
        mf.parse_image(b"{}", mf.SCHEMA1[0])
    assert "[DEPRECATION NOTICE] Docker Image Format v1" in e.value.message


def test_schema2_round_trip() -> None:
    config = mf.Descriptor(media_type=mf.DOCKER_CONFIG, digest="sha256:" + "a" * 64, size=10)
    layer = mf.Descriptor(media_type=mf.DOCKER_LAYER, digest="sha256:" + "b" * 64, size=20)
    body = mf.schema2(config, [layer])
    m = mf.parse_image(body, mf.DOCKER_MANIFEST)
    assert m.config == config and m.layers == (layer,)
