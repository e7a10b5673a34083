"""Images: an image is its config blob (whose digest is the image ID) plus the layers the
config's ``rootfs.diff_ids`` name. Tags and repo digests point at image IDs.

Vocabulary: *digest* identifies any blob; a layer's *diff_id* is the digest of its uncompressed
tarball; its *chain_id* identifies the stack of layers beneath and including it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int  # unpacked bytes
    blob: str | None  # the tarball in the content store, as it arrived
    media_type: str
    blob_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    id: str
    parent: str
    created_ns: int
    last_tag_ns: int
    size: int
    chain_ids: tuple[str, ...]
    repo_tags: tuple[str, ...]  # canonical: docker.io/library/busybox:latest
    repo_digests: tuple[str, ...]  # canonical: docker.io/library/busybox@sha256:...
    config: Mapping[str, Any]

    @property
    def top_layer(self) -> str | None:
        return self.chain_ids[-1] if self.chain_ids else None

    @property
    def run_config(self) -> Mapping[str, Any]:
        """The ``config`` object inside the image config (Cmd, Env, Entrypoint ...)."""
        return self.config.get("config") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return self.run_config.get("Labels") or {}


MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
