"""Image references parsed and normalised exactly as Docker's distribution/reference does.

``busybox`` is ``docker.io/library/busybox:latest`` in full and ``busybox:latest`` in its
familiar form. A reference may carry a tag, a digest, or both; a registry host may carry a port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ballena.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|\[(?:[a-fA-F0-9:]+)\])"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_TAG_RE = re.compile(rf"^{_TAG}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A fully qualified reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository in full: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as people write it: ``busybox``, ``me/hola``, ``host:5000/x``."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_PREFIX) and path.count("/") == 1:
                path = path[len(OFFICIAL_PREFIX) :]
            return path
        return self.name

    def __str__(self) -> str:
        return self._render(self.name)

    def familiar(self) -> str:
        return self._render(self.familiar_name)

    def _render(self, name: str) -> str:
        out = name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def with_tag(self, tag: str) -> Reference:
        return Reference(domain=self.domain, path=self.path, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        return Reference(domain=self.domain, path=self.path, digest=digest)

    def name_only(self) -> Reference:
        return Reference(domain=self.domain, path=self.path)

    def tagged_or_latest(self) -> Reference:
        """Docker's TagNameOnly: a bare name means ``:latest``; a digest stays as it is."""
        if self.tag is None and self.digest is None:
            return self.with_tag(DEFAULT_TAG)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remainder = first, rest
    elif first == LEGACY_DEFAULT_DOMAIN:
        domain, remainder = DEFAULT_DOMAIN, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse_canonical(s: str) -> tuple[str, str | None, str | None]:
    m = _REFERENCE_RE.match(s)
    if m is None:
        if not s:
            raise InvalidArgument("invalid reference format: repository name must have at least one component")
        if _REFERENCE_RE.match(s.lower()):
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest is not None and not re.match(r"^sha256:[a-f0-9]{64}$", digest):
        raise InvalidArgument("invalid reference format")
    return name, tag, digest


def parse_normalized(s: str) -> Reference:
    """Parse what a user typed (``busybox``, ``me/app:1``, ``host:5000/x@sha256:...``).

    Raises InvalidArgument with Docker's message.
    """
    if _IDENTIFIER_RE.match(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(s)
    remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
    remote = remote.split("@", 1)[0]
    if remote.lower() != remote:
        raise InvalidArgument(f"invalid reference format: repository name ({remote}) must be lowercase")
    name, tag, digest = _parse_canonical(f"{domain}/{remainder}")
    domain_part, _, path = name.partition("/")
    return Reference(domain=domain_part, path=path, tag=tag, digest=digest)


def parse_repository_and_tag(repo: str, tag: str | None) -> Reference:
    """The ``repo`` + ``tag`` pair of the tag and create-image APIs, as one reference."""
    ref = parse_normalized(repo)
    if tag:
        if ref.tag is not None or (ref.digest is not None and tag.startswith("sha256:")):
            raise InvalidArgument("invalid reference format")
        if tag.startswith("sha256:"):
            return ref.with_digest(tag)
        validate_tag(tag)
        return Reference(domain=ref.domain, path=ref.path, tag=tag, digest=None)
    return ref


def validate_tag(tag: str) -> None:
    if not _TAG_RE.match(tag):
        raise InvalidArgument(f"invalid tag format: {tag!r}" if tag else "invalid tag format")


def is_image_id_like(s: str) -> bool:
    """A 64-hex ID, with or without ``sha256:``; such a string is an ID, never a name."""
    v = s[7:] if s.startswith("sha256:") else s
    return bool(_IDENTIFIER_RE.match(v))
