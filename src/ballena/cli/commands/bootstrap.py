"""``ballena bootstrap``: base images made offline, from what this machine has.

- ``busybox`` (tag ``busybox:latest``): the host's static busybox (Debian's busybox-static,
  installed when missing) with its applets linked in /bin, as the official image lays them out.
  It is imported through the API (``POST /images/create?fromSrc=-``), as ``docker import``.
- ``debian:bookworm-slim``, ``debian:bookworm`` and every image of the offline library
  (``redis``, ``mariadb``, ...; ``all``; ``--list``): built by the daemon from Debian packages
  (``POST /ballena/library/build``), where its debootstrap is cached.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
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
    p = flags(
        prog,
        f"{prog} [OPTIONS] busybox|debian[:TAG]|IMAGE[:TAG]... | all | --list",
        min_args=0,
    )
    p.str("tag", "t", "name of the image (busybox only; default busybox:latest)", default=None)
    p.bool("list", "l", "List the offline library: its images, their tags, and the Debian versions built here")
    p.bool("quiet", "q", "Print nothing but errors")
    a = p.parse(argv)
    if a.list:
        return _list(client)
    if not a.args:
        die(f'"{prog}" requires at least 1 argument: busybox, debian:bookworm-slim, an image of the library, or all')
    names: list[str] = []
    for name in a.args:
        if name == "all":
            names += [e["Name"] for e in client.get("/ballena/library") if e["Name"] != "debian"]
        else:
            names.append(name)
    for name in names:
        if name.partition(":")[0] == "busybox":
            _busybox(client, a.tag, a.quiet)
            continue
        started = time.monotonic()
        image_id = ""
        for msg in client.stream_json("POST", "/ballena/library/build", params={"name": name}):
            if msg.get("error"):
                die(f"Error response from daemon: {msg['error']}")
            if "aux" in msg:
                image_id = msg["aux"].get("ID", image_id)
            elif not a.quiet and msg.get("stream"):
                sys.stderr.write(msg["stream"])
            elif not a.quiet and msg.get("status"):
                print(msg["status"], file=sys.stderr)
        if not a.quiet:
            print(f"{name}: {image_id} in {time.monotonic() - started:.1f} s", file=sys.stderr)
        out(image_id)
    return 0


def _list(client: Client) -> int:
    rows = [("IMAGE", "DEBIAN PACKAGE", "TAGS", "BUILT HERE")]
    for e in client.get("/ballena/library"):
        built = ", ".join(f"{t} ({v})" if v else t for t, v in sorted(e["Built"].items())) or "-"
        package = f"{e['Package']} {e['Series']}" if e["Package"] else f"debootstrap {e['Series']}"
        rows.append((e["Name"], package, ", ".join(e["Tags"]), built))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        out("   ".join(c.ljust(widths[i]) if i < 3 else c for i, c in enumerate(r)).rstrip())
    return 0


def _busybox(client: Client, tag: str | None, quiet: bool) -> None:
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
        tag or "busybox:latest",
        [f"ENV {PATH_ENV}", 'CMD ["sh"]'],
        f"ballena bootstrap: {version.strip()}",
    )
    if not quiet:
        out(image_id)
