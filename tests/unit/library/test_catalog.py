import pytest

from ballena.builder import parser as dfparser
from ballena.errors import InvalidArgument, NotFound
from ballena.library import catalog


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("5:7.0.15-1~deb12u10", "7.0.15"),
        ("1:10.11.11-0+deb12u1", "10.11.11"),
        ("18.20.4+dfsg-1~deb12u3", "18.20.4"),
        ("4:5.2.1+dfsg-1+deb12u1", "5.2.1"),
        ("15.13-0+deb12u1", "15.13"),
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert catalog.upstream_version(debian) == upstream


def test_tags_agree_with_the_series_or_are_refused_with_what_can_be_had() -> None:
    for tag in ("latest", "7", "7.0", "7.0.15", None):
        assert catalog.wanted("redis", tag).recipe.name == "redis"
    with pytest.raises(InvalidArgument) as e:
        catalog.wanted("redis", "4.0")
    assert "cannot make redis:4.0" in e.value.message and "redis:7.0" in e.value.message
    with pytest.raises(InvalidArgument):
        catalog.wanted("httpd", "2.2")
    with pytest.raises(InvalidArgument):
        catalog.wanted("redis", "7.0-alpine")
    with pytest.raises(NotFound) as nf:
        catalog.wanted("oracle", "latest")
    assert "has no oracle image" in nf.value.message and "redis" in nf.value.message


def test_variants_and_aliases() -> None:
    w = catalog.wanted("php", "8.2-apache")
    assert (w.variant, w.recipe.variants[w.variant]) == ("apache", "Dockerfile.apache")
    assert catalog.wanted("php", "apache").variant == "apache"
    assert catalog.wanted("php", "8.2").variant == "cli"
    m = catalog.wanted("mysql", "10.11")
    assert (m.recipe.name, m.repository) == ("mariadb", "mysql")
    with pytest.raises(InvalidArgument):
        catalog.wanted("mysql", "8.0")  # MariaDB 10.11 is not MySQL 8.0, and says so


def test_tags_an_installed_version_carries() -> None:
    redis = catalog.recipes()["redis"]
    assert catalog.tags_for(redis, "", "7.0.15") == ["7", "7.0", "7.0.15", "latest"]
    php = catalog.recipes()["php"]
    assert catalog.tags_for(php, "apache", "8.2.28") == ["8-apache", "8.2-apache", "8.2.28-apache", "apache"]
    assert "latest" in catalog.tags_for(php, "cli", "8.2.28") and "8.2" in catalog.tags_for(php, "cli", "8.2.28")


def test_installed_versions_and_labels() -> None:
    status = (
        "Package: redis-server\nStatus: install ok installed\nVersion: 5:7.0.15-1~deb12u10\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: redis-tools\nStatus: install ok installed\nDescription: x\n more\nVersion: 5:7.0.15-1~deb12u10\n"
    )
    versions = catalog.installed_versions(status)
    assert versions == {"redis-server": "5:7.0.15-1~deb12u10", "redis-tools": "5:7.0.15-1~deb12u10"}
    labels = catalog.labels(catalog.recipes()["redis"], "redis", versions)
    assert labels["org.opencontainers.image.version"] == "7.0.15"
    assert labels["org.ballena.library.debian.redis-server"] == "5:7.0.15-1~deb12u10"
    alias = catalog.labels(catalog.recipes()["mariadb"], "mysql", {"mariadb-server": "1:10.11.11-0+deb12u1"})
    assert alias["org.ballena.library.alias-of"] == "mariadb"


def test_debian_tags() -> None:
    assert catalog.debian_slim("bookworm-slim") and not catalog.debian_slim("bookworm")
    assert not catalog.debian_slim(None)
    with pytest.raises(InvalidArgument) as e:
        catalog.debian_slim("bullseye")
    assert "debian:bookworm-slim" in e.value.message


@pytest.mark.parametrize("name", sorted(catalog.recipes()))
def test_every_recipe_parses_and_builds_from_the_library(name: str) -> None:
    r = catalog.recipes()[name]
    assert r.description and r.package in r.packages
    for dockerfile in r.variants.values():
        nodes = dfparser.parse((r.folder / dockerfile).read_text()).nodes
        froms = [n.args[0] for n in nodes if n.cmd == "from"]
        assert froms and all(f in ("debian:bookworm-slim", r.base) for f in froms), froms
        for node in nodes:  # every file a COPY names is in the folder
            if node.cmd == "copy":
                for src in node.args[:-1]:
                    assert (r.folder / src).is_file() or src == catalog.HOST_CAS_FILE, (name, src)
