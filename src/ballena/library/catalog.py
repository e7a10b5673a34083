"""The library's recipes, and which tags each can produce.

A recipe knows its Debian *series* (``7.0`` for Debian bookworm's redis) before anything is
built; the full version (``7.0.15``) is only known once the package is installed, from the
image's dpkg database. So a requested tag is accepted when it agrees with the series
(``redis:7``, ``redis:7.0``, ``redis:7.0.15``, ``redis:latest``) and the image built is tagged
with every tag its installed version honestly carries; ``redis:4.0`` is refused before building.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ballena.errors import InvalidArgument, NotFound

RECIPES = Path(__file__).parent / "recipes"
LABEL_PREFIX = "org.opencontainers.image"
DEBIAN_SUITE = "bookworm"  # what the recipes' packages are pinned to by name (golang-1.19, php8.2)
DEBIAN_RELEASE = "12"
# What the service adds to every recipe's build context: the host's extra CA certificates.
HOST_CAS_FILE = "host-extra-cas.pem"


@dataclass(frozen=True, slots=True)
class Recipe:
    name: str  # the Docker Hub repository it stands in for: "redis"
    folder: Path
    description: str
    package: str  # the Debian package whose upstream version names the tags
    series: str  # the part of that version Debian's suite fixes: "7.0"
    packages: tuple[str, ...]  # whose Debian versions the image's labels record
    variants: dict[str, str]  # tag suffix ("" for none) -> Dockerfile in the folder
    default_variant: str = ""  # the variant "latest" and bare versions name
    aliases: tuple[str, ...] = ()  # other repositories it answers for: mariadb as "mysql"
    base: str = ""  # a library image it builds FROM (php:8.2-apache), made first when missing
    version: str = ""  # fixed, for what comes from npm rather than Debian (redis-commander)
    build_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Wanted:
    """A library image asked for by name: which recipe, which variant, which tag."""

    recipe: Recipe
    repository: str  # as asked: "mysql" for the mariadb recipe's alias
    variant: str
    tag: str


@cache
def recipes() -> dict[str, Recipe]:
    found: dict[str, Recipe] = {}
    for folder in sorted(p for p in RECIPES.iterdir() if (p / "recipe.toml").is_file()):
        meta = tomllib.loads((folder / "recipe.toml").read_text())
        variants = {str(k): str(v) for k, v in (meta.get("variants") or {"": "Dockerfile"}).items()}
        found[folder.name] = Recipe(
            name=folder.name,
            folder=folder,
            description=str(meta["description"]),
            package=str(meta["package"]),
            series=str(meta["series"]),
            packages=tuple(meta.get("packages") or (meta["package"],)),
            variants=variants,
            default_variant=str(meta.get("default_variant", "")),
            aliases=tuple(meta.get("aliases") or ()),
            base=str(meta.get("base", "")),
            version=str(meta.get("version", "")),
            build_args={str(k): str(v) for k, v in (meta.get("build_args") or {}).items()},
        )
    return found


def repository_names() -> list[str]:
    """Every repository the library answers for, aliases included, and ``debian``."""
    names = {"debian"}
    for r in recipes().values():
        names.add(r.name)
        names.update(r.aliases)
    return sorted(names)


def find(repository: str) -> Recipe | None:
    for r in recipes().values():
        if repository == r.name or repository in r.aliases:
            return r
    return None


def upstream_version(debian_version: str) -> str:
    """``5:7.0.15-1~deb12u1`` -> ``7.0.15``: no epoch, no Debian revision, no ``+dfsg``."""
    v = debian_version.split(":", 1)[-1]
    m = re.match(r"\d+(?:\.\d+)*", v)
    if m is None:
        raise InvalidArgument(f"cannot read an upstream version in {debian_version!r}")
    return m.group(0)


def _agrees(version: str, series: str) -> bool:
    """``7``, ``7.0`` and ``7.0.15`` agree with series ``7.0``; ``7.2`` and ``4.0`` do not."""
    a, b = version.split("."), series.split(".")
    n = min(len(a), len(b))
    return all(p.isdigit() for p in a) and a[:n] == b[:n]


def _split_variant(recipe: Recipe, tag: str) -> tuple[str, str]:
    """``8.2-apache`` -> (``8.2``, ``apache``); ``apache`` -> (``latest``, ``apache``)."""
    for variant in sorted(recipe.variants, key=len, reverse=True):
        if variant and tag == variant:
            return "latest", variant
        if variant and tag.endswith(f"-{variant}"):
            return tag[: -len(variant) - 1], variant
    return tag, recipe.default_variant


def tags_for(recipe: Recipe, variant: str, version: str, repository: str | None = None) -> list[str]:
    """Every tag an image of ``version`` honestly carries, for ``repository`` (the recipe's
    name or an alias): ``7``, ``7.0``, ``7.0.15`` and ``latest`` for redis 7.0.15."""
    parts = version.split(".")
    numbers = [".".join(parts[: i + 1]) for i in range(min(len(parts), 3))]
    out: list[str] = []
    if variant:
        out += [f"{n}-{variant}" for n in numbers] + [variant]
    if variant == recipe.default_variant:
        out += [*numbers, "latest"]
    return out


def producible(recipe: Recipe) -> list[str]:
    """The tags as they can be named before a build: the series' and ``latest``."""
    parts = recipe.series.split(".")
    numbers = [".".join(parts[: i + 1]) for i in range(len(parts))] + [f"{recipe.series}.<patch>"]
    out: list[str] = []
    for variant in recipe.variants:
        if variant:
            out += [f"{n}-{variant}" for n in numbers] + [variant]
        if variant == recipe.default_variant:
            out += [*numbers, "latest"]
    return out


def wanted(repository: str, tag: str | None) -> Wanted:
    """What ``redis:7`` asks of the library. Raises NotFound for a repository the library
    lacks, InvalidArgument for a tag it cannot produce (listing those it can)."""
    recipe = find(repository)
    if recipe is None:
        raise NotFound(f"the offline library has no {repository} image; it has: {', '.join(repository_names())}")
    tag = tag or "latest"
    number, variant = _split_variant(recipe, tag)
    if variant not in recipe.variants or not (number == "latest" or _agrees(number, recipe.series)):
        raise InvalidArgument(
            f"the offline library cannot make {repository}:{tag}: Debian {DEBIAN_SUITE} packages "
            f"{recipe.package} {recipe.series}; its tags are "
            + ", ".join(f"{repository}:{t}" for t in producible(recipe))
        )
    return Wanted(recipe=recipe, repository=repository, variant=variant, tag=tag)


# -- the Debian base -------------------------------------------------------------------------

DEBIAN_TAGS = {
    # tag -> slim?
    DEBIAN_SUITE: False,
    f"{DEBIAN_SUITE}-slim": True,
    DEBIAN_RELEASE: False,
    f"{DEBIAN_RELEASE}-slim": True,
    "stable": False,
    "stable-slim": True,
    "latest": False,
}


def debian_slim(tag: str | None) -> bool:
    """Whether ``debian:TAG`` is the slim variant. Raises InvalidArgument for another suite."""
    tag = tag or "latest"
    if tag not in DEBIAN_TAGS:
        raise InvalidArgument(
            f"the offline library cannot make debian:{tag}: it bootstraps Debian {DEBIAN_SUITE}; its tags are "
            + ", ".join(f"debian:{t}" for t in DEBIAN_TAGS)
        )
    return DEBIAN_TAGS[tag]


def debian_tags(slim: bool) -> list[str]:
    return [t for t, s in DEBIAN_TAGS.items() if s == slim]


# -- what an image has installed ----------------------------------------------------------------


def installed_versions(dpkg_status: str) -> dict[str, str]:
    """Package -> version of what dpkg's status file says is installed."""
    out: dict[str, str] = {}
    for paragraph in dpkg_status.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            out[fields["Package"]] = fields.get("Version", "")
    return out


def labels(recipe: Recipe, repository: str, versions: dict[str, str]) -> dict[str, str]:
    """The OCI labels of a built image: where it came from and what Debian put in it."""
    version = recipe.version or upstream_version(versions[recipe.package])
    out = {
        f"{LABEL_PREFIX}.title": repository,
        f"{LABEL_PREFIX}.description": recipe.description,
        f"{LABEL_PREFIX}.version": version,
        f"{LABEL_PREFIX}.source": f"ballena/library/recipes/{recipe.name}",
        f"{LABEL_PREFIX}.base.name": f"docker.io/library/debian:{DEBIAN_SUITE}-slim",
        f"{LABEL_PREFIX}.vendor": "Ballena offline library (Debian packages)",
    }
    for package in recipe.packages:
        if package in versions:
            out[f"org.ballena.library.debian.{package}"] = versions[package]
    if repository != recipe.name:
        out["org.ballena.library.alias-of"] = recipe.name
    return out
