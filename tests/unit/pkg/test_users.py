import pytest

from ballena.errors import InvalidArgument
from ballena.pkg import users

PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n"
GROUP = "root:x:0:\nwww-data:x:33:\nbob:x:1000:\naudio:x:29:bob\nvideo:x:44:bob,alice\n"


def test_users_resolve_like_libcontainer() -> None:
    u = users.resolve("bob", PASSWD, GROUP)
    assert (u.uid, u.gid, u.home, sorted(u.sgids)) == (1000, 1000, "/home/bob", [29, 44])


@pytest.mark.parametrize(
    ("spec", "uid", "gid"),
    [("33:audio", 33, 29), ("4242", 4242, 4242 if False else 0), ("", 0, 0), ("root", 0, 0), ("www-data", 33, 33)],
)
def test_specs(spec: str, uid: int, gid: int) -> None:
    u = users.resolve(spec, PASSWD, GROUP)
    assert u.uid == uid and u.gid == gid


def test_missing_user_in_libcontainers_words() -> None:
    with pytest.raises(InvalidArgument) as e:
        users.resolve("nobody-here", PASSWD, GROUP)
    assert e.value.message == "unable to find user nobody-here: no matching entries in passwd file"


def test_no_passwd_file_still_takes_numbers() -> None:
    assert users.resolve("7:8", None, None).uid == 7


def test_additional_groups() -> None:
    u = users.resolve("bob", PASSWD, GROUP, additional=("www-data", "12"))
    assert {33, 12} <= set(u.sgids)
