"""Benchmarks, side by side: the same docker CLI against ballenad and (where Debian's docker.io
is installed) a reference dockerd, each on a temporary root. Prints the median of each figure
and the ratio of ballena's cost to docker's (time, memory; for a throughput, docker's rate over
ballena's), so below 1 always means ballena is faster or smaller.

    .venv/bin/python bench/run.py                 # every scenario, both engines
    .venv/bin/python bench/run.py run-rm build -n 20
    .venv/bin/python bench/run.py --no-docker     # ballena only

Run as root, on an otherwise idle machine. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import BIN, Ballena, Docker, Engine, rss_kib, uss_kib


@dataclass
class Figure:
    name: str
    unit: str  # "s", "ms", "MiB", "MB/s"
    values: list[float]
    lower_is_better: bool = True

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def repeat(n: int, fn: Callable[[], object], setup: Callable[[], object] | None = None) -> list[float]:
    out = []
    for _ in range(n):
        if setup is not None:
            setup()
        out.append(timed(fn))
    return out


# -- scenarios: each takes an engine and the repeat count, returns figures ----------------------


def idle_memory(e: Engine, n: int) -> list[Figure]:
    time.sleep(1)
    return [
        Figure("daemon RSS (idle)", "MiB", [rss_kib(e.pids()) / 1024]),
        Figure("daemon USS (idle)", "MiB", [uss_kib(e.pids()) / 1024]),
    ]


def images_100(e: Engine, n: int) -> list[Figure]:
    for i in range(100):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            data = f"image {i}\n".encode()
            info = tarfile.TarInfo("id.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        e.docker("import", "-", f"bench/img{i}:latest", input=buf.getvalue())
    figs = [Figure("docker images (100 images)", "ms", [t * 1000 for t in repeat(n, lambda: e.docker("images"))])]
    if isinstance(e, Ballena):
        for command, label in (("images", "ballena images, whole process (100 images)"),
                               ("version", "ballena version, whole process")):  # fmt: skip
            argv = [str(BIN / "ballena"), command]
            times = repeat(n, lambda argv=argv: subprocess.run(argv, env=e.env, capture_output=True, check=True))
            figs.append(Figure(label, "ms", [t * 1000 for t in times]))
    ids = e.docker("images", "-q", "--filter", "reference=bench/*").stdout.decode().split()
    e.docker("rmi", "-f", *ids)
    return figs


def run_rm(e: Engine, n: int) -> list[Figure]:
    e.docker("run", "--rm", "busybox", "true")  # warm caches
    none = repeat(n, lambda: e.docker("run", "--rm", "--network", "none", "busybox", "true"))
    bridge = repeat(n, lambda: e.docker("run", "--rm", "busybox", "true"))
    return [
        Figure("run --rm --network none busybox true", "ms", [t * 1000 for t in none]),
        Figure("run --rm busybox true (bridge)", "ms", [t * 1000 for t in bridge]),
    ]


def run_detached(e: Engine, n: int) -> list[Figure]:
    starts, stops = [], []
    for i in range(n):
        starts.append(timed(lambda i=i: e.docker("run", "-d", "--name", f"bench{i}", "busybox", "sleep", "600")))
    for i in range(n):
        stops.append(timed(lambda i=i: e.docker("stop", "-t", "0", f"bench{i}")))
    rms = repeat(1, lambda: e.docker("rm", *[f"bench{i}" for i in range(n)]))
    return [
        Figure("run -d busybox sleep", "ms", [t * 1000 for t in starts]),
        Figure("stop -t 0", "ms", [t * 1000 for t in stops]),
        Figure(f"rm of {n} stopped containers", "ms", [t * 1000 for t in rms]),
    ]


def exec_in_running(e: Engine, n: int) -> list[Figure]:
    """`docker exec` of a short command in a running container: create, start, output, exit."""
    e.docker("run", "-d", "--name", "bench-exec", "busybox", "sleep", "600")
    try:
        e.docker("exec", "bench-exec", "true")  # warm caches
        times = repeat(n, lambda: e.docker("exec", "bench-exec", "true"))
    finally:
        e.docker("rm", "-f", "bench-exec")
    return [Figure("exec true in a running container", "ms", [t * 1000 for t in times])]


def isolation_cost(e: Engine, n: int) -> list[Figure]:
    """What the cgroup and the seccomp filter cost a `run --rm true`: end to end with and
    without seccomp, and (ballena) the steps themselves from the daemon's step trace."""
    default = repeat(n, lambda: e.docker("run", "--rm", "--network", "none", "busybox", "true"))
    unconfined = repeat(
        n,
        lambda: e.docker("run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "busybox", "true"),
    )
    figs = [
        Figure("run --rm true, default seccomp", "ms", [t * 1000 for t in default]),
        Figure("run --rm true, seccomp=unconfined", "ms", [t * 1000 for t in unconfined]),
    ]
    if isinstance(e, Ballena) and e.trace_file.exists():
        e.trace_file.write_text("")
        repeat(n, lambda: e.docker("run", "--rm", "--network", "none", "busybox", "true"))
        steps = _trace_steps(e.trace_file)
        for label, (a, b) in {
            "step: cgroup limits written (monitor)": ("monitor: rootfs mounted", "monitor: cgroup made"),
            "step: init moved into the cgroup (monitor)": (
                "monitor: init forked",
                "monitor: init moved into its cgroup",
            ),
            "step: seccomp filter loaded (init)": ("init: pivot_root, masked and read-only paths", "init: seccomp"),
        }.items():
            figs.append(Figure(label, "ms", [r[b] - r[a] for r in steps if a in r and b in r]))
    return figs


def _trace_steps(path: Path) -> list[dict[str, float]]:
    """Per container start, each step's time (ms) since the daemon began the start."""
    runs: list[dict[str, float]] = []
    t0 = 0.0
    for line in path.read_text().splitlines():
        t, _pid, label = line.split(None, 2)
        if label == "daemon: start":
            runs.append({})
            t0 = float(t)
        if runs:
            runs[-1].setdefault(label, (float(t) - t0) * 1000)
    return runs


def parallel_20(e: Engine, n: int) -> list[Figure]:
    def burst() -> None:
        threads = [threading.Thread(target=lambda: e.docker("run", "--rm", "busybox", "true")) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return [Figure("20 x run --rm in parallel (wall)", "s", repeat(max(3, n // 3), burst))]


def container_memory(e: Engine, n: int) -> list[Figure]:
    """What each running container costs on the host besides its own processes."""
    before = _support_processes(e)
    for i in range(10):
        e.docker("run", "-d", "--name", f"mem{i}", "busybox", "sleep", "600")
    time.sleep(1)
    added = [p for p in _support_processes(e) if p not in before]
    per = uss_kib(added) / 1024 / 10
    e.docker("rm", "-f", *[f"mem{i}" for i in range(10)])
    return [Figure("host memory per running container (USS of monitor/shim)", "MiB", [per])]


def _support_processes(e: Engine) -> list[int]:
    """ballena's per-container monitors (children of its zygote), or dockerd's containerd shims."""
    daemon_pids = set(e.pids())
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        ours = comm == "ballena-shim" and ppid in daemon_pids  # ballena's monitors
        theirs = "containerd-shim" in cmd and str(e.root) in cmd  # the reference dockerd's shims
        if ours or theirs:
            out.append(int(pid))
    return out


COMPOSE_STACK = """\
services:
  db:
    image: busybox
    init: true
    command: sleep 600
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 3
    volumes: [dbdata:/data]
    networks: [back]
  web:
    image: busybox
    init: true
    command: httpd -f -p 80
    depends_on:
      db: {condition: service_healthy}
    ports: ["80"]
    networks: [back]
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 64M}
  admin:
    image: busybox
    init: true
    command: sleep 600
    depends_on:
      db: {condition: service_healthy}
    networks: [back]
volumes:
  dbdata:
networks:
  back:
"""


def compose_stack(e: Engine, n: int) -> list[Figure]:
    """`docker compose up -d --wait` and `down -v` of a three-service stack (a db healthcheck
    every second that the others wait for), through the same Compose v2 binary."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from ballena.cli.commands.compose import binary

    compose = binary()
    if compose is None:
        return []
    ups, downs = [], []
    with tempfile.TemporaryDirectory(prefix="benchstack", dir="/tmp") as d:
        Path(d, "compose.yaml").write_text(COMPOSE_STACK)

        def run(*args: str) -> None:
            r = subprocess.run([compose, *args], cwd=d, env=e.env, capture_output=True)
            if r.returncode != 0:
                raise RuntimeError(f"{e.name}: compose {' '.join(args)}: {r.stderr.decode()}")

        for _ in range(max(3, n // 2)):
            ups.append(timed(lambda: run("up", "-d", "--wait")))
            downs.append(timed(lambda: run("down", "-v")))
    return [
        Figure("compose up -d --wait (3 services, 1s healthcheck)", "s", ups),
        Figure("compose down -v (3 services)", "s", downs),
    ]


def probe_cost(e: Engine, n: int) -> list[Figure]:
    """CPU time the engine spends per healthcheck probe (`true`, every 100 ms for 5 s): ballena's
    monitor with its probe processes, dockerd with containerd and the shim (all their CPU,
    less what they spend idle over the same time)."""

    def cpu(pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
            except (OSError, ValueError, IndexError):
                pass
        return total / os.sysconf("SC_CLK_TCK")

    def engine_pids() -> list[int]:
        return list(dict.fromkeys([*e.pids(), *_support_processes(e)]))

    e.docker("run", "-d", "--name", "bench-idle", "busybox", "sleep", "600")
    e.docker(
        "run", "-d", "--name", "bench-probe", "--health-cmd", "true", "--health-interval", "100ms",
        "busybox", "sleep", "600",
    )  # fmt: skip
    time.sleep(1)
    pids = engine_pids()
    before, t0 = cpu(pids), time.monotonic()
    time.sleep(5)
    used, elapsed = cpu(pids) - before, time.monotonic() - t0
    health = e.docker("inspect", "-f", "{{len .State.Health.Log}} {{.State.Health.Status}}", "bench-probe")
    e.docker("rm", "-f", "bench-probe")
    pids = engine_pids()
    idle_before = cpu(pids)
    time.sleep(5)
    idle = cpu(pids) - idle_before
    e.docker("rm", "-f", "bench-idle")
    probes = elapsed / 0.1  # the interval: what both engines aim at
    if b"healthy" not in health.stdout:
        return []
    return [Figure("engine CPU per healthcheck probe", "ms", [max(0.0, used - idle) / probes * 1000])]


def network_create_rm(e: Engine, n: int) -> list[Figure]:
    creates, rms = [], []
    for i in range(n):
        creates.append(timed(lambda i=i: e.docker("network", "create", f"benchnet{i}")))
        rms.append(timed(lambda i=i: e.docker("network", "rm", f"benchnet{i}")))
    return [
        Figure("network create", "ms", [t * 1000 for t in creates]),
        Figure("network rm", "ms", [t * 1000 for t in rms]),
    ]


def cli_ps(e: Engine, n: int) -> list[Figure]:
    """The whole client process of `ps` with 5 containers: ours (Python) on ballenad, the
    docker CLI (Go) on dockerd: what a user waits for, interpreter start-up and imports included."""
    for i in range(5):
        e.docker("run", "-d", "--name", f"ps{i}", "busybox", "sleep", "600")
    cli = [str(BIN / "ballena"), "ps"] if e.name == "ballena" else ["docker", "ps"]
    env = {k: v for k, v in e.env.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: with bytecode
    subprocess.run(cli, env=env, capture_output=True, check=True)  # bytecode written, caches warm
    times = repeat(max(n, 20), lambda: subprocess.run(cli, env=env, capture_output=True, check=True))
    e.docker("rm", "-f", *[f"ps{i}" for i in range(5)])
    return [Figure("ps, the whole client process (ballena ps / docker ps)", "ms", [t * 1000 for t in times])]


def cp_100mb(e: Engine, n: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        src = Path(tmp, "big.bin")
        src.write_bytes(os.urandom(100 * 1024 * 1024))
        e.docker("run", "-d", "--name", "cpbench", "busybox", "sleep", "600")
        ins, outs = [], []
        for _ in range(max(3, n // 2)):
            ins.append(timed(lambda: e.docker("cp", str(src), "cpbench:/tmp/big.bin")))
            dst = Path(tmp, "out.bin")
            outs.append(timed(lambda dst=dst: e.docker("cp", "cpbench:/tmp/big.bin", str(dst))))
            dst.unlink()
        e.docker("rm", "-f", "cpbench")
    mb = 100 * 1024 * 1024 / 1e6
    return [
        Figure("cp 100 MB into a container", "MB/s", [mb / t for t in ins], lower_is_better=False),
        Figure("cp 100 MB out of a container", "MB/s", [mb / t for t in outs], lower_is_better=False),
    ]


def commit_10k(e: Engine, n: int) -> list[Figure]:
    """Commits of stopped containers that each wrote 10,000 files. The containers are all made
    first and removed after: removing one deletes 20,000 files (its layer and the image's),
    which ballenad does on a thread after answering and dockerd before, so a removal between
    two commits would land inside ballena's next commit and outside dockerd's."""
    count = max(3, n // 3)
    for i in range(count):
        e.docker(
            "run", "--name", f"commit{i}", "busybox", "sh", "-c",
            "mkdir /many && cd /many && i=0; while [ $i -lt 10000 ]; do echo $i > f$i; i=$((i+1)); done",
        )  # fmt: skip
    times = [timed(lambda i=i: e.docker("commit", f"commit{i}", f"bench/commit:{i}")) for i in range(count)]
    e.docker("rm", *[f"commit{i}" for i in range(count)])
    e.docker("rmi", *[f"bench/commit:{i}" for i in range(count)])
    return [Figure("commit of 10,000 new files", "s", times)]


BUILD_STEPS = """FROM busybox
ENV APP=/app
WORKDIR /app
COPY a.txt /app/a.txt
RUN echo one > /app/1
RUN echo two > /app/2
COPY b.txt /app/b.txt
RUN cat /app/a.txt /app/b.txt > /app/ab
LABEL bench=yes
CMD ["cat", "/app/ab"]
"""


def build(e: Engine, n: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(dir="/tmp") as ctx:
        Path(ctx, "Dockerfile").write_text(BUILD_STEPS)
        Path(ctx, "a.txt").write_text("a\n")
        Path(ctx, "b.txt").write_text("b\n")
        firsts, cached = [], []
        for _ in range(max(3, n // 2)):
            firsts.append(timed(lambda: e.docker("build", "--no-cache", "-q", "-t", "bench/build", ctx)))
            cached.append(timed(lambda: e.docker("build", "-q", "-t", "bench/build", ctx)))
        e.docker("rmi", "-f", "bench/build")
        e.docker("image", "prune", "-f")
    return [
        Figure("build, 10 steps, first (--no-cache)", "s", firsts),
        Figure("build, 10 steps, fully cached", "s", cached),
    ]


def _registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A fresh Debian docker-registry on 127.0.0.1 with its storage under ``root``."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(
        f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {root}/data}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}, secret: bench}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("docker-registry did not start")


def registry_100mib(e: Engine, n: int) -> list[Figure]:
    """Push and pull of a 100 MiB layer of random bytes against a local registry (a fresh one
    for each push, so every push uploads)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        src = Path(tmp, "src")
        src.mkdir()
        Path(src, "random.bin").write_bytes(os.urandom(100 << 20))
        tar = Path(tmp, "layer.tar")
        subprocess.run(["tar", "-C", str(src), "-cf", str(tar), "random.bin"], check=True)
        e.docker("import", str(tar), "bench/random:1")
        pushes, pulls = [], []
        for i in range(max(3, n // 2)):
            proc, host = _registry(Path(tmp, f"registry{i}"))
            try:
                ref = f"{host}/random:1"
                e.docker("tag", "bench/random:1", ref)
                pushes.append(timed(lambda ref=ref: e.docker("push", ref)))
                e.docker("rmi", "bench/random:1", ref)
                pulls.append(timed(lambda ref=ref: e.docker("pull", ref)))
                e.docker("tag", ref, "bench/random:1")
                e.docker("rmi", ref)
            finally:
                proc.terminate()
                proc.wait()
        e.docker("rmi", "bench/random:1")
    return [
        Figure("push of a 100 MiB random layer", "s", pushes),
        Figure("pull of a 100 MiB random layer", "s", pulls),
    ]


SCENARIOS: dict[str, Callable[[Engine, int], list[Figure]]] = {
    "idle-memory": idle_memory,
    "images-100": images_100,
    "run-rm": run_rm,
    "run-detached": run_detached,
    "parallel-20": parallel_20,
    "exec": exec_in_running,
    "isolation-cost": isolation_cost,
    "container-memory": container_memory,
    "network": network_create_rm,
    "cli-ps": cli_ps,
    "cp-100mb": cp_100mb,
    "commit-10k": commit_10k,
    "build": build,
    "registry": registry_100mib,
    "compose": compose_stack,
    "probe-cost": probe_cost,
}


def _fmt(v: float, unit: str) -> str:
    return f"{v:.3f} {unit}" if unit == "s" else f"{v:.1f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=[])
    ap.add_argument("-n", type=int, default=10, help="repetitions per figure (default 10)")
    ap.add_argument("--no-docker", action="store_true", help="measure ballena only")
    args = ap.parse_args()
    chosen = args.scenarios or list(SCENARIOS)

    engines: list[Engine] = [Ballena()]
    if not args.no_docker:
        if Docker.available():
            engines.append(Docker())
        else:
            print("dockerd not installed (apt-get install docker.io): measuring ballena only", file=sys.stderr)
    results: dict[str, dict[str, Figure]] = {}
    order: list[str] = []
    try:
        for e in engines:
            e.start()
            try:
                if isinstance(e, Ballena):
                    e.load_busybox()
                elif isinstance(e, Docker):
                    e.load_busybox(engines[0])
                for name in chosen:
                    print(f"[{e.name}] {name} ...", file=sys.stderr, flush=True)
                    for fig in SCENARIOS[name](e, args.n):
                        if fig.name not in results:
                            results[fig.name] = {}
                            order.append(fig.name)
                        results[fig.name][e.name] = fig
            finally:
                if isinstance(e, Ballena) and len(engines) > 1:
                    pass  # keep it up: dockerd loads busybox from it
                else:
                    e.stop()
                    e.cleanup()
    finally:
        # dockerd's clean-up restores the firewall as it was when dockerd started, which
        # includes ballena's table then: so docker goes first, ballena's table after.
        for e in reversed(engines):
            for step in (e.stop, e.cleanup):
                try:
                    step()
                except Exception as err:  # one engine's failure must not leave the other's mess
                    print(f"[{e.name}] {step.__name__}: {err}", file=sys.stderr)

    width = max(len(n) for n in order) + 2
    print(f"{'figure':<{width}}{'ballena':>14}{'docker':>14}{'ratio':>8}")
    for name in order:
        row = results[name]
        b, d = row.get("ballena"), row.get("docker")
        cells = [_fmt(b.median, b.unit) if b else "-", _fmt(d.median, d.unit) if d else "-"]
        ratio = "-"
        if b and d and b.median and d.median:
            # Always ballena's cost over docker's: for a throughput, docker's rate over ours.
            ratio = f"{(b.median / d.median) if b.lower_is_better else (d.median / b.median):.2f}"
        print(f"{name:<{width}}{cells[0]:>14}{cells[1]:>14}{ratio:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
