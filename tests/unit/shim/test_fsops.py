import io
import os
import socket
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from ballena.errors import NotFound
from ballena.pkg import framing, httpbody
from ballena.shim import fsops


def test_go_file_modes_as_the_docker_cli_reads_them(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir(mode=0o755)
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o4644)
    os.symlink("f", tmp_path / "l")
    assert fsops.go_file_mode(os.lstat(d)) == (1 << 31) | 0o755
    assert fsops.go_file_mode(os.lstat(f)) == (1 << 23) | 0o644
    assert fsops.go_file_mode(os.lstat(tmp_path / "l")) & (1 << 27)
    assert fsops.go_file_mode(os.stat("/dev/null")) & ((1 << 26) | (1 << 21)) == (1 << 26) | (1 << 21)


def test_path_stat_inside_a_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # path_stat resolves in "/" (it runs chrooted); here / is the host, so use a real host path
    st = fsops.path_stat("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd")
    assert st["name"] in ("hostname", "passwd") and st["size"] > 0 and st["mode"] & 0o777
    with pytest.raises(NotFound):
        fsops.path_stat("/no/such/file/anywhere")
    assert stat.S_IMODE(0o644) == 0o644


def _archive(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        for size in (0, 1, 511, 512, 513, 70_000):
            info = tarfile.TarInfo(f"dir/f{size}")
            info.size = size
            tf.addfile(info, io.BytesIO(bytes(i % 251 for i in range(size))))
        long = tarfile.TarInfo("dir/" + "n" * 150)  # a GNU long name, or a pax path
        long.size = 3
        if fmt == tarfile.PAX_FORMAT:
            long.pax_headers = {"SCHILY.xattr.user.k": "v"}
        tf.addfile(long, io.BytesIO(b"abc"))
        link = tarfile.TarInfo("dir/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/" + "t" * 120
        tf.addfile(link)
        hard = tarfile.TarInfo("dir/hard")
        hard.type, hard.linkname = tarfile.LNKTYPE, "dir/f1"
        tf.addfile(hard)
    return buf.getvalue()


def _members(wire: bytes, framing: str, tmp_path: Path) -> list[tuple[str, str, bytes]]:
    a, b = socket.socketpair()
    sender = threading.Thread(target=lambda: (a.sendall(wire), a.close()))
    sender.start()
    got = []
    with b:
        reader: httpbody.BodyReader | fsops._ArchiveSource
        if framing == "frames":  # relayed by the daemon as stdin frames, then a JSON end
            reader = fsops._ArchiveSource(fsops._FrameStream(b))
        else:
            reader = httpbody.BodyReader(b, framing)
        headers = fsops._TarHeaders(reader)
        while (m := headers.next()) is not None:
            data = b""
            if m.isreg():
                with open(tmp_path / "data", "wb") as f:
                    reader.copy_to(f.fileno(), m.size)
                data = (tmp_path / "data").read_bytes()
            reader.skip(headers.offset - reader.tell())
            got.append((m.name, m.linkname or m.pax_headers.get("SCHILY.xattr.user.k", ""), data))
    sender.join()
    return got


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_members_read_from_a_handed_body_as_tarfile_reads_them(fmt: int, tmp_path: Path) -> None:
    if fmt == tarfile.USTAR_FORMAT:
        with pytest.raises(ValueError):  # ustar cannot hold the long name: no such archive
            _archive(fmt)
        return
    wire = _archive(fmt)
    with tarfile.open(fileobj=io.BytesIO(wire)) as tf:
        expected = []
        for m in tf:
            f = tf.extractfile(m) if m.isreg() else None
            expected.append(
                (m.name, m.linkname or m.pax_headers.get("SCHILY.xattr.user.k", ""), f.read() if f else b"")
            )
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(wire[i : i + 999]), wire[i : i + 999]) for i in range(0, len(wire), 999))
    assert _members(chunked + b"0\r\n\r\n", "chunked", tmp_path) == expected
    assert _members(wire, f"length {len(wire)}", tmp_path) == expected
    frames = b"".join(framing.encode(framing.STDIN, wire[i : i + 777]) for i in range(0, len(wire), 777))
    assert _members(frames + framing.encode_json({"end": True}), "frames", tmp_path) == expected
    # Without its end-of-archive blocks (the stream ends between two members), as Go reads it.
    body = wire[: len(wire) - 1024]
    assert _members(body, f"length {len(body)}", tmp_path) == expected


def test_a_tar_cut_in_a_header_or_in_a_file_is_an_error(tmp_path: Path) -> None:
    wire = _archive(tarfile.GNU_FORMAT)
    with pytest.raises(tarfile.ReadError):
        _members(wire[:700], "length 700", tmp_path)  # in the second header
    with pytest.raises(EOFError):
        _members(wire[:3000], "length 3000", tmp_path)  # in the middle of a file's data
    with pytest.raises(tarfile.ReadError):
        _members(b"not a tar archive at all" * 40, "length 960", tmp_path)
