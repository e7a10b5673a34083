"""Manifests: what a registry can answer for ``name:tag``, choosing a platform from a list, and
the Docker schema 2 manifest a push writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ballena.errors import InvalidArgument, NotFound
from ballena.pkg.platforms import go_arch

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)

ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX])
LISTS = (DOCKER_LIST, OCI_INDEX)
IMAGES = (DOCKER_MANIFEST, OCI_MANIFEST)
LAYER_TYPES = (DOCKER_LAYER, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD)


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()

    @staticmethod
    def parse(d: dict[str, Any]) -> Descriptor:
        try:
            return Descriptor(
                media_type=str(d.get("mediaType") or ""),
                digest=str(d["digest"]),
                size=int(d.get("size") or 0),
                urls=tuple(d.get("urls") or ()),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("malformed manifest: a descriptor lacks its digest") from None

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def media_type_of(body: bytes, header: str) -> str:
    """The manifest's type: the header, else the document's own ``mediaType``, else guessed."""
    kind = header.split(";")[0].strip()
    if kind and kind not in ("application/json", "text/plain", "application/octet-stream"):
        return kind
    try:
        doc = json.loads(body)
    except ValueError:
        raise InvalidArgument("the registry sent a manifest that is not JSON") from None
    if doc.get("mediaType"):
        return str(doc["mediaType"])
    if "manifests" in doc:
        return OCI_INDEX
    if doc.get("schemaVersion") == 1:
        return SCHEMA1[0]
    return OCI_MANIFEST


def parse_image(body: bytes, media_type: str) -> ImageManifest:
    if media_type in SCHEMA1:
        raise InvalidArgument(
            "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
            "is disabled by default and will be removed in an upcoming release. Suggest the author of the image "
            "to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2."
        )
    if media_type not in IMAGES:
        raise InvalidArgument(f"unsupported manifest media type {media_type}")
    doc = json.loads(body)
    return ImageManifest(
        media_type=media_type,
        config=Descriptor.parse(doc.get("config") or {}),
        layers=tuple(Descriptor.parse(layer) for layer in doc.get("layers") or []),
    )


def host_platform() -> tuple[str, str, str]:
    arch = go_arch()
    variant = {"arm64": "v8", "arm": "v7"}.get(arch, "")
    return "linux", arch, variant


def parse_platform(text: str | None) -> tuple[str, str, str]:
    """``linux/arm64/v8`` (Docker's --platform), defaulting to this host's."""
    if not text:
        return host_platform()
    parts = text.lower().split("/")
    if len(parts) < 2 or not all(parts):
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def choose(body: bytes, platform: tuple[str, str, str], name: str) -> Descriptor:
    """The manifest for ``platform`` in a manifest list or OCI index."""
    doc = json.loads(body)
    want_os, want_arch, want_variant = platform
    best: tuple[int, Descriptor] | None = None
    for m in doc.get("manifests") or []:
        p = m.get("platform") or {}
        if p.get("os") != want_os or p.get("architecture") != want_arch:
            continue
        if (m.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        variant = p.get("variant") or ""
        score = 2 if variant == want_variant else (1 if not variant or not want_variant else 0)
        if score and (best is None or score > best[0]):
            best = (score, Descriptor.parse(m))
    if best is None:
        wanted = "/".join(x for x in platform if x)
        raise NotFound(f"no matching manifest for {wanted} in the manifest list entries")
    return best[1]


def schema2(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """A Docker image manifest, laid out as Docker writes it (three-space indentation)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(doc, indent=3).encode()
