"""Images through the docker CLI, docker-py and ballena (the foundation issue's must-shows)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon


def _rootfs_tar(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    busybox = next(p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p))
    subprocess.run(["cp", busybox, str(root / "bin/busybox")], check=True)
    os.symlink("busybox", root / "bin/sh")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    tar = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return tar


def test_import_then_images_inspect_history(daemon: Daemon, tmp_path: Path) -> None:
    tar = _rootfs_tar(tmp_path)
    res = daemon.docker("import", "--change", 'CMD ["sh"]', "-", "imported:latest", input=tar.read_bytes())
    assert res.returncode == 0, res.stderr
    image_id = res.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    listing = daemon.docker("images", "imported", check=True).stdout.splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listing[1].split()[:3] == ["imported", "latest", image_id[7:19]]
    info = json.loads(daemon.docker("image", "inspect", "imported", check=True).stdout)[0]
    assert info["Id"] == image_id
    assert info["RepoTags"] == ["imported:latest"]
    assert len(info["RootFS"]["Layers"]) == 1 and info["RootFS"]["Layers"][0].startswith("sha256:")
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Config"]["Hostname"] == "" and info["Config"]["Entrypoint"] is None  # the CLI's API 1.50
    # From API 1.52 (Engine 29) the schema's OCI image config: empty fields left out, no nulls.
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(daemon.sock))
        s.sendall(b"GET /v1.56/images/imported/json HTTP/1.0\r\nHost: x\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    config = json.loads(raw.split(b"\r\n\r\n", 1)[1])["Config"]
    assert config["Cmd"] == ["sh"] and "Hostname" not in config and None not in config.values()
    hist = daemon.docker("history", "imported", check=True).stdout
    assert "Imported from -" in hist
    daemon.docker("rmi", "imported", check=True)


def test_same_content_same_id(daemon: Daemon, tmp_path: Path) -> None:
    """The image ID is the digest of its config: loading the same archive twice changes nothing."""
    out = daemon.docker_bytes("save", "busybox")
    assert out.returncode == 0
    first = daemon.docker("load", input=out.stdout, check=True)
    again = daemon.docker("load", input=out.stdout, check=True)
    assert "Loaded image: busybox:latest" in first.stdout and "Loaded image: busybox:latest" in again.stdout
    ids = daemon.docker("images", "-q", "busybox", check=True).stdout.split()
    assert len(ids) == 1


def test_tag_shares_id_and_rmi_only_untags(daemon: Daemon) -> None:
    daemon.docker("tag", "busybox", "me/hola:1", check=True)
    daemon.docker("tag", "busybox", "me/hola:1.0", check=True)
    rows = daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout.splitlines()
    ids = {line.split()[0]: line.split()[1] for line in rows}
    assert ids["me/hola:1"] == ids["me/hola:1.0"] == ids["busybox:latest"]
    res = daemon.docker("rmi", "me/hola:1", check=True)
    assert res.stdout.strip() == "Untagged: me/hola:1"
    assert daemon.docker("image", "inspect", "me/hola:1.0").returncode == 0
    daemon.docker("rmi", "me/hola:1.0", check=True)


def test_save_and_load_several_tags(daemon: Daemon, tmp_path: Path) -> None:
    daemon.docker("tag", "busybox", "savecopy:latest", check=True)
    daemon.docker("tag", "busybox", "me/hola:1.0", check=True)
    image_id = daemon.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip()
    saved = daemon.docker_bytes("save", "savecopy", "me/hola:1.0")
    assert saved.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as tf:
        names = tf.getnames()
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert "index.json" in names and "oci-layout" in names
    assert sorted(manifest[0]["RepoTags"]) == ["me/hola:1.0", "savecopy:latest"]
    daemon.docker("rmi", "savecopy", "me/hola:1.0", check=True)
    assert daemon.docker("image", "inspect", "savecopy").returncode != 0
    loaded = daemon.docker("load", input=saved.stdout, check=True).stdout
    assert "Loaded image: savecopy:latest" in loaded and "Loaded image: me/hola:1.0" in loaded
    for name in ("savecopy", "me/hola:1.0"):
        assert daemon.docker("image", "inspect", "-f", "{{.Id}}", name, check=True).stdout.strip() == image_id
    daemon.docker("rmi", "savecopy", "me/hola:1.0", check=True)


def test_loads_the_pre_25_docker_save_layout(daemon: Daemon) -> None:
    """Archives from older Docker: <id>.json configs and <dir>/layer.tar, listed in manifest.json."""
    saved = daemon.docker_bytes("save", "busybox").stdout
    src = tarfile.open(fileobj=io.BytesIO(saved))  # noqa: SIM115 - read throughout the test
    manifest = json.load(src.extractfile("manifest.json"))  # type: ignore[arg-type]
    cfg_name = manifest[0]["Config"]
    cfg = src.extractfile(cfg_name).read()  # type: ignore[union-attr]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            dst.addfile(ti, io.BytesIO(data))

        hexid = cfg_name.rsplit("/", 1)[-1]
        add(f"{hexid}.json", cfg)
        layers = []
        for i, layer in enumerate(manifest[0]["Layers"]):
            add(f"layer{i}/layer.tar", src.extractfile(layer).read())  # type: ignore[union-attr]
            layers.append(f"layer{i}/layer.tar")
        add(
            "manifest.json",
            json.dumps([{"Config": f"{hexid}.json", "RepoTags": ["legacy:1"], "Layers": layers}]).encode(),
        )
    res = daemon.docker("load", input=out.getvalue(), check=True)
    assert "Loaded image: legacy:1" in res.stdout
    assert (
        daemon.docker("image", "inspect", "-f", "{{.Id}}", "legacy:1", check=True).stdout.strip() == "sha256:" + hexid
    )
    daemon.docker("rmi", "legacy:1", check=True)


def test_bad_input_gets_docker_errors(daemon: Daemon) -> None:
    res = daemon.docker("image", "inspect", "nope")
    assert res.returncode == 1 and "No such image: nope:latest" in res.stderr
    res = daemon.docker("rmi", "nope")
    assert res.returncode == 1 and res.stderr.strip() == "Error response from daemon: No such image: nope:latest"


def test_http_errors_have_docker_shape(daemon: Daemon) -> None:
    import http.client
    import socket

    def call(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        class C(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(daemon.sock))

        c = C("localhost")
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    status, headers, body = call("GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert headers["api-version"] and headers["ostype"] == "linux" and headers["server"].startswith("Ballena/")
    status, headers, body = call("HEAD", "/_ping")
    assert status == 200 and headers["api-version"]
    status, _, body = call("GET", "/v1.23/version")
    assert status == 400
    assert json.loads(body)["message"] == (
        "client version 1.23 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )
    status, _, body = call("GET", "/v1.44/images/nope/json")
    assert status == 404 and json.loads(body) == {"message": "No such image: nope:latest"}
    status, _, body = call("POST", "/images/create?fromSrc=-&repo=Bad")
    assert status == 400
    assert json.loads(body)["message"] == "invalid reference format: repository name (library/Bad) must be lowercase"
    status, _, body = call("GET", "/v1.44/nothing/here")
    assert status == 404 and json.loads(body) == {"message": "page not found"}
    status, _, body = call("GET", "/version")
    assert status == 200 and json.loads(body)["ApiVersion"]


def test_truncated_load_fails_and_changes_nothing(daemon: Daemon) -> None:
    before = daemon.docker("images", "-a", "-q", "--no-trunc").stdout
    saved = daemon.docker_bytes("save", "busybox").stdout
    res = daemon.docker("load", input=saved[: len(saved) // 2])
    assert res.returncode == 1
    assert "unexpected EOF" in res.stderr or "invalid tar" in res.stderr or "missing" in res.stderr
    assert daemon.docker("images", "-a", "-q", "--no-trunc").stdout == before


def test_kill9_during_load_leaves_a_consistent_store(fresh_daemon: Daemon, tmp_path: Path) -> None:
    d = fresh_daemon
    big = tmp_path / "big"
    (big / "data").mkdir(parents=True)
    (big / "data/blob").write_bytes(os.urandom(64 << 20))
    tar = subprocess.run(["tar", "-C", str(big), "-c", "."], capture_output=True, check=True).stdout
    d.docker("import", "-", "big:1", input=tar, check=True)
    archive = d.docker_bytes("save", "big:1").stdout
    d.docker("rmi", "big:1", check=True)
    proc = subprocess.Popen(
        ["docker", "load"], env=d.env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None
    proc.stdin.write(archive[: 40 << 20])
    proc.stdin.flush()
    time.sleep(0.3)
    d.kill9()
    proc.kill()
    proc.wait()
    d.start()
    assert "big" not in d.docker("images", check=True).stdout
    blobs = d.data_root / "content" / "blobs" / "sha256"
    import hashlib

    for blob in blobs.iterdir():  # no partial blob is visible under its digest
        h = hashlib.sha256(blob.read_bytes()).hexdigest()
        assert h == blob.name
    d.docker("load", input=archive, check=True)
    assert d.docker("run", "--rm", "big:1", "true").returncode == 127  # the image is there, with no "true"
    assert "big" in d.docker("images", check=True).stdout


def test_docker_py_images_and_events(daemon: Daemon, docker_client) -> None:  # type: ignore[no-untyped-def]
    client = docker_client
    v = client.version()
    assert v["ApiVersion"] and v["Os"] == "linux"
    assert client.info()["Driver"] == "overlay2"
    since = int(time.time()) - 1
    img = client.images.get("busybox")
    assert "busybox:latest" in img.tags
    img.tag("pyimg", "v1")
    assert any("pyimg:v1" in i.tags for i in client.images.list())
    client.images.remove("pyimg:v1")
    events = client.events(since=since, until=int(time.time()) + 1, decode=True, filters={"type": "image"})
    actions = [e["Action"] for e in events]
    assert "tag" in actions and "untag" in actions


def test_ballena_cli_images(daemon: Daemon) -> None:
    out = daemon.ballena("images", check=True).stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("busybox") for line in out[1:])
    assert daemon.ballena("images", "-q").stdout.split() == daemon.docker("images", "-q").stdout.split()
    fmt = daemon.ballena("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout
    assert "busybox:latest" in fmt.split()
    j = [json.loads(line) for line in daemon.ballena("images", "--format", "json", check=True).stdout.splitlines()]
    assert any(r["Repository"] == "busybox" for r in j)
    assert daemon.ballena("image", "inspect", "-f", "{{.Config.Cmd}}", "busybox", check=True).stdout.strip() == "[sh]"
    res = daemon.ballena("rmi", "nope")
    assert res.returncode == 1 and "No such image: nope:latest" in res.stderr
    res = daemon.ballena("tag", "busybox", "bad name")
    assert res.returncode == 1 and "invalid reference format" in res.stderr
    res = daemon.ballena("images", "--bogus")
    assert res.returncode == 125 and "unknown flag: --bogus" in res.stderr
    v = daemon.ballena("version", check=True).stdout
    assert "Server: Ballena Engine" in v and "API version" in v
    both = json.loads(daemon.ballena("version", "--format", "json", check=True).stdout)  # as docker's
    assert both["Client"]["ApiVersion"] == "1.56" and both["Server"]["ApiVersion"] == "1.56"
    assert json.loads(daemon.ballena("info", "--format", "json", check=True).stdout)["Images"] >= 1


def test_image_prune_removes_dangling(daemon: Daemon, tmp_path: Path) -> None:
    tar = _rootfs_tar(tmp_path)
    daemon.docker("import", "-", "dang:1", input=tar.read_bytes(), check=True)
    (tmp_path / "x").write_text("x")
    subprocess.run(["tar", "-C", str(tmp_path), "-rf", str(tar), "x"], check=True)
    daemon.docker("import", "-", "dang:1", input=tar.read_bytes(), check=True)  # the first becomes <none>
    dangling = daemon.docker("images", "-q", "-f", "dangling=true", check=True).stdout.split()
    assert len(dangling) >= 1
    res = daemon.docker("image", "prune", "-f", check=True)
    assert "Total reclaimed space:" in res.stdout and "deleted: sha256:" in res.stdout
    assert daemon.docker("images", "-q", "-f", "dangling=true", check=True).stdout.split() == []
    daemon.docker("rmi", "dang:1", check=True)


@pytest.mark.parametrize("name", ["busybox", "busybox:latest", "docker.io/library/busybox:latest"])
def test_reference_normalisation(daemon: Daemon, name: str) -> None:
    assert (
        daemon.docker("image", "inspect", "-f", "{{.RepoTags}}", name, check=True).stdout.strip() == "[busybox:latest]"
    )
