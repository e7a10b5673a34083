"""Instructions that change an image's configuration and make no layer: CMD, ENTRYPOINT, ENV,
EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR, HEALTHCHECK, SHELL, MAINTAINER.

They are shared by the builder and by ``import``/``commit --change``. ``RunConfig`` is the
``config`` object of an image config as Docker writes it (PascalCase keys).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ballena.builder.parser import Node, parse_line
from ballena.builder.shell import Lexer
from ballena.errors import InvalidArgument
from ballena.pkg import signals
from ballena.pkg.timeutil import parse_go_duration

RunConfig = dict[str, Any]

DEFAULT_SHELL = ["/bin/sh", "-c"]
COMMIT_CHANGE_COMMANDS = (
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)


def env_map(config: RunConfig) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in config.get("Env") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def set_env(config: RunConfig, key: str, value: str) -> None:
    env = list(config.get("Env") or [])
    for i, item in enumerate(env):
        if item.partition("=")[0] == key:
            env[i] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    config["Env"] = env


class MetadataState:
    """What one stage's metadata instructions have done so far."""

    def __init__(self, config: RunConfig, *, escape: str = "\\", build_args: dict[str, str] | None = None) -> None:
        self.config = config
        self.lexer = Lexer(escape)
        self.cmd_set = False
        self.build_args = build_args or {}

    def expansion_env(self) -> dict[str, str]:
        env = dict(self.build_args)
        env.update(env_map(self.config))
        return env

    def expand(self, word: str) -> str:
        return self.lexer.process_word(word, self.expansion_env())

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def apply(self, node: Node) -> None:
        """Apply one metadata instruction. Raises InvalidArgument."""
        fn = _HANDLERS.get(node.cmd)
        if fn is None:
            raise InvalidArgument(f"{node.value.upper()} is not a metadata instruction")
        fn(self, node)


def _cmd(st: MetadataState, node: Node) -> None:
    if node.json:
        st.config["Cmd"] = list(node.args)
    elif node.args:
        st.config["Cmd"] = st.shell() + [node.args[0]]
    else:
        st.config["Cmd"] = None
    st.cmd_set = True


def _entrypoint(st: MetadataState, node: Node) -> None:
    if node.json:
        st.config["Entrypoint"] = list(node.args)
    elif node.args:
        st.config["Entrypoint"] = st.shell() + [node.args[0]]
    else:
        st.config["Entrypoint"] = None
    # Docker: a new ENTRYPOINT drops an inherited CMD unless this stage set one.
    if not st.cmd_set:
        st.config["Cmd"] = None


def _pairs(node: Node) -> list[tuple[str, str]]:
    args = node.args
    if len(args) % 3 != 0:
        raise InvalidArgument(f"{node.value.upper()}: bad arguments")
    return [(args[i], args[i + 1]) for i in range(0, len(args), 3)]


def _env(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("ENV requires at least one argument")
    for key, value in _pairs(node):
        k = st.expand(key)
        if not k:
            raise InvalidArgument("ENV names can not be blank")
        set_env(st.config, k, st.expand(value))


def _label(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("LABEL requires at least one argument")
    labels = dict(st.config.get("Labels") or {})
    for key, value in _pairs(node):
        k = st.expand(key)
        if not k:
            raise InvalidArgument("LABEL names can not be blank")
        labels[k] = st.expand(value)
    st.config["Labels"] = labels


def _maintainer(st: MetadataState, node: Node) -> None:
    st.maintainer = node.args[0] if node.args else ""  # type: ignore[attr-defined]


_PORT_RE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


def parse_port_spec(spec: str) -> list[str]:
    """``80``, ``80/udp``, ``8000-8002`` as ExposedPorts keys. Raises InvalidArgument."""
    m = _PORT_RE.match(spec.lower())
    if m is None:
        raise InvalidArgument(f"invalid containerPort: {spec}")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else start
    proto = m.group(3) or "tcp"
    if end < start or end > 65535:
        raise InvalidArgument(f"invalid range specified for container port: {spec}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def _expose(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("EXPOSE requires at least one argument")
    ports = dict(st.config.get("ExposedPorts") or {})
    for raw in node.args:
        for word in st.lexer.process_words(raw, st.expansion_env()):
            for key in parse_port_spec(word):
                ports[key] = {}
    st.config["ExposedPorts"] = ports


def _onbuild(st: MetadataState, node: Node) -> None:
    if node.sub is None:
        raise InvalidArgument("ONBUILD requires at least one argument")
    sub = node.sub.cmd
    if sub == "onbuild":
        raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if sub in ("maintainer", "from"):
        raise InvalidArgument(f"{sub.upper()} isn't allowed as an ONBUILD trigger")
    original = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    st.config["OnBuild"] = [*(st.config.get("OnBuild") or []), original]


def _stopsignal(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("STOPSIGNAL requires exactly one argument")
    value = st.expand(node.args[0])
    signals.parse(value)
    st.config["StopSignal"] = value


def _user(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("USER requires exactly one argument")
    st.config["User"] = st.expand(node.args[0])


def _volume(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("VOLUME requires at least one argument")
    vols = dict(st.config.get("Volumes") or {})
    for raw in node.args:
        v = st.expand(raw).strip()
        if not v:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        vols[v] = {}
    st.config["Volumes"] = vols


def _workdir(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("WORKDIR requires exactly one argument")
    new = st.expand(node.args[0])
    current = st.config.get("WorkingDir") or "/"
    st.config["WorkingDir"] = posixpath.normpath(posixpath.join(current, new)) if new else current


def _shell(st: MetadataState, node: Node) -> None:
    if not node.json:
        raise InvalidArgument("SHELL requires the arguments to be in JSON form")
    if not node.args:
        raise InvalidArgument("SHELL requires at least one argument")
    st.config["Shell"] = list(node.args)


_HEALTH_FLAGS = ("interval", "timeout", "start-period", "start-interval", "retries")


def _healthcheck(st: MetadataState, node: Node) -> None:
    if not node.args:
        raise InvalidArgument("HEALTHCHECK requires an argument")
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) != 1:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        st.config["Healthcheck"] = {"Test": ["NONE"]}
        return
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    rest = node.args[1:]
    if not rest:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if node.json else ["CMD-SHELL", rest[0]]
    hc: dict[str, Any] = {"Test": test}
    for flag in node.flags:
        name, _, value = flag.lstrip("-").partition("=")
        if name not in _HEALTH_FLAGS:
            raise InvalidArgument(f"Unknown flag: {name}")
        if name == "retries":
            try:
                hc["Retries"] = int(value)
            except ValueError:
                raise InvalidArgument(f"invalid value for retries: {value}") from None
            if hc["Retries"] < 0:
                raise InvalidArgument("--retries cannot be negative")
            continue
        ns = parse_go_duration(value) if value else 0
        if ns != 0 and ns < 1_000_000:
            raise InvalidArgument(f'Interval "{name}" cannot be less than 1ms')
        key = {
            "interval": "Interval",
            "timeout": "Timeout",
            "start-period": "StartPeriod",
            "start-interval": "StartInterval",
        }[name]
        hc[key] = ns
    st.config["Healthcheck"] = hc


_HANDLERS = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "label": _label,
    "expose": _expose,
    "onbuild": _onbuild,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
    "shell": _shell,
    "healthcheck": _healthcheck,
    "maintainer": _maintainer,
}


def apply_changes(config: RunConfig, changes: list[str]) -> RunConfig:
    """``docker commit/import --change`` lines applied to a copy of ``config``.

    Raises InvalidArgument("X is not a valid change command") as Docker does.
    """
    out = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    st = MetadataState(out)
    for change in changes:
        if not change.strip():
            continue
        node = parse_line(change)
        if node.cmd not in COMMIT_CHANGE_COMMANDS:
            raise InvalidArgument(f"{node.cmd} is not a valid change command")
        st.apply(node)
    return out
