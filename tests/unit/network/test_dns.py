import asyncio

from dnslib import QTYPE, RCODE, DNSRecord

from ballena.network.dns import DNSServer


def _server(names: dict[str, dict[int, list[str]]]) -> DNSServer:
    return DNSServer(
        lookup=lambda cid, name, v: names.get(name, {}).get(v, []) if name in names else None,
        reverse=lambda cid, ip: "db.front" if ip == "10.0.0.3" else None,
        upstreams=lambda cid: [],
    )


def _ask(server: DNSServer, name: str, qtype: str) -> DNSRecord:
    data = DNSRecord.question(name, qtype).pack()
    reply = asyncio.run(server.answer("c", data))
    assert reply is not None
    return DNSRecord.parse(reply)


NAMES = {"db": {4: ["10.0.0.3"], 6: ["fd00::3"]}, "web": {4: ["10.0.0.2"], 6: []}}


def test_a_and_aaaa() -> None:
    s = _server(NAMES)
    assert [str(r.rdata) for r in _ask(s, "db", "A").rr] == ["10.0.0.3"]
    assert [str(r.rdata) for r in _ask(s, "db", "AAAA").rr] == ["fd00::3"]


def test_a_known_name_without_ipv6_is_noerror_and_empty() -> None:
    r = _ask(_server(NAMES), "web", "AAAA")
    assert r.header.rcode == RCODE.NOERROR and r.rr == []


def test_unknown_names_go_upstream_and_fail_without_one() -> None:
    assert _ask(_server(NAMES), "example.org", "A").header.rcode == RCODE.SERVFAIL


def test_ptr() -> None:
    r = _ask(_server(NAMES), "3.0.0.10.in-addr.arpa", "PTR")
    assert str(r.rr[0].rdata) == "db.front." and r.rr[0].rtype == QTYPE.PTR


def test_garbage_gets_no_answer() -> None:
    assert asyncio.run(_server(NAMES).answer("c", b"\x00\x01garbage")) is None
