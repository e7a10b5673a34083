"""Containers through the docker CLI and docker-py (the containers issue's must-shows)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, monitors_of


def _our_mounts(d: Daemon) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line for line in f if str(d.root) in line]


def _our_cgroups(d: Daemon) -> list[Path]:
    out = []
    for hier in Path("/sys/fs/cgroup").iterdir():
        base = hier / d.root.name
        if base.is_dir():
            out += [p for p in base.iterdir() if p.is_dir()]
    return out


def test_run_rm_echo_leaves_nothing(clean: Daemon) -> None:
    d = clean
    before_cg = set(_our_cgroups(d))
    res = d.docker("run", "--rm", "busybox", "echo", "hola")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hola\n"
    assert d.docker("ps", "-aq").stdout == ""
    assert _our_mounts(d) == [] or all("d.sock" in m for m in _our_mounts(d))
    assert set(_our_cgroups(d)) <= before_cg
    assert not list((d.exec_root / "containers").glob("*"))
    deadline = time.monotonic() + 2
    while monitors_of(d.root) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert monitors_of(d.root) == []


def test_a_created_container_that_never_ran_leaves_no_cgroup(clean: Daemon) -> None:
    """Its cgroup is made at create (the start is faster for it); removal takes it away, and
    an exited container's start makes it again."""
    d = clean
    before = set(_our_cgroups(d))
    cid = d.docker("create", "busybox", "true", check=True).stdout.strip()
    deadline = time.monotonic() + 5
    while not [p for p in _our_cgroups(d) if p.name == cid] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p for p in _our_cgroups(d) if p.name == cid], "made at create"
    d.docker("rm", cid, check=True)
    assert set(_our_cgroups(d)) <= before
    cid = d.docker("create", "busybox", "true", check=True).stdout.strip()
    assert d.docker("start", "-a", cid, check=True).returncode == 0
    assert d.docker("start", "-a", cid, check=True).returncode == 0  # again, after its exit
    d.docker("rm", cid, check=True)
    assert set(_our_cgroups(d)) <= before


def test_the_monitor_check_finds_a_live_monitor(clean: Daemon) -> None:
    """The check above would pass vacuously if it could not see monitors: a running
    container's monitor, deliberately left running, must be found, and only while it runs."""
    d = clean
    cid = d.docker("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    found = monitors_of(d.root)
    assert len(found) == 1
    assert os.readlink(f"/proc/{found[0]}/cwd").endswith(cid)
    d.docker("rm", "-f", cid, check=True)
    deadline = time.monotonic() + 2
    while monitors_of(d.root) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert monitors_of(d.root) == []


def test_exit_codes(clean: Daemon) -> None:
    assert clean.docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    res = clean.docker("run", "--rm", "busybox", "nope")
    assert res.returncode == 127
    assert 'exec: "nope": executable file not found in $PATH' in res.stderr
    res = clean.docker("run", "--rm", "busybox", "/etc")
    assert res.returncode == 126
    res = clean.docker("run", "--rm", "nosuchimage:1", "true")
    assert res.returncode == 125


def test_inside_a_container(clean: Daemon) -> None:
    d = clean
    out = d.docker(
        "run",
        "--name",
        "inside",
        "busybox",
        "sh",
        "-c",
        "echo pid=$$; hostname; ps -o pid | tail -n +2 | sort -n | tail -1; "
        "awk '$5 == \"/\" {print $9}' /proc/1/mountinfo; echo data > /written",
        check=True,
    ).stdout.split()
    cid = d.docker("inspect", "-f", "{{.Id}}", "inside", check=True).stdout.strip()
    assert out[0] == "pid=1"
    assert out[1] == cid[:12]
    assert int(out[2]) < 10  # the highest PID visible: only the container's few processes
    assert out[3] == "overlay"
    res = d.docker("run", "--rm", "busybox", "cat", "/written")
    assert res.returncode == 1 and "No such file" in res.stderr


def test_detached_server_exec_logs_stop_start(clean: Daemon) -> None:
    d = clean
    cid = d.docker("run", "-d", "--name", "web", "busybox", "httpd", "-f", "-p", "8080", check=True).stdout.strip()
    assert len(cid) == 64
    ps = d.docker("exec", "web", "ps", check=True).stdout
    assert "httpd -f -p 8080" in ps
    d.docker("exec", "web", "sh", "-c", "echo out; echo err >&2", check=True)
    d.docker(
        "run", "-d", "--name", "talker", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; sleep 30", check=True
    )
    time.sleep(0.5)
    logs = d.docker("logs", "talker", check=True)
    assert logs.stdout == "to-out\n" and logs.stderr == "to-err\n"
    listing = d.docker("ps", "--format", "{{.Names}} {{.Status}}", check=True).stdout
    assert re.search(r"^web Up ", listing, re.M)
    d.docker("stop", "-t", "1", "web", check=True)
    st = json.loads(d.docker("inspect", "web", check=True).stdout)[0]["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and not st["Running"]
    d.docker("start", "web", check=True)
    assert json.loads(d.docker("inspect", "web", check=True).stdout)[0]["State"]["Running"]
    d.docker("rm", "-f", "web", "talker", check=True)
    assert d.docker("inspect", "web").returncode == 1


def test_exec_stdin_half_close(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    d.docker("run", "-d", "--name", "ex", "busybox", "sleep", "300", check=True)
    assert d.docker("exec", "-i", "ex", "cat", input="abc", check=True).stdout == "abc"
    res = d.docker("exec", "-i", "ex", "sh", "-c", "cat; sleep 0.3; echo -after", input="x", check=True)
    assert res.stdout == "x-after\n"
    blob = os.urandom(1 << 20)
    for _ in range(5):
        out = d.docker_bytes("exec", "-i", "ex", "cat", input=blob)
        assert out.returncode == 0 and out.stdout == blob
    assert d.docker("exec", "ex", "sh", "-c", "exit 5").returncode == 5
    res = d.docker("exec", "ex", "nope")
    assert res.returncode == 127 and "executable file not found" in res.stdout + res.stderr


def test_run_stdin_and_rm(clean: Daemon) -> None:
    res = clean.docker("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input="piped\n")
    assert res.returncode == 0 and res.stdout == "piped\ndone\n"


def test_tty_is_a_real_terminal(clean: Daemon) -> None:
    res = subprocess.run(
        ["script", "-qec", "docker run -it --rm busybox sh -c tty", "/dev/null"],
        env=clean.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert re.search(r"/dev/pts/\d+", res.stdout), res.stdout + res.stderr


def test_runc_runtime(clean: Daemon) -> None:
    res = clean.docker("run", "--rm", "--runtime", "runc", "busybox", "echo", "hola")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hola\n"
    res = clean.docker("run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "exit 4")
    assert res.returncode == 4
    res = clean.docker("run", "--rm", "--runtime", "nosuch", "busybox", "true")
    assert res.returncode == 125 and "Unknown runtime specified nosuch" in res.stderr


@pytest.mark.parametrize("runtime", ["ballena", "runc"])
def test_lifecycle_on_both_runtimes(clean: Daemon, runtime: str) -> None:
    d = clean
    d.docker("run", "-d", "--runtime", runtime, "--name", f"lc-{runtime}", "busybox", "sleep", "300", check=True)
    assert d.docker("exec", f"lc-{runtime}", "echo", "in", check=True).stdout == "in\n"
    d.docker("pause", f"lc-{runtime}", check=True)
    assert "Paused" in d.docker("ps", "--format", "{{.Status}}", "-f", f"name=lc-{runtime}").stdout
    d.docker("unpause", f"lc-{runtime}", check=True)
    d.docker("kill", "-s", "KILL", f"lc-{runtime}", check=True)
    assert d.docker("wait", f"lc-{runtime}", check=True).stdout.strip() == "137"
    d.docker("rm", f"lc-{runtime}", check=True)


def test_names_and_conflicts(clean: Daemon) -> None:
    d = clean
    d.docker("create", "--name", "dup", "busybox", "true", check=True)
    res = d.docker("create", "--name", "dup", "busybox", "true")
    assert res.returncode == 1 and 'The container name "/dup" is already in use by container' in res.stderr
    d.docker("rename", "dup", "dup2", check=True)
    assert d.docker("inspect", "-f", "{{.Name}}", "dup2", check=True).stdout.strip() == "/dup2"
    cid = d.docker("create", "busybox", "true", check=True).stdout.strip()
    name = d.docker("inspect", "-f", "{{.Name}}", cid, check=True).stdout.strip()
    assert re.fullmatch(r"/[a-z]+_[a-z]+\d?", name), name
    res = d.docker("run", "--name", "bad name!", "busybox", "true")
    assert res.returncode == 125 and "Invalid container name" in res.stderr


def test_restart_policy_on_failure(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1", check=True)
    deadline = time.time() + 15
    while time.time() < deadline:
        st = json.loads(d.docker("inspect", "flaky").stdout)[0]
        if st["RestartCount"] == 2 and not st["State"]["Running"] and st["State"]["Status"] == "exited":
            break
        time.sleep(0.2)
    assert st["RestartCount"] == 2 and st["State"]["Status"] == "exited"
    import docker

    api = docker.APIClient(base_url=d.host)
    with pytest.raises(docker.errors.APIError) as err:
        api.create_container(
            "busybox", "true", host_config=api.create_host_config(auto_remove=True, restart_policy={"Name": "always"})
        )
    assert err.value.status_code == 400
    assert "can't create 'AutoRemove' container with restart policy" in str(err.value)


def test_logs_options(clean: Daemon) -> None:
    d = clean
    d.docker("run", "--name", "lg", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done", check=True)
    assert d.docker("logs", "--tail", "2", "lg", check=True).stdout == "line4\nline5\n"
    stamped = d.docker("logs", "-t", "lg", check=True).stdout.splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line1$", stamped[0])
    assert d.docker("logs", "--since", "1h", "lg", check=True).stdout.count("line") == 5
    assert d.docker("logs", "--until", "1h", "lg", check=True).stdout == ""
    follow = subprocess.Popen(["docker", "logs", "-f", "lg"], env=d.env, stdout=subprocess.PIPE, text=True)
    out, _ = follow.communicate(timeout=10)  # the container has exited: -f ends
    assert out.count("line") == 5


def test_counter_survives_daemon_kill9(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    d.docker(
        "run",
        "-d",
        "--name",
        "ctr",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done",
        check=True,
    )
    time.sleep(1)
    d.kill9()
    time.sleep(1.5)
    d.start()
    time.sleep(0.5)
    assert json.loads(d.docker("inspect", "ctr", check=True).stdout)[0]["State"]["Running"]
    numbers = [int(x) for x in d.docker("logs", "ctr", check=True).stdout.split()]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 25
    assert d.docker("exec", "ctr", "true").returncode == 0
    d.docker("stop", "-t", "1", "ctr", check=True)
    d.docker("rm", "ctr", check=True)


def test_container_exits_while_daemon_is_down(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    d.docker("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7", check=True)
    d.docker("run", "-d", "--rm", "--name", "gone", "busybox", "sh", "-c", "sleep 1", check=True)
    d.kill9()
    time.sleep(2)
    d.start()
    st = json.loads(d.docker("inspect", "short", check=True).stdout)[0]["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 7
    assert d.docker("inspect", "gone").returncode == 1  # --rm still applies


def test_docker_py_containers(clean: Daemon, docker_client) -> None:  # type: ignore[no-untyped-def]
    client = docker_client
    c = client.containers.run("busybox", ["sh", "-c", "echo from-py; sleep 300"], detach=True)
    time.sleep(0.3)
    assert b"from-py" in c.logs()
    code, out = c.exec_run(["sh", "-c", "echo hi; exit 3"])
    assert code == 3 and out == b"hi\n"
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.remove()
    assert client.containers.run("busybox", ["echo", "once"], remove=True) == b"once\n"


def test_events_for_the_lifecycle(clean: Daemon) -> None:
    d = clean
    since = str(int(time.time()) - 1)
    d.docker("run", "--name", "evt", "busybox", "sh", "-c", "exit 2")
    d.docker("rm", "evt", check=True)
    until = str(int(time.time()) + 1)
    out = d.docker(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "container=evt",
        "--format",
        '{{.Action}} {{index .Actor.Attributes "exitCode"}}',
        check=True,
    ).stdout
    actions = [line.split()[0] for line in out.splitlines()]
    for a in ("create", "attach", "start", "die", "destroy"):
        assert a in actions, out
    assert "die 2" in out


def test_ballena_cli_run_and_ps(clean: Daemon) -> None:
    d = clean
    res = d.ballena("run", "--rm", "busybox", "echo", "hola")
    assert res.returncode == 0 and res.stdout == "hola\n", res.stderr
    assert d.ballena("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    cid = d.ballena("run", "-d", "--name", "bweb", "busybox", "sleep", "100", check=True).stdout.strip()
    rows = d.ballena("ps", check=True).stdout.splitlines()
    assert rows[0].split()[:2] == ["CONTAINER", "ID"] and any(cid[:12] in r for r in rows)
    assert d.ballena("exec", "bweb", "echo", "x", check=True).stdout == "x\n"
    assert d.ballena("exec", "-i", "bweb", "cat", input="in", check=True).stdout == "in"
    d.ballena("rm", "-f", "bweb", check=True)
