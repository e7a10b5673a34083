"""The Dockerfile builder through the docker CLI's classic builder, docker-py and ``ballena build``."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

HOLA = """FROM busybox:latest
RUN mkdir -p /app
COPY holaMundo.txt /app/holaMundo.txt
RUN chmod 600 /app/holaMundo.txt
CMD cat /app/holaMundo.txt
"""


@pytest.fixture()
def images(clean: Daemon) -> Iterator[list[str]]:
    """Image names a test builds; removed (with what they leave dangling) afterwards."""
    made: list[str] = []
    yield made
    if made:
        clean.docker("rmi", "-f", *made)
    clean.docker("image", "prune", "-f")
    clean.docker("builder", "prune", "-af")


def _context(tmp_path: Path, files: dict[str, str]) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    for name, text in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ctx


def test_hola_mundo_cache_and_dangling(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    ctx = _context(tmp_path, {"Dockerfile": HOLA, "holaMundo.txt": "¡Hola Mundo!\n"})
    images.append("me/hola")
    first = d.docker("build", "-t", "me/hola", str(ctx), check=True).stdout
    assert "Step 5/5 : CMD cat /app/holaMundo.txt" in first and "Successfully tagged me/hola:latest" in first
    assert d.docker("run", "--rm", "me/hola", check=True).stdout == "¡Hola Mundo!\n"
    mode = d.docker("run", "--rm", "me/hola", "ls", "-l", "/app/holaMundo.txt", check=True).stdout
    assert mode.startswith("-rw-------")
    old_id = d.docker("image", "inspect", "-f", "{{.Id}}", "me/hola", check=True).stdout.strip()

    again = d.docker("build", "-t", "me/hola", str(ctx), check=True).stdout
    assert again.count("Using cache") == 4
    assert d.docker("image", "inspect", "-f", "{{.Id}}", "me/hola", check=True).stdout.strip() == old_id

    (ctx / "holaMundo.txt").write_text("¡Hola otra vez!\n")
    changed = d.docker("build", "-t", "me/hola", str(ctx), check=True).stdout
    steps = changed.split("Step ")
    assert "Using cache" in steps[2]  # RUN mkdir
    assert all("Using cache" not in s for s in steps[3:])
    assert d.docker("run", "--rm", "me/hola", check=True).stdout == "¡Hola otra vez!\n"
    dangling = d.docker("images", "-q", "--no-trunc", "--filter", "dangling=true", check=True).stdout.split()
    assert old_id in dangling


def test_multistage_copy_from_keeps_only_what_is_copied(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    ctx = _context(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox AS first\nRUN echo out > /out && echo junk > /junk\n"
                "FROM busybox\nCOPY --from=0 /out /out\nCOPY --from=first /out /again\n"
            )
        },
    )
    images.append("ms:1")
    d.docker("build", "-t", "ms:1", str(ctx), check=True)
    res = d.docker("run", "--rm", "ms:1", "sh", "-c", "cat /out /again; ls /junk", timeout=30)
    assert res.stdout == "out\nout\n" and "No such file" in res.stderr


def test_target_skips_unneeded_stages(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    ctx = _context(
        tmp_path,
        {
            "Dockerfile": (
                "FROM busybox AS base\nRUN echo base > /base\n"
                "FROM busybox AS broken\nRUN exit 3\n"
                "FROM base AS dev\nRUN echo dev > /dev.txt\n"
            )
        },
    )
    images.append("tg:dev")
    out = d.docker("build", "--target", "dev", "-t", "tg:dev", str(ctx), check=True).stdout
    assert "exit 3" not in out
    assert d.docker("run", "--rm", "tg:dev", "cat", "/base", "/dev.txt", check=True).stdout == "base\ndev\n"
    res = d.docker("build", "--target", "nope", str(ctx))
    assert res.returncode != 0 and "nope" in res.stderr


def test_dockerignore_args_and_image_config(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    dockerfile = """FROM busybox
ARG WHO=world
RUN echo "hello $WHO" > /greeting
ENV A=1 B="two words"
ENV C three words
WORKDIR /srv
WORKDIR app
USER nobody
EXPOSE 8080/tcp 53/udp
LABEL org.example.team="ballena" version=1
COPY . /ctx/
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"""
    ctx = _context(
        tmp_path,
        {
            "Dockerfile": dockerfile,
            ".dockerignore": "secret.txt\n*.log\n!keep.log\n",
            "secret.txt": "s3cr3t\n",
            "a.log": "x",
            "keep.log": "kept",
            "sub/file.txt": "sub",
        },
    )
    images.append("cfg:1")
    d.docker("build", "--build-arg", "WHO=ballena", "-t", "cfg:1", str(ctx), check=True)
    cfg = json.loads(d.docker("image", "inspect", "-f", "{{json .Config}}", "cfg:1", check=True).stdout)
    assert "A=1" in cfg["Env"] and "B=two words" in cfg["Env"] and "C=three words" in cfg["Env"]
    assert cfg["WorkingDir"] == "/srv/app"
    assert cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Labels"] == {"org.example.team": "ballena", "version": "1"}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["echo hi"]
    listing = d.docker(
        "run", "--rm", "--entrypoint", "sh", "cfg:1", "-c", "cat /greeting; ls -A /ctx | sort | tr '\\n' ' '"
    )
    assert listing.stdout.startswith("hello ballena\n")
    assert listing.stdout.splitlines()[1].split() == [".dockerignore", "Dockerfile", "keep.log", "sub"]
    assert d.docker("run", "--rm", "cfg:1", check=True).stdout == "hi\n"


def test_dockerfile_on_stdin_and_tar_context(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    images.extend(["stdin:1", "tarctx:1"])
    d.docker("build", "-t", "stdin:1", "-", input='FROM busybox\nCMD ["echo", "from stdin"]\n', check=True)
    assert d.docker("run", "--rm", "stdin:1", check=True).stdout == "from stdin\n"

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in {"Dockerfile": b"FROM busybox\nCOPY f /f\n", "f": b"in a tar\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    d.docker("build", "-t", "tarctx:1", "-", input=buf.getvalue(), check=True)
    assert d.docker("run", "--rm", "tarctx:1", "cat", "/f", check=True).stdout == "in a tar\n"


def test_failures_have_dockers_messages(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    before = d.docker("ps", "-aq", check=True).stdout
    ctx = _context(tmp_path, {"Dockerfile": "FROM busybox\nRUN exit 7\n"})
    res = d.docker("build", str(ctx))
    assert res.returncode == 7
    assert "The command '/bin/sh -c exit 7' returned a non-zero code: 7" in res.stderr
    assert d.docker("ps", "-aq", check=True).stdout == before  # no container left behind

    (ctx / "Dockerfile").write_text("FROM busybox\nFOO bar\n")
    res = d.docker("build", str(ctx))
    assert res.returncode != 0
    assert "dockerfile parse error on line 2: unknown instruction: FOO" in res.stderr

    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY missing.txt /\n")
    res = d.docker("build", str(ctx))
    assert res.returncode != 0 and "missing.txt" in res.stderr

    res = d.docker("build", "-t", "Bad:Tag", str(ctx))
    assert res.returncode != 0 and "invalid" in res.stderr.lower()


def test_ballena_build_cli(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    ctx = _context(tmp_path, {"data.txt": "payload\n"})
    outside = tmp_path / "Buildfile"
    outside.write_text('FROM busybox\nARG X\nCOPY data.txt /data.txt\nRUN echo "x=$X" >> /data.txt\n')
    images.extend(["bl:1", "bl:2"])
    iid_file = tmp_path / "iid"
    res = d.ballena(
        "build", "-f", str(outside), "-t", "bl:1", "-t", "bl:2", "--build-arg", "X=7", "--iidfile", str(iid_file),
        str(ctx),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Sending build context to Ballena daemon" in res.stdout and "Successfully tagged bl:2" in res.stdout
    iid = iid_file.read_text()
    assert iid.startswith("sha256:")
    assert d.docker("image", "inspect", "-f", "{{.Id}}", "bl:2", check=True).stdout.strip() == iid
    assert d.docker("run", "--rm", "bl:1", "cat", "/data.txt", check=True).stdout == "payload\nx=7\n"

    quiet = d.ballena("build", "-q", "-f", str(outside), "--build-arg", "X=7", str(ctx), check=True)
    assert quiet.stdout.strip() == iid  # fully cached: the same image

    failed = d.ballena("build", "-", input="FROM busybox\nRUN exit 4\n")
    assert failed.returncode == 4 and "returned a non-zero code: 4" in failed.stderr


def test_docker_py_build_and_cache_in_df(
    clean: Daemon, images: list[str], docker_client: object, tmp_path: Path
) -> None:
    import docker

    assert isinstance(docker_client, docker.DockerClient)
    ctx = _context(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo built > /b\n"})
    images.append("py:1")
    image, logs = docker_client.images.build(path=str(ctx), tag="py:1", nocache=True)
    assert "py:1" in image.tags
    assert any("Successfully built" in (entry.get("stream") or "") for entry in logs)
    df = json.loads(clean.docker("system", "df", "--format", "{{json .}}", check=True).stdout.splitlines()[-1])
    assert df["Type"] == "Build Cache"
    with pytest.raises(docker.errors.BuildError) as err:
        docker_client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 5\n"))
    assert "returned a non-zero code: 5" in str(err.value)


def test_heredocs_onbuild_add_archive_and_metadata(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    d = clean
    ctx = _context(tmp_path, {"src/a.txt": "hi\n", "Dockerfile.base": "FROM busybox\nONBUILD RUN echo ran > /onb\n"})
    with tarfile.open(ctx / "arch.tar.gz", "w:gz") as tf:
        tf.add(ctx / "src" / "a.txt", arcname="a.txt")
    (ctx / "Dockerfile").write_text(
        "FROM base:ob\n"
        "ARG WHO=heredoc\n"
        "ADD arch.tar.gz /extracted/\n"
        "COPY --chmod=700 --chown=1:2 src/a.txt /c.txt\n"
        "RUN <<EOT\necho one > /h1\necho two >> /h1\nEOT\n"
        "RUN cat <<'EOT' > /h2\nliteral $WHO\nEOT\n"
        "RUN <<EOT\n#!/bin/sh\necho shebang > /h3\nEOT\n"
        "COPY <<INLINE /inline.txt\ninline $WHO\nINLINE\n"
        "HEALTHCHECK --interval=5s CMD true\n"
        "STOPSIGNAL SIGINT\n"
    )
    images.extend(["base:ob", "feat:1"])
    d.docker("build", "-q", "-t", "base:ob", "-f", str(ctx / "Dockerfile.base"), str(ctx), check=True)
    d.docker("build", "-q", "-t", "feat:1", str(ctx), check=True)
    script = "cat /onb /extracted/a.txt /h1 /h2 /h3 /inline.txt; stat -c '%a %u %g' /c.txt"
    out = d.docker("run", "--rm", "feat:1", "sh", "-c", script, check=True).stdout
    assert out.splitlines() == ["ran", "hi", "one", "two", "literal $WHO", "shebang", "inline heredoc", "700 1 2"]
    cfg = json.loads(d.docker("image", "inspect", "-f", "{{json .Config}}", "feat:1", check=True).stdout)
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    assert cfg["StopSignal"] == "SIGINT"


def test_build_options_real_clients_send(clean: Daemon, images: list[str], tmp_path: Path) -> None:
    """-q prints the ID; `-f -` with a directory (the CLI's tar has no end blocks) keeps the
    Dockerfile out of COPY; --add-host reaches RUN; a RUN's stderr reaches the client;
    .dockerignore names with spaces, comments escaped with a backslash, exceptions under an
    ignored directory."""
    d = clean
    images += ["bq", "bstdin", "bhosts"]
    r = d.docker("build", "-q", "-t", "bq", "-", input="FROM busybox\nRUN echo q > /q\n", check=True)
    assert r.stdout.strip() == d.docker("inspect", "-f", "{{.Id}}", "bq", check=True).stdout.strip()
    ctx = tmp_path / "ctx"
    (ctx / "ign" / "keepme").mkdir(parents=True)
    (ctx / "ign" / "a").write_text("1")
    (ctx / "ign" / "keepme" / "b").write_text("2")
    (ctx / "file with space.txt").write_text("s")
    (ctx / "#hash").write_text("h")
    (ctx / "kept.txt").write_text("k")
    (ctx / ".dockerignore").write_text("# a comment\nign\n!ign/keepme\nfile with space.txt\n\\#hash\n")
    dockerfile = "FROM busybox\nCOPY . /ctx\nRUN cd /ctx && find . -type f | sort\n"
    r = subprocess.run(
        ["docker", "build", "-t", "bstdin", "-f", "-", "."], cwd=ctx, env=d.env, input=dockerfile,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    listed = [line for line in r.stdout.splitlines() if line.startswith("./")]
    assert listed == ["./.dockerignore", "./ign/keepme/b", "./kept.txt"]
    r = d.docker(
        "build", "--add-host", "myhost:10.1.2.3", "-t", "bhosts", "-",
        input="FROM busybox\nRUN grep myhost /etc/hosts && echo to-stderr >&2\n", check=True,
    )  # fmt: skip
    assert "10.1.2.3\tmyhost" in r.stdout and "to-stderr" in r.stdout


def test_docker_py_outside_dockerfile_extra_hosts_and_cache_from(
    clean: Daemon, images: list[str], tmp_path: Path
) -> None:
    import docker

    d = clean
    images += ["pyout", "cfrom1", "cfrom2"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a")
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\nCOPY . /ctx\nRUN ls -a /ctx && grep h2 /etc/hosts\n")
    client = docker.APIClient(base_url=d.host, version="auto")
    try:
        out = list(client.build(path=str(ctx), dockerfile=str(outside), tag="pyout", decode=True, extra_hosts={"h2": "10.0.0.2"}))  # fmt: skip
        assert not [o for o in out if "error" in o], out
        text = "".join(o.get("stream", "") for o in out)
        assert ".\n..\na.txt\n" in text and "10.0.0.2\th2" in text  # the generated Dockerfile name stays out
        source = "FROM busybox\nENV A=1\nRUN echo cf > /cf\n"
        list(client.build(fileobj=io.BytesIO(source.encode()), tag="cfrom1", decode=True))
        saved = tmp_path / "cfrom1.tar"
        d.docker("save", "-o", str(saved), "cfrom1", check=True)
        d.docker("builder", "prune", "-af", check=True)
        d.docker("rmi", "cfrom1", check=True)
        d.docker("load", "-i", str(saved), check=True)
        out = list(client.build(fileobj=io.BytesIO(source.encode()), tag="cfrom2", cache_from=["cfrom1"], decode=True))
        text = "".join(o.get("stream", "") for o in out)
        assert text.count("Using cache") == 2, text
        ids = {d.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout for n in ("cfrom1", "cfrom2")}
        assert len(ids) == 1
    finally:
        client.close()
