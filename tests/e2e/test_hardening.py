"""What a careless or hostile client sends gets a clear 4xx in dockerd's words, never a 500 or
a wedged daemon; a tar never writes through a container's symlink."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from typing import Any

import pytest

from tests.conftest import Daemon


def _request(d: Daemon, method: str, path: str, body: bytes = b"", ctype: str = "application/json") -> tuple[int, Any]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(d.sock))
    s.settimeout(30)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nContent-Type: {ctype}\r\nConnection: close\r\n\r\n"
    s.sendall(head.encode() + body)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    header, _, payload = data.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload


BASE = {"Image": "busybox", "Cmd": ["true"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**BASE, "Env": {"A": "B"}}, "json: cannot unmarshal object into Go struct field ContainerConfigWrapper.Env of type []string"),
        ({**BASE, "Tty": "yes"}, "json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Tty of type bool"),
        ({**BASE, "HostConfig": {"CpuShares": 1.5}}, "json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.CpuShares of type int64"),
        ({"Image": 123}, "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Image of type string"),
        ({**BASE, "Labels": ["a"]}, "json: cannot unmarshal array into Go struct field ContainerConfigWrapper.Labels of type map[string]string"),
        ({**BASE, "HostConfig": {"RestartPolicy": "always"}}, "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.RestartPolicy of type RestartPolicy"),
        ({**BASE, "Hostname": "h", "HostConfig": {"UTSMode": "host"}}, "conflicting options: hostname and the UTS mode"),
    ],
)  # fmt: skip
def test_wrong_types_are_400s_naming_the_field(clean: Daemon, body: dict[str, Any], message: str) -> None:
    status, answer = _request(clean, "POST", "/v1.45/containers/create", json.dumps(body).encode())
    assert (status, answer) == (400, {"message": message})


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype"),
    [
        ("POST", "/v1.45/containers/create", b"[" * 100_000 + b"]" * 100_000, "application/json"),
        ("POST", "/v1.45/volumes/create", b"[1, 2]", "application/json"),
        ("POST", "/v1.45/networks/create", b'{"Name": "a/b"}', "application/json"),
        ("POST", "/v1.45/build", b"\x1f\x8b\x08\x00garbage" * 10, "application/x-tar"),
        ("POST", "/v1.45/build", bytes(range(256)) * 12, "application/x-tar"),
    ],
)
def test_malformed_bodies_are_400s(clean: Daemon, method: str, path: str, body: bytes, ctype: str) -> None:
    status, answer = _request(clean, method, path, body, ctype)
    assert status == 400 and isinstance(answer, dict) and answer["message"], answer


def test_a_huge_environment_fails_cleanly_and_wedges_nothing(clean: Daemon) -> None:
    d = clean
    body = {**BASE, "Env": ["X=" + "a" * 500_000]}
    status, answer = _request(d, "POST", "/v1.45/containers/create", json.dumps(body).encode())
    assert status == 201
    status, start = _request(d, "POST", f"/v1.45/containers/{answer['Id']}/start")
    assert status == 400 and "argument list too long" in start["message"]
    assert d.docker("run", "--rm", "busybox", "echo", "still-ok", check=True).stdout.strip() == "still-ok"
    d.docker("rm", "-f", answer["Id"], check=True)


def test_put_archive_replaces_a_symlink_instead_of_writing_through_it(clean: Daemon) -> None:
    import docker

    d = clean
    client = docker.DockerClient(base_url=d.host, version="auto")
    try:
        ct = client.containers.run(
            "busybox", ["sh", "-c", "mkdir /target; echo original > /target/real; ln -s /target/real /link; sleep 60"],
            detach=True, name="cplink",
        )  # fmt: skip
        deadline = 50
        while ct.exec_run(["test", "-L", "/link"]).exit_code != 0 and deadline:
            deadline -= 1
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            ti = tarfile.TarInfo("link")
            ti.size = 9
            tf.addfile(ti, io.BytesIO(b"replaced\n"))
        assert ct.put_archive("/", buf.getvalue())
        assert ct.exec_run(["cat", "/target/real"]).output == b"original\n"
        assert ct.exec_run(["cat", "/link"]).output == b"replaced\n"
        assert ct.exec_run(["test", "-L", "/link"]).exit_code == 1
        status, _ = _request(
            d, "PUT", "/v1.45/containers/cplink/archive?path=/a%00b", buf.getvalue(), "application/x-tar"
        )
        assert status == 400
    finally:
        for c in client.containers.list(all=True, filters={"name": "cplink"}):
            c.remove(force=True)
        client.close()
