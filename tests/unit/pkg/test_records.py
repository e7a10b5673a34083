"""records: Go's encoding/json rules on frozen dataclasses, and Go's words when a field is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from ballena.pkg import records
from ballena.pkg.records import DecodeError, tag


@dataclass(frozen=True, slots=True, kw_only=True)
class Inner:
    __json_case__: ClassVar[str] = "pascal"
    cpu_shares: int = tag(default=0)
    memory_swappiness: int | None = tag(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    __json_case__: ClassVar[str] = "pascal"
    name: str = tag(default="")


@dataclass(frozen=True, slots=True, kw_only=True)
class Doc:
    __json_case__: ClassVar[str] = "pascal"
    __go_name__: ClassVar[str] = "Config"
    tty: bool = tag(default=False)
    cmd: tuple[str, ...] | None = tag(default=None, strslice=True)
    env: tuple[str, ...] | None = tag(default=None)
    labels: Mapping[str, str] | None = tag(default=None)
    ports: tuple[str, ...] | None = tag("ExposedPorts", default=None, keyset=True, omitempty=True)
    stop_signal: str = tag(default="", omitempty=True)
    resources: Inner = tag(factory=Inner, inline=True)
    policy: Policy = tag("RestartPolicy", factory=Policy)
    secret: str = tag("_Secret", default="", private=True)
    anything: Any = tag(default=None, omitempty=True)


def test_encode_names_fields_in_pascal_case_and_flattens_inline_records() -> None:
    doc = records.encode(Doc(tty=True, cmd=("sh",), resources=Inner(cpu_shares=512)))
    assert doc == {
        "Tty": True,
        "Cmd": ["sh"],
        "Env": None,
        "Labels": None,
        "CpuShares": 512,
        "MemorySwappiness": None,
        "RestartPolicy": {"Name": ""},
    }


def test_omitempty_keeps_what_is_set_and_keysets_are_objects() -> None:
    doc = records.encode(Doc(ports=("80/tcp", "53/udp"), stop_signal="SIGINT"))
    assert doc["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert doc["StopSignal"] == "SIGINT"


def test_private_fields_stay_ours() -> None:
    d = Doc(secret="x")
    assert "_Secret" not in records.encode(d)
    assert records.encode(d, private=True)["_Secret"] == "x"
    assert records.decode(Doc, {"_Secret": "y"}).secret == ""  # a client cannot set it
    assert records.decode(Doc, {"_Secret": "y"}, private=True).secret == "y"


def test_round_trip() -> None:
    d = Doc(
        tty=True,
        cmd=("a", "b"),
        env=("A=1",),
        labels={"k": "v"},
        ports=("80/tcp",),
        resources=Inner(memory_swappiness=0),
    )
    assert records.decode(Doc, records.encode(d)) == d


def test_decode_accepts_a_lone_string_where_docker_takes_a_strslice() -> None:
    assert records.decode(Doc, {"Cmd": "echo hi"}).cmd == ("echo hi",)


def test_null_and_absent_keep_the_default_unknown_keys_are_ignored() -> None:
    assert records.decode(Doc, {"Tty": None, "Whatever": 1}) == Doc()
    assert records.decode(Doc, None) == Doc()


def test_null_means_none_for_an_optional_field() -> None:
    assert records.decode(Doc, {"MemorySwappiness": None}).resources.memory_swappiness is None
    assert records.decode(Doc, {"MemorySwappiness": 0}).resources.memory_swappiness == 0


def test_integral_floats_are_integers_as_json_numbers_are() -> None:
    assert records.decode(Doc, {"CpuShares": 1024.0}).resources.cpu_shares == 1024


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Tty": "yes"}, "json: cannot unmarshal string into Go struct field Config.Tty of type bool"),
        ({"Tty": 1}, "json: cannot unmarshal number into Go struct field Config.Tty of type bool"),
        ({"CpuShares": 1.5}, "json: cannot unmarshal number 1.5 into Go struct field Config.CpuShares of type int64"),
        ({"CpuShares": "lots"}, "json: cannot unmarshal string into Go struct field Config.CpuShares of type int64"),
        ({"CpuShares": True}, "json: cannot unmarshal bool into Go struct field Config.CpuShares of type int64"),
        ({"Cmd": 5}, "json: cannot unmarshal number into Go struct field Config.Cmd of type []string"),
        ({"Cmd": [1]}, "json: cannot unmarshal number into Go struct field Config.Cmd of type string"),
        ({"Env": {"A": "B"}}, "json: cannot unmarshal object into Go struct field Config.Env of type []string"),
        (
            {"Labels": ["a"]},
            "json: cannot unmarshal array into Go struct field Config.Labels of type map[string]string",
        ),
        ({"Labels": {"a": 1}}, "json: cannot unmarshal number into Go struct field Config.Labels of type string"),
        (
            {"ExposedPorts": ["80"]},
            "json: cannot unmarshal array into Go struct field Config.ExposedPorts of type map[string]struct {}",
        ),
        (
            {"RestartPolicy": "always"},
            "json: cannot unmarshal string into Go struct field Config.RestartPolicy of type Policy",
        ),
        (
            {"RestartPolicy": {"Name": 3}},
            "json: cannot unmarshal number into Go struct field Policy.RestartPolicy.Name of type string",
        ),
    ],
)
def test_wrong_types_are_refused_in_gos_words(body: dict[str, Any], message: str) -> None:
    with pytest.raises(DecodeError) as e:
        records.decode(Doc, body)
    assert e.value.message == message


def test_a_document_that_is_not_an_object() -> None:
    with pytest.raises(DecodeError) as e:
        records.decode(Doc, [1, 2])
    assert e.value.message == "json: cannot unmarshal array into Go value of type Config"


def test_root_and_path_name_a_nested_document() -> None:
    with pytest.raises(DecodeError) as e:
        records.decode(Doc, {"Tty": "x"}, root="HostConfig", path="HostConfig")
    assert (
        e.value.message == "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Tty of type bool"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plain:
    name: str
    sizes: tuple[int, ...] = ()
    blob: bytes | None = None


def test_snake_case_records_keep_their_attribute_names_and_bytes_travel_as_base64() -> None:
    p = Plain(name="x", sizes=(1, 2), blob=b"\x00\xff")
    doc = records.encode(p)
    assert doc == {"name": "x", "sizes": [1, 2], "blob": "AP8="}
    assert records.decode(Plain, doc) == p


def test_a_missing_required_field_is_an_error() -> None:
    with pytest.raises(DecodeError):
        records.decode(Plain, {})
