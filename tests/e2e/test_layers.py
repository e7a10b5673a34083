"""``ballena image layers``: which Dockerfile line made which layer, what it cost, what it wasted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Daemon


def test_layers_name_the_biggest_layer_and_what_a_later_rm_wasted(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN dd if=/dev/zero of=/big bs=1024 count=2048 2>/dev/null\n"
        "RUN rm /big && echo kept > /kept\n"
        "COPY note.txt /note.txt\n"
    )
    (tmp_path / "note.txt").write_text("hola\n")
    d.docker("build", "-q", "-t", "layered", str(tmp_path), check=True)
    table = d.ballena("image", "layers", "layered", check=True).stdout
    assert "From busybox:latest: layer 0\nBiggest layer of its own: 1 (2.1MB) RUN dd if=/dev/zero of=/big" in table, (
        table
    )
    report = json.loads(d.ballena("image", "layers", "--format", "json", "layered", check=True).stdout)
    layers = report["Layers"]
    assert [layer["Index"] for layer in layers] == [0, 1, 2, 3]  # busybox's one layer, then ours
    dd, rm, copy = layers[1], layers[2], layers[3]
    assert dd["Size"] == 2048 * 1024 and dd["Wasted"] == 2048 * 1024 and dd["Added"] == 1
    assert rm["Removed"] == 1 and rm["Added"] == 1 and rm["Wasted"] == 0
    assert copy["CreatedBy"].startswith("COPY") and copy["Added"] == 1
    assert report["Wasted"] >= 2048 * 1024 and 0 < report["Efficiency"] < 1
    tree = d.ballena("image", "layers", "--tree", "1", "layered", check=True).stdout
    assert "+     2.1MB  /big !" in tree, tree
    assert "-        0B  /big" in d.ballena("image", "layers", "--tree", "2", "layered", check=True).stdout
    bad = d.ballena("image", "layers", "--tree", "9", "layered")
    assert bad.returncode == 1 and "layer 9 does not exist: the image has layers 0 to 3" in bad.stderr
    missing = d.ballena("image", "layers", "nosuchimage")
    assert missing.returncode == 1 and "No such image: nosuchimage" in missing.stderr
