"""``ballena bootstrap``: base images made offline, from what this machine has.

- ``busybox`` (tag ``busybox:latest``): the host's static busybox (Debian's busybox-static,
  installed when missing) with its applets linked in /bin, as the official image lays them out.
- ``debian:bookworm`` (or another suite): a minbase debootstrap.
The result is imported through the API (``POST /images/create?fromSrc=-``), as ``docker import``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from ballena.cli.common import die, flags, out
from ballena.client.api import Client

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""


def find_static_busybox() -> str | None:
    for path in ("/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox"):
        if os.path.exists(path) and _is_static(path):
            return path
    return None


def _is_static(path: str) -> bool:
    """An ELF without a PT_INTERP program header needs no dynamic loader."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            import struct

            phoff = struct.unpack_from("<Q", head, 32)[0]
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            return not any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))
    except OSError:
        return False


def busybox_tar(busybox: str) -> bytes:
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    now = int(time.time())

    def add_dir(tf: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, now
        tf.addfile(ti)

    def add_file(tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), mode, now
        tf.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in (
            "bin",
            "dev",
            "etc",
            "home",
            "lib",
            "proc",
            "root",
            "sys",
            "usr",
            "usr/sbin",
            "usr/bin",
            "var",
            "var/spool",
            "var/spool/mail",
            "var/www",
        ):
            add_dir(tf, d, 0o700 if d == "root" else 0o755)
        add_dir(tf, "tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file(tf, "bin/busybox", f.read(), 0o755)
        for name in sorted(set(applets)):
            if name == "busybox":
                continue
            ti = tarfile.TarInfo(f"bin/{name}")
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.LNKTYPE, "bin/busybox", 0o755, now
            tf.addfile(ti)
        add_file(tf, "etc/passwd", _PASSWD.encode())
        add_file(tf, "etc/group", _GROUP.encode())
        add_file(
            tf,
            "etc/shadow",
            b"".join(f"{line.split(':')[0]}:*::0:::::\n".encode() for line in _PASSWD.splitlines()),
            0o640,
        )
        add_file(tf, "etc/nsswitch.conf", b"hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\n")
    return buf.getvalue()


def _import(client: Client, body: object, tag: str, changes: list[str], message: str) -> str:
    repo, _, t = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
    image_id = ""
    for msg in client.stream_json(
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": repo, "tag": t, "changes": changes, "message": message},
        body=body,
    ):
        if msg.get("error"):
            die(f"Error response from daemon: {msg['error']}")
        image_id = msg.get("status", image_id)
    return image_id


def bootstrap(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} busybox|debian[:SUITE] [--tag NAME]", min_args=1, max_args=1)
    p.str("tag", "t", "name of the image (default: busybox:latest, debian:SUITE)", default=None)
    p.str(
        "mirror",
        None,
        "Debian mirror for debootstrap",
        default=os.environ.get("BALLENA_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
    )
    p.bool("quiet", "q", "Print nothing but errors")
    a = p.parse(argv)
    kind, _, suite = a.args[0].partition(":")
    if kind == "busybox":
        busybox = find_static_busybox()
        if busybox is None:
            if shutil.which("apt-get") is None:
                die("no static busybox on this host; install busybox-static")
            print("installing busybox-static ...", file=sys.stderr)
            subprocess.run(["apt-get", "install", "-y", "-q", "busybox-static"], check=True, stdout=subprocess.DEVNULL)
            busybox = find_static_busybox()
            if busybox is None:
                die("busybox-static did not provide a static busybox")
        version = subprocess.run([busybox], capture_output=True, text=True).stdout.split("\n", 1)[0]
        image_id = _import(
            client,
            busybox_tar(busybox),
            a.tag or "busybox:latest",
            [f"ENV {PATH_ENV}", 'CMD ["sh"]'],
            f"ballena bootstrap: {version.strip()}",
        )
    elif kind == "debian":
        suite = suite or "bookworm"
        if shutil.which("debootstrap") is None:
            if shutil.which("apt-get") is None:
                die("debootstrap is not installed")
            subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], check=True, stdout=subprocess.DEVNULL)
        with tempfile.TemporaryDirectory(prefix="ballena-debootstrap-") as root:
            cmd = ["debootstrap", "--variant=minbase", suite, root, a.mirror]
            rc = subprocess.run(cmd, stdout=subprocess.DEVNULL if a.quiet else sys.stderr).returncode
            if rc != 0:
                die(f"debootstrap failed with exit status {rc}")
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for entry in os.scandir(os.path.join(root, junk)) if os.path.isdir(os.path.join(root, junk)) else []:
                    if entry.is_file():
                        os.unlink(entry.path)
            tar = subprocess.Popen(
                ["tar", "--numeric-owner", "--xattrs", "-C", root, "-c", "."], stdout=subprocess.PIPE
            )
            assert tar.stdout is not None
            image_id = _import(
                client,
                tar.stdout,
                a.tag or f"debian:{suite}",
                [f"ENV {PATH_ENV}", 'CMD ["bash"]'],
                f"ballena bootstrap: debootstrap {suite}",
            )
            tar.wait()
    else:
        die(f"unknown base image {a.args[0]!r}: use busybox or debian[:suite]")
    if not a.quiet:
        out(image_id)
    return 0
