"""Pull, push, login and friends against registries the tests start on 127.0.0.1 (Debian's
docker-registry, plain, with htpasswd, with TLS), through the docker CLI, docker-py, skopeo and
ballena. Nothing here talks to any other address."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, destroy_daemon, make_daemon
from tests.registries import FakeRegistry, Registry, SlowProxy, reply, sha256, start_registry


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = start_registry(tmp_path / "registry")
    yield r
    r.stop()


def _untag(d: Daemon, *refs: str) -> None:
    d.docker("rmi", *refs)


def test_push_pull_roundtrip_with_the_docker_cli(clean: Daemon, registry: Registry) -> None:
    d = clean
    ref = f"{registry.host}/bb:1"
    d.docker("tag", "busybox", ref, check=True)
    image_id = d.docker("image", "inspect", "-f", "{{.Id}}", ref, check=True).stdout.strip()
    first = d.docker("push", ref, check=True).stdout
    assert f"The push refers to repository [{registry.host}/bb]" in first
    digest = next(line.split()[2] for line in first.splitlines() if line.startswith("1: digest: sha256:"))
    assert registry.catalog_tags("bb") == ["1"]
    again = d.docker("push", ref, check=True).stdout
    assert "Layer already exists" in again and f"1: digest: {digest}" in again

    _untag(d, ref)
    pulled = d.docker("pull", ref, check=True).stdout
    assert f"Digest: {digest}" in pulled and f"Status: Downloaded newer image for {ref}" in pulled
    again = d.docker("pull", ref, check=True).stdout
    assert f"Status: Image is up to date for {ref}" in again
    assert d.docker("image", "inspect", "-f", "{{.Id}}", ref, check=True).stdout.strip() == image_id
    repo_digests = d.docker("image", "inspect", "-f", "{{json .RepoDigests}}", ref, check=True).stdout
    assert f"{registry.host}/bb@{digest}" in json.loads(repo_digests)

    by_digest = d.docker("pull", f"{registry.host}/bb@{digest}", check=True).stdout
    assert f"Digest: {digest}" in by_digest
    missing = d.docker("pull", f"{registry.host}/bb:nope")
    assert missing.returncode == 1
    assert f"manifest for {registry.host}/bb:nope not found: manifest unknown" in missing.stderr
    _untag(d, ref, f"{registry.host}/bb@{digest}")


def test_pull_downloads_into_a_fresh_store_and_runs(fresh_daemon: Daemon, daemon: Daemon, registry: Registry) -> None:
    ref = f"{registry.host}/fresh:1"
    daemon.docker("tag", "busybox", ref, check=True)
    daemon.docker("push", ref, check=True)
    _untag(daemon, ref)
    fresh_daemon.docker("rmi", "-f", "busybox")
    out = fresh_daemon.docker("pull", ref, check=True).stdout
    assert "Pull complete" in out and f"Status: Downloaded newer image for {ref}" in out
    assert out.rstrip().endswith(ref)
    assert fresh_daemon.docker("run", "--rm", ref, "echo", "pulled", check=True).stdout == "pulled\n"
    assert (
        fresh_daemon.docker("image", "inspect", "-f", "{{.Id}}", ref, check=True).stdout.strip()
        == daemon.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip()
    )


def test_htpasswd_login_push_logout(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    reg = start_registry(tmp_path / "auth-registry", users={"alice": "s3cret"})
    try:
        ref = f"{reg.host}/private:1"
        d.docker("tag", "busybox", ref, check=True)
        res = d.docker("push", ref)
        assert res.returncode == 1 and "no basic auth credentials" in res.stderr
        res = d.docker("login", reg.host, "-u", "alice", "-p", "wrong")
        assert res.returncode == 1
        assert f"login attempt to http://{reg.host}/v2/ failed with status: 401 Unauthorized" in res.stderr
        res = d.docker("login", reg.host, "-u", "alice", "--password-stdin", input="s3cret\n", check=True)
        assert "Login Succeeded" in res.stdout
        config = json.loads((Path(d.env["DOCKER_CONFIG"]) / "config.json").read_text())
        assert reg.host in config["auths"]
        d.docker("push", ref, check=True)
        assert reg.catalog_tags("private", auth=("alice", "s3cret")) == ["1"]
        res = d.docker("logout", reg.host, check=True)
        assert f"Removing login credentials for {reg.host}" in res.stdout
        config = json.loads((Path(d.env["DOCKER_CONFIG"]) / "config.json").read_text())
        assert reg.host not in config.get("auths", {})
        _untag(d, ref)
        res = d.docker("pull", ref)
        assert res.returncode == 1 and "no basic auth credentials" in res.stderr
    finally:
        reg.stop()


def test_tls_with_and_without_the_ca(tmp_path: Path) -> None:
    reg = start_registry(tmp_path / "tls-registry", tls=True)
    certs = tmp_path / "certs.d"
    d = make_daemon(["--registry-certs-dir", str(certs)])
    try:
        d.ballena("bootstrap", "busybox", "-q", check=True)
        ref = f"{reg.host}/secure:1"
        d.docker("tag", "busybox", ref, check=True)
        res = d.docker("push", ref)
        assert res.returncode == 1
        assert "x509: certificate signed by unknown authority" in res.stderr + res.stdout
        (certs / reg.host).mkdir(parents=True)
        assert reg.ca is not None
        shutil.copy(reg.ca, certs / reg.host / "ca.crt")
        d.docker("push", ref, check=True)
        assert reg.catalog_tags("secure") == ["1"]
        _untag(d, ref)
        d.docker("rmi", "-f", "busybox")
        assert "Pull complete" in d.docker("pull", ref, check=True).stdout
    finally:
        leaks = destroy_daemon(d)
        reg.stop()
    assert not leaks, leaks


def test_skopeo_interoperates(clean: Daemon, registry: Registry, tmp_path: Path) -> None:
    d = clean
    ref = f"{registry.host}/interop:1"
    d.docker("tag", "busybox", ref, check=True)
    d.docker("push", ref, check=True)
    oci = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{oci}:x"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{oci}:x", f"docker://{registry.host}/by-skopeo:2"],
        check=True,
        capture_output=True,
    )
    other = f"{registry.host}/by-skopeo:2"
    assert "Status: Downloaded newer image" in d.docker("pull", other, check=True).stdout
    assert d.docker("run", "--rm", other, "echo", "from skopeo", check=True).stdout == "from skopeo\n"
    _untag(d, ref, other)


def test_ballena_cli_login_push_pull_tags_search(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    reg = start_registry(tmp_path / "cli-registry", users={"bob": "pw"})
    try:
        res = d.ballena("login", reg.host, "-u", "bob", "--password-stdin", input="pw")
        assert res.returncode == 0 and "Login Succeeded" in res.stdout, res.stderr
        for tag in ("1", "2"):
            d.docker("tag", "busybox", f"{reg.host}/cli:{tag}", check=True)
        res = d.ballena("push", "-a", f"{reg.host}/cli")
        assert res.returncode == 0, res.stderr
        assert "1: digest:" in res.stdout and "2: digest:" in res.stdout
        assert d.ballena("image", "tags", f"{reg.host}/cli", check=True).stdout.split() == ["TAG", "1", "2"]
        assert f"{reg.host}/cli" in d.ballena("search", f"{reg.host}/cl", check=True).stdout
        _untag(d, f"{reg.host}/cli:1", f"{reg.host}/cli:2")
        res = d.ballena("pull", "-q", f"{reg.host}/cli:2", check=True)
        assert res.stdout.strip() == f"{reg.host}/cli:2"
        assert d.ballena("logout", reg.host, check=True).stdout.strip() == f"Removing login credentials for {reg.host}"
        _untag(d, f"{reg.host}/cli:2")
    finally:
        reg.stop()


def test_docker_py_push_and_pull(clean: Daemon, registry: Registry, docker_client: object) -> None:
    import docker

    assert isinstance(docker_client, docker.DockerClient)
    image = docker_client.images.get("busybox")
    image.tag(f"{registry.host}/py", "3")
    lines = list(docker_client.images.push(f"{registry.host}/py", tag="3", stream=True, decode=True))
    assert any("aux" in line and line["aux"].get("Tag") == "3" for line in lines)
    docker_client.images.remove(f"{registry.host}/py:3")
    pulled = docker_client.images.pull(f"{registry.host}/py", tag="3")
    assert pulled.id == image.id


def _image_layer(contents: bytes) -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("file.txt")
        info.size = len(contents)
        tf.addfile(info, io.BytesIO(contents))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=0, mtime=0), sha256(raw)


def test_a_blob_that_does_not_match_its_digest_is_rejected(clean: Daemon) -> None:
    d = clean
    layer, diff_id = _image_layer(b"the real layer\n")
    evil, _ = _image_layer(b"something else\n")
    # The same length (stored, not deflated): a shorter body is "unexpected EOF", a truthful
    # answer but not the one this test is about.
    assert len(evil) == len(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         "config": {}}).encode()  # fmt: skip
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": sha256(config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                        "digest": sha256(layer)}],
        }
    ).encode()  # fmt: skip
    fake = FakeRegistry(
        {
            "/v2/evil/manifests/": reply(200, manifest, "application/vnd.docker.distribution.manifest.v2+json"),
            f"/v2/evil/blobs/{sha256(config)}": reply(200, config, "application/octet-stream"),
            f"/v2/evil/blobs/{sha256(layer)}": reply(200, evil, "application/octet-stream"),
            "/v2/": reply(200, b"{}"),
        }
    )
    try:
        res = d.docker("pull", f"{fake.host}/evil:1")
        assert res.returncode == 1
        assert f"filesystem layer verification failed for digest {sha256(layer)}" in res.stdout + res.stderr
        assert d.docker("image", "inspect", f"{fake.host}/evil:1").returncode == 1
        blobs = d.data_root / "content" / "blobs" / "sha256"
        for blob in blobs.iterdir():  # nothing unverified became visible
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    finally:
        fake.stop()


def test_rate_limit_and_unreachable_registry_say_what_to_do(clean: Daemon) -> None:
    d = clean
    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}'
    fake = FakeRegistry(
        {
            "/v2/limited/manifests/": reply(
                429, body, **{"RateLimit_Limit": "100;w=21600", "RateLimit_Remaining": "0"}
            ),
            "/v2/": reply(200, b"{}"),
        }
    )
    try:
        res = d.docker("pull", f"{fake.host}/limited:1")
        assert res.returncode == 1
        assert "pull rate limit" in res.stderr and "login" in res.stderr and "limit 100" in res.stderr
    finally:
        fake.stop()
    started = time.monotonic()
    res = d.docker("pull", "127.0.0.1:9/nothing-listens-here:1", timeout=60)
    assert res.returncode == 1 and "connection refused" in res.stderr
    assert time.monotonic() - started < 10


def test_pull_survives_kill9_in_the_middle(
    fresh_daemon: Daemon, daemon: Daemon, registry: Registry, tmp_path: Path
) -> None:
    # A 40 MiB layer of random bytes, served through a proxy slow enough to stop halfway.
    src = tmp_path / "big"
    src.mkdir()
    (src / "random.bin").write_bytes(os.urandom(40 << 20))
    tar = tmp_path / "big.tar"
    subprocess.run(["tar", "-C", str(src), "-cf", str(tar), "random.bin"], check=True)
    ref = f"{registry.host}/big:1"
    daemon.docker("import", str(tar), ref, check=True)
    daemon.docker("push", ref, check=True)
    daemon.docker("rmi", ref, check=True)
    proxy = SlowProxy(registry.host, rate=20 << 20)
    slow_ref = f"{proxy.host}/big:1"
    ingest = fresh_daemon.data_root / "content" / "ingest"
    try:
        pull = subprocess.Popen(["docker", "pull", slow_ref], env=fresh_daemon.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        partial = 0
        while time.monotonic() < deadline and partial < (8 << 20):
            partial = sum(p.stat().st_size for p in ingest.glob("pull-*")) if ingest.exists() else 0
            time.sleep(0.02)
        assert partial >= 8 << 20, "the pull never got going"
        fresh_daemon.kill9()
        pull.wait(timeout=30)
        blobs = fresh_daemon.data_root / "content" / "blobs" / "sha256"
        for blob in blobs.iterdir():
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
        fresh_daemon.start()
        assert fresh_daemon.docker("image", "inspect", slow_ref).returncode == 1  # nothing half-made
        out = fresh_daemon.docker("pull", slow_ref, check=True, timeout=120).stdout
        assert "Pull complete" in out
        size = fresh_daemon.docker("image", "inspect", "-f", "{{.Size}}", slow_ref, check=True).stdout.strip()
        assert int(size) == 40 << 20
    finally:
        proxy.stop()
