from ballena.core.volumes import MountPoint
from ballena.pkg import records


def test_mount_points_show_as_docker_inspect_does() -> None:
    bind = records.encode(MountPoint(type="bind", source="/h", destination="/c", rw=False, propagation="rprivate"))
    assert bind == {
        "Type": "bind",
        "Source": "/h",
        "Destination": "/c",
        "Mode": "",
        "RW": False,
        "Propagation": "rprivate",
    }
    vol = records.encode(
        MountPoint(type="volume", name="v", source="/var/lib/v", destination="/d", driver="local", mode="z")
    )
    assert vol["Name"] == "v" and vol["Driver"] == "local"


def test_our_fields_stay_private() -> None:
    mp = MountPoint(type="tmpfs", destination="/t", tmpfs_options={"size": 1}, copy_image_data=False)
    assert "_Tmpfs" not in records.encode(mp)
    assert records.decode(MountPoint, records.encode(mp, private=True), private=True) == mp
