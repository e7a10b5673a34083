import hashlib

import pytest

from ballena.pkg import digest


def test_chain_ids_follow_the_oci_definition() -> None:
    a, b, c = ("sha256:" + ch * 64 for ch in "123")
    chain = digest.chain_ids([a, b, c])
    assert chain[0] == a
    assert chain[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain[2] == digest.chain_id(chain[1], c)
    assert digest.chain_ids([]) == []


def test_chain_id_of_a_bottom_layer_is_its_diff_id() -> None:
    assert digest.chain_id(None, "sha256:" + "a" * 64) == "sha256:" + "a" * 64


def test_of_bytes() -> None:
    assert digest.of_bytes(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("short_of", ["sha256:" + "f" * 64, "f" * 64])
def test_short(short_of: str) -> None:
    assert digest.short(short_of) == "f" * 12
