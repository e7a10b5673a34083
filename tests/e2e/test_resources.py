"""Limits and isolation measured from inside the container, stats and update, through the
docker CLI and docker-py."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.conftest import Daemon


def _status(d: Daemon, *options: str, field: str) -> str:
    out = d.docker("run", "--rm", *options, "busybox", "grep", f"^{field}:", "/proc/self/status", check=True).stdout
    return out.split(":", 1)[1].strip()


def test_oom_kill_is_detected(clean: Daemon) -> None:
    d = clean
    since = str(int(time.time()) - 1)
    res = d.docker(
        "run", "--name", "oom", "-m", "32m", "--memory-swap", "32m", "busybox",
        "sh", "-c", "x=a; while true; do x=$x$x; done",
        timeout=60,
    )  # fmt: skip
    assert res.returncode == 137
    assert d.docker("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom", check=True).stdout.split() == [
        "true",
        "137",
    ]
    events = d.docker(
        "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "event=oom", "--format",
        "{{.Actor.Attributes.name}}",
    )  # fmt: skip
    assert "oom" in events.stdout.split()


def test_pids_limit_holds_a_fork_loop(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "forky", "--pids-limit", "10", "busybox", "sleep", "300", check=True)
    # The loop forks until the kernel refuses (busybox sh then exits); its sleeps stay.
    d.docker("exec", "-d", "forky", "sh", "-c", "while true; do sleep 30 & done", check=True)
    time.sleep(1.5)
    procs = d.docker("top", "forky", check=True).stdout.splitlines()[1:]
    assert 8 <= len(procs) <= 10, procs
    stats = json.loads(d.docker("stats", "--no-stream", "--format", "{{json .}}", "forky", check=True).stdout)
    assert int(stats["PIDs"]) == len(procs)
    assert d.docker("inspect", "-f", "{{.HostConfig.PidsLimit}}", "forky", check=True).stdout.strip() == "10"


def test_cpus_limit_shows_in_stats(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "burn", "--cpus", "0.5", "busybox", "sh", "-c", "while true; do :; done")
    time.sleep(1.5)
    line = d.docker("stats", "--no-stream", "burn", check=True).stdout.splitlines()[1]
    cpu = float(re.search(r"([\d.]+)%", line).group(1))  # type: ignore[union-attr]
    assert 30 <= cpu <= 65, line
    d.docker("update", "--cpus", "1.5", "burn", check=True)
    time.sleep(1.0)
    line = d.docker("stats", "--no-stream", "burn", check=True).stdout.splitlines()[1]
    assert float(re.search(r"([\d.]+)%", line).group(1)) > 80, line  # type: ignore[union-attr]


def test_update_memory_and_its_errors(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "mem", "-m", "64m", "busybox", "sleep", "300", check=True)
    assert d.docker("inspect", "-f", "{{.HostConfig.MemorySwap}}", "mem", check=True).stdout.strip() == str(128 << 20)
    d.docker("update", "-m", "100m", "--memory-swap", "200m", "mem", check=True)
    out = d.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", "mem", check=True).stdout
    assert out.strip().endswith("/ 100MiB")
    res = d.docker("update", "-m", "300m", "mem")
    assert res.returncode == 1
    assert "Memory limit should be smaller than already set memoryswap limit" in res.stderr
    assert "Cannot update container" in res.stderr
    res = d.docker("update", "-m", "1m", "mem")
    assert "Minimum memory limit allowed is 6MB" in res.stderr
    res = d.docker("update", "--cpus", "64", "mem")
    assert "Range of CPUs is from 0.01 to" in res.stderr
    d.docker("update", "--restart", "on-failure:3", "mem", check=True)
    assert d.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "mem", check=True).stdout.strip() == (
        "on-failure"
    )
    res = d.docker("run", "--rm", "-m", "2m", "busybox", "true")
    assert res.returncode == 125 and "Minimum memory limit allowed is 6MB" in res.stderr


def test_security_defaults_seen_from_inside(clean: Daemon) -> None:
    d = clean
    assert _status(d, field="CapEff") == "00000000a80425fb"
    assert _status(d, "--cap-drop", "CHOWN", field="CapEff") == "00000000a80425fa"
    assert _status(d, field="Seccomp") == "2"
    assert _status(d, field="NoNewPrivs") == "0"
    assert _status(d, "--security-opt", "no-new-privileges", field="NoNewPrivs") == "1"
    assert _status(d, "--security-opt", "seccomp=unconfined", field="Seccomp") == "0"
    res = d.docker("run", "--rm", "busybox", "sh", "-c", "mount -t tmpfs x /tmp")
    assert res.returncode != 0 and "permission denied" in res.stderr
    assert d.docker("run", "--rm", "busybox", "cat", "/proc/timer_list", check=True).stdout == ""
    res = d.docker("run", "--rm", "busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/domainname")
    assert "Read-only file system" in res.stderr
    devices = d.docker("run", "--rm", "busybox", "ls", "/dev", check=True).stdout.split()
    assert not [x for x in devices if re.match(r"(sd|vd|nvme|xvd|loop)", x)]
    # apparmor is accepted as Docker accepts it on a host without AppArmor
    d.docker("run", "--rm", "--security-opt", "apparmor=docker-default", "busybox", "true", check=True)


def test_privileged_read_only_tmpfs_and_friends(clean: Daemon) -> None:
    d = clean
    priv = d.docker(
        "run", "--rm", "--privileged", "busybox", "sh", "-c",
        "mount -t tmpfs x /tmp && echo mounted; grep CapEff /proc/self/status; grep Seccomp: /proc/self/status",
        check=True,
    ).stdout  # fmt: skip
    assert "mounted" in priv and "Seccomp:\t0" in priv
    with open("/proc/self/status") as f:
        ours = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert priv.split("CapEff:")[1].split()[0] == ours  # every capability the daemon holds
    res = d.docker(
        "run", "--rm", "--read-only", "--tmpfs", "/x", "busybox", "sh", "-c", "touch /x/ok && echo ok; touch /y"
    )  # fmt: skip
    assert res.stdout == "ok\n" and "Read-only file system" in res.stderr
    assert d.docker("run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn",
                    check=True).stdout.split() == ["100", "200"]  # fmt: skip
    shm = d.docker("run", "--rm", "--shm-size", "8m", "busybox", "df", "-k", "/dev/shm", check=True).stdout
    assert shm.splitlines()[1].split()[1] == "8192"
    assert d.docker("run", "--rm", "--sysctl", "net.ipv4.ip_forward=0", "busybox", "cat",
                    "/proc/sys/net/ipv4/ip_forward", check=True).stdout == "0\n"  # fmt: skip
    # The init fails after its namespaces exist, while the daemon wires its network: its own
    # error is the one reported (not the network's, nor a monitor gone), each time.
    for _ in range(5):
        res = d.docker("run", "--rm", "--sysctl", "net.ipv4.no_such_key=1", "busybox", "true")
        assert res.returncode == 125, res.stderr
        assert "OCI runtime create failed: write sysctl key net.ipv4.no_such_key" in res.stderr
    assert d.docker("ps", "-aq", check=True).stdout == ""
    res = d.docker("run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=0", "busybox", "true")
    assert res.returncode == 125 and "not allowed in host network namespace" in res.stderr
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == "1\n"  # the host's is untouched
    host_pids = d.docker("run", "--rm", "--pid", "host", "busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'").stdout
    assert int(host_pids) > 20
    assert d.docker("run", "--rm", "--ipc", "host", "busybox", "ls", "-d", "/dev/shm", check=True).stdout


def test_docker_py_stats_and_update(clean: Daemon, docker_client: object) -> None:
    import docker

    assert isinstance(docker_client, docker.DockerClient)
    c = docker_client.containers.run("busybox", ["sleep", "300"], detach=True, mem_limit="48m")
    try:
        s = c.stats(stream=False)
        for key in ("cpu_stats", "precpu_stats", "memory_stats", "blkio_stats", "pids_stats", "networks"):
            assert key in s, key
        assert s["memory_stats"]["limit"] == 48 << 20
        assert s["precpu_stats"]["cpu_usage"]["total_usage"] > 0  # a real previous sample
        assert s["pids_stats"]["current"] == 1
        c.update(mem_limit="64m", memswap_limit="128m")
        c.reload()
        assert c.attrs["HostConfig"]["Memory"] == 64 << 20
        stream = c.stats(stream=True, decode=True)
        first, second = next(stream), next(stream)
        assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    finally:
        c.remove(force=True)
    stopped = docker_client.containers.create("busybox", ["true"])
    try:
        s = stopped.stats(stream=False)
        assert s["read"] == "0001-01-01T00:00:00Z" and s["name"] == "/" + stopped.name
    finally:
        stopped.remove()


def test_info_reports_cgroups_and_security(clean: Daemon, docker_client: object) -> None:
    import docker

    assert isinstance(docker_client, docker.DockerClient)
    info = docker_client.info()
    assert info["CgroupDriver"] == "cgroupfs"
    assert info["CgroupVersion"] in ("1", "2")
    assert "name=seccomp,profile=builtin" in info["SecurityOptions"]
    assert not any("apparmor" in o for o in info["SecurityOptions"])  # this kernel has none
    assert "runc" in info["Runtimes"] and info["DefaultRuntime"] == "ballena"
