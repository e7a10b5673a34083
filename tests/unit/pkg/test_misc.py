import os

import pytest

from ballena.errors import InvalidArgument
from ballena.pkg import digest, signals, units, users
from ballena.pkg.filters import Filters
from ballena.pkg.securejoin import secure_join
from ballena.pkg.timeutil import cli_timestamp, human_duration, parse_api_timestamp, parse_go_duration, rfc3339nano


def test_chain_ids_follow_the_oci_definition() -> None:
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    chain = digest.chain_ids([a, b])
    assert chain[0] == a
    assert chain[1] == digest.of_bytes(f"{a} {b}".encode())


def test_units() -> None:
    assert units.human_size_precision(4261550, 3) == "4.26MB"
    assert units.human_size(0) == "0B"
    assert units.bytes_size(32 * 1024 * 1024) == "32MiB"
    assert units.ram_in_bytes("32m") == 32 << 20
    assert units.ram_in_bytes("1g") == 1 << 30
    with pytest.raises(InvalidArgument):
        units.ram_in_bytes("lots")


def test_time() -> None:
    assert rfc3339nano(1_700_000_000_123_000_000) == "2023-11-14T22:13:20.123Z"
    assert rfc3339nano(0) == "0001-01-01T00:00:00Z"
    assert parse_go_duration("1h30m") == 5400 * 10**9
    assert parse_go_duration("1.5s") == 1_500_000_000
    assert parse_api_timestamp("1700000000.5") == 1_700_000_000_500_000_000
    assert parse_api_timestamp("2023-11-14T22:13:20Z") == 1_700_000_000 * 10**9
    assert cli_timestamp("10m", reference_ns=1_000 * 10**9) == "400"
    assert human_duration(0.5) == "Less than a second"
    assert human_duration(75) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"


def test_filters() -> None:
    f = Filters.parse('{"dangling":["true"],"label":{"a=b":true}}', accepted={"dangling", "label"})
    assert f.bool_value("dangling") is True
    assert f.match_labels("label", {"a": "b"}) and not f.match_labels("label", {"a": "c"})
    with pytest.raises(InvalidArgument) as e:
        Filters.parse('{"nope":["x"]}', accepted={"dangling"})
    assert e.value.message == "invalid filter 'nope'"


def test_signals() -> None:
    assert signals.parse("KILL") == signals.parse("SIGKILL") == signals.parse("9") == 9
    assert signals.parse("sigterm") == 15
    with pytest.raises(InvalidArgument) as e:
        signals.parse("NOPE")
    assert e.value.message == "Invalid signal: NOPE"


PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n"
GROUP = "root:x:0:\nwww-data:x:33:\nbob:x:1000:\naudio:x:29:bob\nvideo:x:44:bob,alice\n"


def test_users_resolve_like_libcontainer() -> None:
    u = users.resolve("bob", PASSWD, GROUP)
    assert (u.uid, u.gid, u.home, sorted(u.sgids)) == (1000, 1000, "/home/bob", [29, 44])
    assert users.resolve("33:audio", PASSWD, GROUP).gid == 29
    assert users.resolve("4242", PASSWD, GROUP).uid == 4242
    assert users.resolve("", PASSWD, GROUP).uid == 0
    with pytest.raises(InvalidArgument) as e:
        users.resolve("nobody-here", PASSWD, GROUP)
    assert e.value.message == "unable to find user nobody-here: no matching entries in passwd file"


def test_secure_join_never_escapes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc/shadow", root / "etc" / "evil")
    os.symlink("../../../../..", root / "up")
    assert secure_join(str(root), "/etc/evil") == str(root / "etc" / "shadow")
    assert secure_join(str(root), "/up/etc/passwd") == str(root / "etc" / "passwd")
    assert secure_join(str(root), "../../x") == str(root / "x")
