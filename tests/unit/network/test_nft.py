from ballena.network.nft import BridgeRules, PortRule, render


def test_nat_and_forwarding_for_a_bridge() -> None:
    text = render([BridgeRules(ifname="br0", subnet="10.0.0.0/24")], [], table="t")
    assert text.startswith("table ip t {")
    assert 'ip saddr 10.0.0.0/24 oifname != "br0" masquerade' in text
    assert 'iifname { "br0" } accept' in text


def test_networks_are_isolated_from_each_other() -> None:
    text = render([BridgeRules(ifname="a", subnet="10.0.0.0/24"), BridgeRules(ifname="b", subnet="10.0.1.0/24")], [])
    assert 'iifname "a" oifname { "b" } drop' in text and 'iifname "b" oifname { "a" } drop' in text


def test_internal_networks_have_no_way_out_and_no_nat() -> None:
    text = render([BridgeRules(ifname="i", subnet="10.9.0.0/24", internal=True)], [])
    assert "masquerade" not in text
    assert 'iifname "i" oifname != "i" drop' in text and 'oifname "i" iifname != "i" drop' in text


def test_icc_off_and_masquerade_off() -> None:
    text = render([BridgeRules(ifname="q", subnet="10.8.0.0/24", icc=False, masquerade=False)], [])
    assert 'iifname "q" oifname "q" drop' in text and "masquerade" not in text


def test_published_ports_dnat_and_hairpin() -> None:
    rule = PortRule(proto="tcp", host_ip="", host_port=8080, container_ip="10.0.0.2", container_port=80, bridge="br0")
    text = render([BridgeRules(ifname="br0", subnet="10.0.0.0/24")], [rule])
    assert 'iifname != "br0" tcp dport 8080 dnat to 10.0.0.2:80' in text
    assert "ip saddr 10.0.0.2 ip daddr 10.0.0.2 tcp dport 80 masquerade" in text
    bound = PortRule(
        proto="udp", host_ip="127.0.0.1", host_port=53, container_ip="10.0.0.3", container_port=53, bridge="br0"
    )
    assert "ip daddr 127.0.0.1 udp dport 53" in render([], [bound])
