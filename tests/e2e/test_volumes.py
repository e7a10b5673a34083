"""Volumes, bind mounts and filesystem operations through the docker CLI."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from tests.conftest import Daemon


def test_named_volume_outlives_its_container(clean: Daemon) -> None:
    d = clean
    d.docker("volume", "create", "keep", check=True)
    d.docker("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo persisted > /data/f", check=True)
    assert d.docker("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f", check=True).stdout == "persisted\n"
    mountpoint = d.docker("volume", "inspect", "-f", "{{.Mountpoint}}", "keep", check=True).stdout.strip()
    assert Path(mountpoint, "f").read_text() == "persisted\n"
    res = d.docker("run", "-d", "--name", "holder", "-v", "keep:/data", "busybox", "sleep", "30", check=True)
    assert res.returncode == 0
    res = d.docker("volume", "rm", "keep")
    assert res.returncode == 1 and "volume is in use" in res.stderr
    d.docker("rm", "-f", "holder", check=True)
    d.docker("volume", "rm", "keep", check=True)
    res = d.docker("volume", "inspect", "keep")
    assert res.returncode == 1 and "no such volume" in res.stderr


def test_image_volume_is_filled_and_anonymous(clean: Daemon) -> None:
    d = clean
    d.docker("run", "--name", "mk", "busybox", "sh", "-c", "mkdir -p /data && echo seed > /data/seed.txt", check=True)
    d.docker("commit", "--change", 'VOLUME ["/data"]', "mk", "volimg:1", check=True)
    d.docker("volume", "create", "fresh", check=True)
    assert (
        d.docker("run", "--rm", "-v", "fresh:/data", "volimg:1", "cat", "/data/seed.txt", check=True).stdout == "seed\n"
    )
    d.docker("run", "--name", "anon", "volimg:1", "true", check=True)
    mounts = json.loads(d.docker("inspect", "-f", "{{json .Mounts}}", "anon", check=True).stdout)
    assert len(mounts) == 1 and mounts[0]["Type"] == "volume" and mounts[0]["Destination"] == "/data"
    anon_name = mounts[0]["Name"]
    d.docker("rm", "-v", "anon", check=True)
    assert anon_name not in d.docker("volume", "ls", "-q", check=True).stdout
    d.docker("volume", "rm", "fresh", check=True)
    d.docker("rmi", "volimg:1", check=True)


def test_bind_mounts_and_tmpfs(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hola\n")
    res = d.docker(
        "run", "--rm", "-v", f"{site}:/www:ro", "busybox", "sh", "-c", "cat /www/index.html; echo x > /www/y"
    )
    assert res.stdout == "hola\n" and res.returncode != 0 and "Read-only file system" in res.stderr
    d.docker("run", "--rm", "-v", f"{site}:/www", "busybox", "sh", "-c", "echo written > /www/new.txt", check=True)
    assert (site / "new.txt").read_text() == "written\n"
    missing = tmp_path / "made-by-v"
    d.docker("run", "--rm", "-v", f"{missing}:/x", "busybox", "true", check=True)
    assert missing.is_dir()
    res = d.docker("run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/x", "busybox", "true")
    assert res.returncode == 125 and "does not exist" in res.stderr
    res = d.docker("run", "--rm", "--mount", "type=tmpfs,dst=/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts")
    assert res.stdout.startswith("tmpfs /t tmpfs")


def test_cp_both_ways(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    d.docker("run", "-d", "--name", "cpc", "busybox", "sleep", "300", check=True)
    (tmp_path / "in.txt").write_text("in\n")
    d.docker("cp", str(tmp_path / "in.txt"), "cpc:/tmp/", check=True)
    assert d.docker("exec", "cpc", "cat", "/tmp/in.txt", check=True).stdout == "in\n"
    out = d.docker_bytes("cp", "cpc:/etc/hostname", "-")
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
        assert tf.getnames() == ["hostname"]
    d.docker("cp", "cpc:/tmp/in.txt", str(tmp_path / "out.txt"), check=True)
    assert (tmp_path / "out.txt").read_text() == "in\n"
    # The helper reports a missing path and exits at once, maybe before the daemon has handed it
    # the client's connection: the report must win every time (it lost 2 times in 120 once).
    for _ in range(20):
        res = d.docker("cp", "cpc:/nope", str(tmp_path / "x"))
        assert res.returncode == 1 and "Could not find the file /nope in container cpc" in res.stderr, res.stderr
        res = d.docker("cp", str(tmp_path / "in.txt"), "cpc:/nope/dir")
        assert res.returncode == 1 and "Could not find the file /nope in container cpc" in res.stderr, res.stderr
    d.docker("stop", "-t", "0", "cpc", check=True)  # stopped containers too
    d.docker("cp", str(tmp_path / "in.txt"), "cpc:/tmp/again.txt", check=True)
    d.docker("cp", "cpc:/tmp/again.txt", str(tmp_path / "again.txt"), check=True)
    assert (tmp_path / "again.txt").read_text() == "in\n"


def test_cp_of_many_megabytes_and_many_files_arrives_whole(clean: Daemon, tmp_path: Path) -> None:
    """The archive goes to the file helper on the client's own connection (chunked from the
    docker CLI, Content-Length from docker-py): every byte must land, across any boundary."""
    import hashlib
    import os

    import docker

    d = clean
    d.docker("run", "-d", "--name", "cpbig", "busybox", "sleep", "300", check=True)
    src = tmp_path / "tree"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024 + 17))
    for i in range(300):
        (src / f"f{i}").write_text(str(i) * (i % 50))
    d.docker("cp", str(src), "cpbig:/tmp/", check=True)
    d.docker("cp", "cpbig:/tmp/tree", str(tmp_path / "back"), check=True)
    assert (tmp_path / "back" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert len(list((tmp_path / "back").iterdir())) == 301
    sums = d.docker(
        "exec", "cpbig", "sh", "-c", "sha256sum /tmp/tree/big.bin; ls /tmp/tree | wc -l", check=True
    ).stdout.split()
    assert sums[0] == hashlib.sha256((src / "big.bin").read_bytes()).hexdigest() and sums[-1] == "301"
    # docker-py: the same with a Content-Length body, and the connection works on afterwards.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(3 * 1024 * 1024)
        info = tarfile.TarInfo("py.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    client = docker.DockerClient(base_url=d.host)
    try:
        ct = client.containers.get("cpbig")
        assert ct.put_archive("/tmp", buf.getvalue())
        assert ct.put_archive("/tmp", buf.getvalue())  # twice: a new connection each time
        assert ct.exec_run("sha256sum /tmp/py.bin").output.split()[0].decode() == hashlib.sha256(data).hexdigest()
        # Out again: the helper writes the tar on the connection, a body that ends with it.
        stream, stat = ct.get_archive("/tmp/tree/big.bin")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            member = tf.extractfile("big.bin")
            assert member is not None and member.read() == (src / "big.bin").read_bytes()
        assert stat["size"] == 12 * 1024 * 1024 + 17
    finally:
        client.close()
    # A truncated archive is refused, and the daemon goes on serving.
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(d.sock))
        s.sendall(b"PUT /containers/cpbig/archive?path=/tmp HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        s.sendall(buf.getvalue()[:5000])
        answer = b""
        while chunk := s.recv(65536):  # the daemon closes after answering a handed-over body
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"Connection: close" in answer.replace(b"connection", b"Connection")
    assert b"invalid tar archive" in answer or b"ended early" in answer, answer
    assert d.docker("exec", "cpbig", "true").returncode == 0


def test_cp_cannot_escape_through_symlinks(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    d.docker("run", "-d", "--name", "evil", "busybox", "sh", "-c", "ln -s /etc /escape; sleep 300", check=True)
    (tmp_path / "payload").write_text("owned\n")
    d.docker("cp", str(tmp_path / "payload"), "evil:/escape/", check=True)
    assert not Path("/etc/payload").exists()  # it landed in the container's /etc
    assert d.docker("exec", "evil", "cat", "/etc/payload", check=True).stdout == "owned\n"


def test_diff_commit_export(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "dc", "busybox", "sleep", "300", check=True)
    d.docker("exec", "dc", "sh", "-c", "rm /bin/vi; echo x > /newfile", check=True)
    diff = d.docker("diff", "dc", check=True).stdout.splitlines()
    assert "A /newfile" in diff and "D /bin/vi" in diff and "C /bin" in diff
    image_id = d.docker("commit", "dc", "snap:1", check=True).stdout.strip()
    assert image_id.startswith("sha256:")
    res = d.docker("run", "--rm", "snap:1", "sh", "-c", "cat /newfile; test -e /bin/vi || echo novi", check=True)
    assert res.stdout == "x\nnovi\n"
    exported = d.docker_bytes("export", "dc").stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
        names = set(tf.getnames())
    assert "newfile" in names and "bin/vi" not in names and "bin/sh" in names
    d.docker("rm", "-f", "dc", check=True)
    d.docker("rmi", "snap:1", check=True)


def test_system_prune_reclaims(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    d.docker(
        "run", "--name", "mk2", "busybox", "sh", "-c", "mkdir -p /d && head -c 100000 /dev/zero > /d/z", check=True
    )
    d.docker("commit", "--change", 'VOLUME ["/d"]', "mk2", "prune-me:1", check=True)
    d.docker("run", "--name", "leaves-anon", "prune-me:1", "true", check=True)
    d.docker("rm", "mk2", "leaves-anon", check=True)  # the anonymous volume stays behind
    before = d.docker("volume", "ls", "-q", check=True).stdout.split()
    assert before
    res = d.docker("system", "prune", "-a", "-f", "--volumes", check=True)
    assert "Total reclaimed space:" in res.stdout
    assert "prune-me" not in d.docker("images", check=True).stdout
    assert d.docker("volume", "ls", "-q", check=True).stdout.split() == []
    d.ballena("bootstrap", "busybox", "-q", check=True)  # later tests need it back
    df = d.docker("system", "df", check=True).stdout
    assert df.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]


def test_volume_cli_commands(clean: Daemon) -> None:
    d = clean
    assert d.ballena("volume", "create", "--label", "k=v", "bv", check=True).stdout == "bv\n"
    assert "bv" in d.ballena("volume", "ls", "-q", check=True).stdout.split()
    info = json.loads(d.ballena("volume", "inspect", "bv", check=True).stdout)[0]
    assert info["Labels"] == {"k": "v"} and info["Driver"] == "local"
    assert d.ballena("volume", "rm", "bv", check=True).stdout == "bv\n"
    assert os.path.exists(d.data_root / "volumes")
