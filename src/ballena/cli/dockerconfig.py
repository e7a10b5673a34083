"""``~/.docker/config.json`` as the docker CLI reads and writes it, so that ``ballena login`` and
``docker login`` share their logins: ``auths`` (base64 ``user:password``), and credential
helpers (``credsStore`` for all registries, ``credHelpers`` per registry) spoken to over
``docker-credential-<name> get|store|erase`` with JSON on stdin and stdout.
"""

from __future__ import annotations

import base64
import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DOCKER_IO_KEY = "https://index.docker.io/v1/"


def config_dir() -> str:
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def load() -> dict[str, Any]:
    try:
        with open(config_path(), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise ValueError(f"loading config file: {config_path()}: {e}") from None
    return data if isinstance(data, dict) else {}


def detach_keys(flag: str | None) -> str | None:
    """The detach keys to send: the flag's, else the config file's ``detachKeys`` (as the
    docker CLI does), else the daemon's default."""
    if flag:
        return flag
    try:
        value = load().get("detachKeys")
    except ValueError:
        return None
    return value if isinstance(value, str) and value else None


def save(data: dict[str, Any]) -> None:
    """Write atomically, keeping the file private (it may hold passwords)."""
    os.makedirs(config_dir(), mode=0o700, exist_ok=True)
    path = config_path()
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def server_key(registry: str) -> str:
    """The key Docker files a registry's login under."""
    host = registry.strip().rstrip("/")
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    host = host.split("/", 1)[0]
    if host in ("", "docker.io", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_IO_KEY
    return host


def _helper(data: dict[str, Any], key: str) -> str | None:
    helpers = data.get("credHelpers") or {}
    host = key if key != DOCKER_IO_KEY else "docker.io"
    return helpers.get(host) or helpers.get(key) or data.get("credsStore") or None


def _run_helper(name: str, action: str, payload: str) -> str:
    import subprocess  # only for credential helpers: off the start path of every command

    try:
        res = subprocess.run(
            [f"docker-credential-{name}", action], input=payload.encode(), capture_output=True, timeout=30
        )
    except FileNotFoundError:
        raise OSError(f"docker-credential-{name}: executable file not found in $PATH") from None
    if res.returncode != 0:
        message = (res.stdout or res.stderr).decode(errors="replace").strip()
        raise OSError(f"error from docker-credential-{name} {action}: {message}")
    return res.stdout.decode()


def get_credentials(registry: str) -> dict[str, str]:
    """The AuthConfig for ``registry`` (empty if there is no login)."""
    key = server_key(registry)
    data = load()
    helper = _helper(data, key)
    if helper:
        try:
            answer = json.loads(_run_helper(helper, "get", key) or "{}")
        except (OSError, ValueError):
            return {}
        user, secret = answer.get("Username", ""), answer.get("Secret", "")
        if user == "<token>":
            return {"identitytoken": secret, "serveraddress": key}
        return {"username": user, "password": secret, "serveraddress": key}
    entry = (data.get("auths") or {}).get(key) or {}
    out: dict[str, str] = {"serveraddress": key}
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except ValueError:
            return {}
        out.update(username=user, password=password)
    if entry.get("identitytoken"):
        out["identitytoken"] = entry["identitytoken"]
    return out if len(out) > 1 else {}


def store_credentials(registry: str, username: str, password: str, identity_token: str = "") -> None:
    key = server_key(registry)
    data = load()
    helper = _helper(data, key)
    if helper:
        secret = identity_token or password
        user = "<token>" if identity_token else username
        _run_helper(helper, "store", json.dumps({"ServerURL": key, "Username": user, "Secret": secret}))
        data.setdefault("auths", {})[key] = {}
    else:
        entry: dict[str, str] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
        if identity_token:
            entry = {"identitytoken": identity_token}
        data.setdefault("auths", {})[key] = entry
    save(data)


def erase_credentials(registry: str) -> bool:
    """Forget the login; False when there was none."""
    key = server_key(registry)
    data = load()
    auths = data.get("auths") or {}
    helper = _helper(data, key)
    found = key in auths
    if helper:
        try:
            _run_helper(helper, "erase", key)
            found = True
        except OSError:
            pass
    if key in auths:
        del auths[key]
        save(data)
    return found


def encode_auth_header(auth: dict[str, str]) -> str:
    """X-Registry-Auth as the docker CLI sends it: base64url of the AuthConfig JSON."""
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
