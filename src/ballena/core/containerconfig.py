"""What a client asks a container to be, typed: Docker's ``Config`` (portable: command,
environment, ports, volumes, healthcheck), ``HostConfig`` (this host: resources, mounts,
namespaces, networking mode, restart policy) and ``NetworkingConfig``.

The records mirror moby's Go structs field for field; ``records.tag`` says, beside each field,
its JSON name and rules (as a Go struct tag does), so ``records.decode`` reads a request body
into them and ``records.encode`` writes them back for ``docker inspect`` and our own files.
Services read attributes, never keys. Defaults are Go's zero values, which is what dockerd
records for a field the client left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ballena.pkg.records import tag

__all__ = [
    "BindOptions",
    "ContainerConfig",
    "DeviceMapping",
    "DeviceRequest",
    "DriverConfig",
    "EndpointIPAMConfig",
    "EndpointSettings",
    "ExecCreate",
    "ExecStart",
    "HealthConfig",
    "HostConfig",
    "LogConfig",
    "Mount",
    "NetworkingConfig",
    "PortBinding",
    "Resources",
    "RestartPolicy",
    "ThrottleDevice",
    "TmpfsOptions",
    "Ulimit",
    "UpdateConfig",
    "VolumeOptions",
    "WeightDevice",
]

_PASCAL = "pascal"


def _dict() -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """A healthcheck: ``test`` is ``[]`` (inherit), ``["NONE"]``, ``["CMD", args...]`` or
    ``["CMD-SHELL", command]``; durations are nanoseconds (0: Docker's default)."""

    __json_case__: ClassVar[str] = _PASCAL
    test: tuple[str, ...] = tag(default=(), omitempty=True)
    interval: int = tag(default=0, omitempty=True)
    timeout: int = tag(default=0, omitempty=True)
    start_period: int = tag(default=0, omitempty=True)
    start_interval: int = tag(default=0, omitempty=True)
    retries: int = tag(default=0, omitempty=True, go="int")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """Docker's ``Config``: what a container runs, whatever the host."""

    __json_case__: ClassVar[str] = _PASCAL
    __go_name__: ClassVar[str] = "Config"
    hostname: str = tag(default="")
    domainname: str = tag(default="")
    user: str = tag(default="")
    attach_stdin: bool = tag(default=False)
    attach_stdout: bool = tag(default=False)
    attach_stderr: bool = tag(default=False)
    exposed_ports: tuple[str, ...] | None = tag(default=None, keyset=True, omitempty=True, go="nat.PortSet")
    tty: bool = tag(default=False)
    open_stdin: bool = tag(default=False)
    stdin_once: bool = tag(default=False)
    env: tuple[str, ...] | None = tag(default=None)
    cmd: tuple[str, ...] | None = tag(default=None, strslice=True, go="strslice.StrSlice")
    healthcheck: HealthConfig | None = tag(default=None, omitempty=True)
    args_escaped: bool = tag(default=False, omitempty=True)
    image: str = tag(default="")
    volumes: tuple[str, ...] | None = tag(default=None, keyset=True)
    working_dir: str = tag(default="")
    entrypoint: tuple[str, ...] | None = tag(default=None, strslice=True, go="strslice.StrSlice")
    network_disabled: bool = tag(default=False, omitempty=True)
    mac_address: str = tag(default="", omitempty=True)
    on_build: tuple[str, ...] | None = tag("OnBuild", default=None)
    labels: Mapping[str, str] | None = tag(default=None)
    stop_signal: str = tag(default="", omitempty=True)
    stop_timeout: int | None = tag(default=None, omitempty=True, go="*int")
    shell: tuple[str, ...] | None = tag(default=None, strslice=True, omitempty=True, go="strslice.StrSlice")

    def with_(self, **changes: Any) -> ContainerConfig:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    __json_case__: ClassVar[str] = _PASCAL
    name: str = tag(default="", go="container.RestartPolicyMode")
    maximum_retry_count: int = tag(default=0, go="int")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    __json_case__: ClassVar[str] = _PASCAL
    type: str = tag(default="")
    config: Mapping[str, str] | None = tag(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortBinding:
    __json_case__: ClassVar[str] = _PASCAL
    host_ip: str = tag("HostIp", default="")
    host_port: str = tag(default="")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    __json_case__: ClassVar[str] = _PASCAL
    name: str = tag(default="")
    hard: int = tag(default=0)
    soft: int = tag(default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMapping:
    __json_case__: ClassVar[str] = _PASCAL
    path_on_host: str = tag(default="")
    path_in_container: str = tag(default="")
    cgroup_permissions: str = tag(default="")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRequest:
    __json_case__: ClassVar[str] = _PASCAL
    driver: str = tag(default="")
    count: int = tag(default=0, go="int")
    device_i_ds: tuple[str, ...] | None = tag("DeviceIDs", default=None)
    capabilities: tuple[tuple[str, ...], ...] | None = tag(default=None)
    options: Mapping[str, str] | None = tag(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightDevice:
    __json_case__: ClassVar[str] = _PASCAL
    path: str = tag(default="")
    weight: int = tag(default=0, go="uint16")


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleDevice:
    __json_case__: ClassVar[str] = _PASCAL
    path: str = tag(default="")
    rate: int = tag(default=0, go="uint64")


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """The limits of a container (cgroups, ulimits): part of HostConfig, and what
    ``docker update`` changes."""

    __json_case__: ClassVar[str] = _PASCAL
    cpu_shares: int = tag(default=0)
    memory: int = tag(default=0)
    nano_cpus: int = tag(default=0)
    cgroup_parent: str = tag(default="")
    blkio_weight: int = tag(default=0, go="uint16")
    blkio_weight_device: tuple[WeightDevice, ...] | None = tag(default=None)
    blkio_device_read_bps: tuple[ThrottleDevice, ...] | None = tag(default=None)
    blkio_device_write_bps: tuple[ThrottleDevice, ...] | None = tag(default=None)
    blkio_device_read_i_ops: tuple[ThrottleDevice, ...] | None = tag("BlkioDeviceReadIOps", default=None)
    blkio_device_write_i_ops: tuple[ThrottleDevice, ...] | None = tag("BlkioDeviceWriteIOps", default=None)
    cpu_period: int = tag(default=0)
    cpu_quota: int = tag(default=0)
    cpu_realtime_period: int = tag(default=0)
    cpu_realtime_runtime: int = tag(default=0)
    cpuset_cpus: str = tag(default="")
    cpuset_mems: str = tag(default="")
    devices: tuple[DeviceMapping, ...] | None = tag(default=None)
    device_cgroup_rules: tuple[str, ...] | None = tag(default=None)
    device_requests: tuple[DeviceRequest, ...] | None = tag(default=None)
    kernel_memory: int = tag(default=0, omitempty=True)
    kernel_memory_tcp: int = tag("KernelMemoryTCP", default=0, omitempty=True)
    memory_reservation: int = tag(default=0)
    memory_swap: int = tag(default=0)
    memory_swappiness: int | None = tag(default=None)
    oom_kill_disable: bool | None = tag(default=None)
    pids_limit: int | None = tag(default=None)
    ulimits: tuple[Ulimit, ...] | None = tag(default=None)
    cpu_count: int = tag(default=0)
    cpu_percent: int = tag(default=0)
    io_maximum_i_ops: int = tag("IOMaximumIOps", default=0, go="uint64")
    io_maximum_bandwidth: int = tag("IOMaximumBandwidth", default=0, go="uint64")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateConfig:
    """The body of ``POST /containers/{id}/update``."""

    __json_case__: ClassVar[str] = _PASCAL
    resources: Resources = tag(factory=Resources, inline=True)
    restart_policy: RestartPolicy = tag(factory=RestartPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class BindOptions:
    __json_case__: ClassVar[str] = _PASCAL
    propagation: str = tag(default="", omitempty=True)
    non_recursive: bool = tag(default=False, omitempty=True)
    create_mountpoint: bool = tag(default=False, omitempty=True)
    read_only_non_recursive: bool = tag(default=False, omitempty=True)
    read_only_force_recursive: bool = tag(default=False, omitempty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverConfig:
    __json_case__: ClassVar[str] = _PASCAL
    name: str = tag(default="", omitempty=True)
    options: Mapping[str, str] | None = tag(default=None, omitempty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeOptions:
    __json_case__: ClassVar[str] = _PASCAL
    no_copy: bool = tag(default=False, omitempty=True)
    labels: Mapping[str, str] | None = tag(default=None, omitempty=True)
    subpath: str = tag(default="", omitempty=True)
    driver_config: DriverConfig | None = tag(default=None, omitempty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class TmpfsOptions:
    __json_case__: ClassVar[str] = _PASCAL
    size_bytes: int = tag(default=0, omitempty=True)
    mode: int = tag(default=0, omitempty=True, go="os.FileMode")
    options: tuple[tuple[str, ...], ...] | None = tag(default=None, omitempty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """A ``--mount`` as the client asked for it (HostConfig.Mounts)."""

    __json_case__: ClassVar[str] = _PASCAL
    type: str = tag(default="", omitempty=True, go="mount.Type")
    source: str = tag(default="", omitempty=True)
    target: str = tag(default="", omitempty=True)
    read_only: bool = tag(default=False, omitempty=True)
    consistency: str = tag(default="", omitempty=True, go="mount.Consistency")
    bind_options: BindOptions | None = tag(default=None, omitempty=True)
    volume_options: VolumeOptions | None = tag(default=None, omitempty=True)
    tmpfs_options: TmpfsOptions | None = tag(default=None, omitempty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    """Docker's ``HostConfig``: how this host runs the container."""

    __json_case__: ClassVar[str] = _PASCAL
    binds: tuple[str, ...] | None = tag(default=None)
    container_id_file: str = tag("ContainerIDFile", default="")
    log_config: LogConfig = tag(factory=LogConfig)
    network_mode: str = tag(default="", go="container.NetworkMode")
    port_bindings: Mapping[str, tuple[PortBinding, ...] | None] | None = tag(default=None, go="nat.PortMap")
    restart_policy: RestartPolicy = tag(factory=RestartPolicy)
    auto_remove: bool = tag(default=False)
    volume_driver: str = tag(default="")
    volumes_from: tuple[str, ...] | None = tag(default=None)
    console_size: tuple[int, ...] = tag(default=(0, 0), go="[2]uint")
    annotations: Mapping[str, str] | None = tag(default=None, omitempty=True)
    cap_add: tuple[str, ...] | None = tag(default=None, strslice=True)
    cap_drop: tuple[str, ...] | None = tag(default=None, strslice=True)
    cgroupns_mode: str = tag("CgroupnsMode", default="", go="container.CgroupnsMode")
    dns: tuple[str, ...] | None = tag(default=None)
    dns_options: tuple[str, ...] | None = tag(default=None)
    dns_search: tuple[str, ...] | None = tag(default=None)
    extra_hosts: tuple[str, ...] | None = tag(default=None)
    group_add: tuple[str, ...] | None = tag(default=None)
    ipc_mode: str = tag(default="", go="container.IpcMode")
    cgroup: str = tag(default="", go="container.CgroupSpec")
    links: tuple[str, ...] | None = tag(default=None)
    oom_score_adj: int = tag(default=0, go="int")
    pid_mode: str = tag(default="", go="container.PidMode")
    privileged: bool = tag(default=False)
    publish_all_ports: bool = tag(default=False)
    readonly_rootfs: bool = tag(default=False)
    security_opt: tuple[str, ...] | None = tag(default=None)
    storage_opt: Mapping[str, str] | None = tag(default=None, omitempty=True)
    tmpfs: Mapping[str, str] | None = tag(default=None, omitempty=True)
    uts_mode: str = tag("UTSMode", default="", go="container.UTSMode")
    userns_mode: str = tag(default="", go="container.UsernsMode")
    shm_size: int = tag(default=0)
    sysctls: Mapping[str, str] | None = tag(default=None, omitempty=True)
    runtime: str = tag(default="", omitempty=True)
    isolation: str = tag(default="", go="container.Isolation")
    resources: Resources = tag(factory=Resources, inline=True)
    mounts: tuple[Mount, ...] | None = tag(default=None, omitempty=True)
    masked_paths: tuple[str, ...] | None = tag(default=None)
    readonly_paths: tuple[str, ...] | None = tag(default=None)
    init: bool | None = tag(default=None, omitempty=True)

    def with_(self, **changes: Any) -> HostConfig:
        return replace(self, **changes)

    def container_ref(self, mode: str) -> str | None:
        """For a mode of ``container:<name>``, the name; else None."""
        kind, sep, ref = mode.partition(":")
        return ref if sep and kind == "container" else None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointIPAMConfig:
    __json_case__: ClassVar[str] = _PASCAL
    ipv4_address: str = tag("IPv4Address", default="", omitempty=True)
    ipv6_address: str = tag("IPv6Address", default="", omitempty=True)
    link_local_i_ps: tuple[str, ...] | None = tag("LinkLocalIPs", default=None, omitempty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSettings:
    """A container on one network: what the client asked (IPAM config, aliases, links) and,
    while it runs, what it got (addresses, MAC, endpoint ID). ``host_ifname`` and ``ifname``
    (the veth's two ends) are ours."""

    __json_case__: ClassVar[str] = _PASCAL
    ipam_config: EndpointIPAMConfig | None = tag("IPAMConfig", default=None)
    links: tuple[str, ...] | None = tag(default=None)
    aliases: tuple[str, ...] | None = tag(default=None)
    mac_address: str = tag(default="")
    driver_opts: Mapping[str, str] | None = tag(default=None)
    gw_priority: int = tag(default=0, go="int")
    network_id: str = tag("NetworkID", default="")
    endpoint_id: str = tag("EndpointID", default="")
    gateway: str = tag(default="")
    ip_address: str = tag("IPAddress", default="")
    ip_prefix_len: int = tag("IPPrefixLen", default=0, go="int")
    ipv6_gateway: str = tag("IPv6Gateway", default="")
    global_ipv6_address: str = tag("GlobalIPv6Address", default="")
    global_ipv6_prefix_len: int = tag("GlobalIPv6PrefixLen", default=0, go="int")
    dns_names: tuple[str, ...] | None = tag("DNSNames", default=None)
    host_ifname: str = tag("_HostIf", default="", private=True)
    ifname: str = tag("_IfName", default="", private=True)
    desired_mac: str = tag("_DesiredMac", default="", private=True)  # the client's --mac-address

    def with_(self, **changes: Any) -> EndpointSettings:
        return replace(self, **changes)

    def stopped(self) -> EndpointSettings:
        """What a stopped container keeps of it: what the client asked for."""
        return EndpointSettings(
            ipam_config=self.ipam_config,
            links=self.links,
            aliases=self.aliases,
            network_id=self.network_id,
            driver_opts=self.driver_opts,
            mac_address=self.desired_mac,
            desired_mac=self.desired_mac,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkingConfig:
    __json_case__: ClassVar[str] = _PASCAL
    endpoints_config: Mapping[str, EndpointSettings | None] = tag(factory=_dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecCreate:
    """The body of ``POST /containers/{id}/exec``."""

    __json_case__: ClassVar[str] = _PASCAL
    __go_name__: ClassVar[str] = "ExecOptions"
    user: str = tag(default="")
    privileged: bool = tag(default=False)
    tty: bool = tag(default=False)
    console_size: tuple[int, ...] | None = tag(default=None, go="*[2]uint")
    attach_stdin: bool = tag(default=False)
    attach_stderr: bool = tag(default=False)
    attach_stdout: bool = tag(default=False)
    detach: bool = tag(default=False)
    detach_keys: str = tag(default="")
    env: tuple[str, ...] | None = tag(default=None)
    working_dir: str = tag(default="")
    cmd: tuple[str, ...] | None = tag(default=None, strslice=True, go="strslice.StrSlice")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecStart:
    """The body of ``POST /exec/{id}/start``."""

    __json_case__: ClassVar[str] = _PASCAL
    __go_name__: ClassVar[str] = "ExecStartOptions"
    detach: bool = tag(default=False)
    tty: bool | None = tag(default=None)
    console_size: tuple[int, ...] | None = tag(default=None, go="*[2]uint")
