import pytest

from ballena.core.containerconfig import HostConfig, Resources, RestartPolicy, ThrottleDevice, UpdateConfig
from ballena.errors import InvalidArgument
from ballena.services import resources


@pytest.mark.parametrize(
    ("r", "message"),
    [
        (Resources(memory=4 << 20), "Minimum memory limit allowed is 6MB"),
        (Resources(memory=64 << 20, memory_swap=32 << 20), "Minimum memoryswap limit should be larger than memory limit, see usage"),
        (Resources(memory_swap=64 << 20), "You should always set the Memory limit when using Memoryswap limit, see usage"),
        (Resources(memory_swappiness=101), "Invalid value: 101, valid memory swappiness range is 0-100"),
        (Resources(memory_reservation=1 << 20), "Minimum memory reservation allowed is 6MB"),
        (Resources(memory=64 << 20, memory_reservation=128 << 20), "Minimum memory limit can not be less than memory reservation limit, see usage"),
        (Resources(nano_cpus=10**9, cpu_period=100000), "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (Resources(nano_cpus=10**9, cpu_quota=50000), "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (Resources(cpu_period=100), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        (Resources(cpu_quota=500), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (Resources(cpuset_cpus="0-a"), "Invalid value 0-a for cpuset cpus"),
        (Resources(blkio_weight=5), "Range of blkio weight is from 10 to 1000"),
        (Resources(pids_limit=-2), "invalid PIDs limit: must be -1, 0 or a positive number"),
    ],
)  # fmt: skip
def test_validation_in_dockerds_words(r: Resources, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        resources.validate(r)
    assert e.value.message == message


def test_too_many_cpus() -> None:
    with pytest.raises(InvalidArgument) as e:
        resources.validate(Resources(nano_cpus=10**6 * 10**9))
    assert e.value.message.startswith("Range of CPUs is from 0.01 to")


def test_cpus_not_on_this_host() -> None:
    with pytest.raises(InvalidArgument) as e:
        resources.validate(Resources(cpuset_cpus="4096"))
    assert e.value.message.startswith("Requested CPUS are not available - requested 4096, available: ")


def test_oom_kill_disabled_without_a_limit_warns() -> None:
    assert resources.validate(Resources(oom_kill_disable=True))[0].startswith("OOM killer is disabled")


def test_oci_resources() -> None:
    r = resources.oci(
        Resources(memory=64 << 20, cpu_shares=512, nano_cpus=1_500_000_000, pids_limit=20, memory_swappiness=0)
    )
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "swappiness": 0}
    assert r["cpu"] == {"shares": 512, "period": 100000, "quota": 150000}
    assert r["pids"] == {"limit": 20}
    assert resources.oci(Resources()) == {}
    assert resources.oci(Resources(pids_limit=0)) == {}  # 0 means unlimited, nothing to write


def test_a_throttled_device_must_exist() -> None:
    with pytest.raises(InvalidArgument):
        resources.oci(Resources(blkio_device_read_bps=(ThrottleDevice(path="/dev/nope", rate=1),)))
    assert resources.oci(Resources(blkio_device_read_bps=(ThrottleDevice(path="/dev/null", rate=5),)))["blockIO"] == {
        "throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 5}]
    }


def test_update_changes_only_what_is_given() -> None:
    hc = HostConfig(resources=Resources(memory=64 << 20, memory_swap=128 << 20, cpu_shares=100, pids_limit=50))
    new, apply = resources.merge_update(hc, UpdateConfig(resources=Resources(cpu_shares=200)))
    assert new.resources.cpu_shares == 200 and new.resources.memory == 64 << 20 and new.resources.pids_limit == 50
    assert apply == {"cpu": {"shares": 200}}


def test_update_writes_memory_with_its_swap() -> None:
    hc = HostConfig(resources=Resources(memory=64 << 20, memory_swap=256 << 20))
    new, apply = resources.merge_update(hc, UpdateConfig(resources=Resources(memory=128 << 20)))
    assert apply["memory"] == {"limit": 128 << 20, "swap": 256 << 20}


def test_update_refuses_memory_above_the_swap_already_set() -> None:
    hc = HostConfig(resources=Resources(memory=64 << 20, memory_swap=128 << 20))
    with pytest.raises(InvalidArgument) as e:
        resources.merge_update(hc, UpdateConfig(resources=Resources(memory=256 << 20)))
    assert "Memory limit should be smaller than already set memoryswap limit" in e.value.message


def test_nano_cpus_replace_period_and_quota() -> None:
    hc = HostConfig(resources=Resources(cpu_period=100000, cpu_quota=50000))
    new, _ = resources.merge_update(hc, UpdateConfig(resources=Resources(nano_cpus=10**9)))
    assert (new.resources.cpu_period, new.resources.cpu_quota, new.resources.nano_cpus) == (0, 0, 10**9)


def test_pids_limit_zero_is_a_change() -> None:
    hc = HostConfig(resources=Resources(pids_limit=50))
    new, apply = resources.merge_update(hc, UpdateConfig(resources=Resources(pids_limit=0)))
    assert new.resources.pids_limit == 0 and apply == {}


def test_restart_policy_updates_and_autoremove_forbids_them() -> None:
    new, _ = resources.merge_update(HostConfig(), UpdateConfig(restart_policy=RestartPolicy(name="always")))
    assert new.restart_policy.name == "always"
    with pytest.raises(InvalidArgument):
        resources.merge_update(HostConfig(auto_remove=True), UpdateConfig(restart_policy=RestartPolicy(name="always")))
