import base64
import json

import pytest

from ballena.distribution.auth import TokenCache, credentials_from_header, credentials_from_json, parse_challenge
from ballena.errors import InvalidArgument


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_x_registry_auth_as_the_cli_sends_it() -> None:
    c = credentials_from_header(_b64({"username": "me", "password": "pw", "serveraddress": "r:5000"}))
    assert (c.username, c.password) == ("me", "pw") and not c.empty
    assert c.basic() == "Basic " + base64.b64encode(b"me:pw").decode()


@pytest.mark.parametrize("value", [None, "", _b64("a string"), _b64([1])])
def test_absent_or_odd_headers_are_anonymous(value: str | None) -> None:
    assert credentials_from_header(value).empty


def test_plain_json_is_accepted_and_garbage_refused() -> None:
    assert credentials_from_header('{"username":"u","password":"p"}').username == "u"
    with pytest.raises(InvalidArgument):
        credentials_from_header("%%%not-base64-nor-json")


def test_the_auth_field_carries_user_and_password() -> None:
    c = credentials_from_json({"auth": base64.b64encode(b"alice:secret").decode()})
    assert (c.username, c.password) == ("alice", "secret")


def test_tokens() -> None:
    c = credentials_from_json({"identitytoken": "idt"})
    assert not c.empty


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"', "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"}),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
    ],
)  # fmt: skip
def test_challenges(header: str, scheme: str, params: dict[str, str]) -> None:
    ch = parse_challenge(header)
    assert ch is not None and ch.scheme.lower() == scheme and all(ch.params[k] == v for k, v in params.items())


def test_no_challenge() -> None:
    assert parse_challenge("") is None


def test_token_cache_expires() -> None:
    cache = TokenCache()
    cache.put("r", "s", "repository:x:pull", "u", "tok", expires_in=60)
    assert cache.get("r", "s", "repository:x:pull", "u") == "tok"
    assert cache.get("r", "s", "repository:y:pull", "u") is None
    cache.put("r", "s", "scope", "u", "unspecified", expires_in=0)  # the spec's 60 s
    assert cache.get("r", "s", "scope", "u") == "unspecified"
    assert cache.get("r", "s", "scope", "someone else") is None
