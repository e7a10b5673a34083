from ballena.core.networks import Endpoint
from ballena.network.resolver import Resolver


class Directory:
    def __init__(self, eps: list[Endpoint]) -> None:
        self.eps = eps

    def endpoints(self, *, network_id: str | None = None, container_id: str | None = None) -> list[Endpoint]:
        return [
            e
            for e in self.eps
            if (network_id is None or e.network_id == network_id)
            and (container_id is None or e.container_id == container_id)
        ]


def _ep(
    net: str, cid: str, name: str, ip: str, ip6: str = "", aliases: tuple[str, ...] = (), links: tuple[str, ...] = ()
) -> Endpoint:
    return Endpoint(
        network_id=net,
        container_id=cid,
        container_name=name,
        endpoint_id="e",
        ipv4=ip,
        ipv6=ip6,
        aliases=aliases,
        links=links,
    )


WEB = "a" * 64
DB = "b" * 64
OTHER = "c" * 64
D = Directory(
    [
        _ep("n1", WEB, "web", "10.0.0.2", links=("db:database",)),
        _ep("n1", DB, "db", "10.0.0.3", "fd00::3", aliases=("mysql",)),
        _ep("n2", OTHER, "other", "10.1.0.2"),
        _ep("bridge", WEB, "web", "172.17.0.2"),
    ]
)
R = Resolver(D, network_name=lambda nid: {"n1": "front", "n2": "back"}.get(nid))


def test_names_on_shared_networks() -> None:
    assert R.lookup(WEB, "db") == ["10.0.0.3"]
    assert R.lookup(WEB, "DB") == ["10.0.0.3"]
    assert R.lookup(WEB, "mysql") == ["10.0.0.3"]
    assert R.lookup(WEB, "bbbbbbbbbbbb") == ["10.0.0.3"]
    assert R.lookup(WEB, "db.front") == ["10.0.0.3"]


def test_other_networks_names_are_unknown() -> None:
    assert R.lookup(WEB, "other") is None


def test_link_aliases() -> None:
    assert R.lookup(WEB, "database") == ["10.0.0.3"]
    assert R.lookup(DB, "database") is None  # the link is web's, not db's


def test_ipv6_and_known_names_without_one() -> None:
    assert R.lookup(WEB, "db", 6) == ["fd00::3"]
    assert R.lookup(DB, "web", 6) == []


def test_a_container_on_no_user_network_knows_nothing() -> None:
    assert R.lookup("z" * 64, "db") is None


def test_reverse() -> None:
    assert R.reverse(WEB, "10.0.0.3") == "db.front"
    assert R.reverse(WEB, "10.1.0.2") is None
