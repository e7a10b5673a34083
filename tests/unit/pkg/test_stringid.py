import re

from ballena.pkg.stringid import generate_id, truncate_id


def test_ids_are_64_hex_and_not_all_digits() -> None:
    seen = set()
    for _ in range(200):
        i = generate_id()
        assert re.fullmatch(r"[0-9a-f]{64}", i) and not i[:12].isdigit()
        seen.add(i)
    assert len(seen) == 200


def test_truncate() -> None:
    assert truncate_id("sha256:" + "a" * 64) == "a" * 12
    assert truncate_id("abc") == "abc"
