"""What every command shares: docker's table layout, --format, filters, and going on past a
failed name as `docker stop a b` does."""

from __future__ import annotations

import pytest

from ballena.cli.common import UsageError, filters_param, for_each, parse_filters, render, tabwrite
from ballena.client.api import APIError


def test_tabwrite_pads_as_gos_tabwriter_with_dockers_settings() -> None:
    out = tabwrite([["CONTAINER ID", "NAMES"], ["abc", "web"]])
    assert out.splitlines() == ["CONTAINER ID   NAMES", "abc            web"]
    assert tabwrite([["A", "B"], ["x", ""]]).splitlines()[1] == "x"  # no trailing blanks
    assert tabwrite([]) == ""


def test_render_table_json_and_templates() -> None:
    items = [{"ID": "1", "Name": "a"}, {"ID": "2", "Name": "b"}]
    table = render(items, None, default="table {{.ID}}\t{{.Name}}", headers={"ID": "ID", "Name": "NAME"})
    assert table.splitlines()[0].split() == ["ID", "NAME"]
    assert render(items, "json", default="", headers={}) == '{"ID":"1","Name":"a"}\n{"ID":"2","Name":"b"}'
    assert render(items, "{{.Name}}-{{.ID}}", default="", headers={}) == "a-1\nb-2"
    with pytest.raises(UsageError) as e:
        render(items, "{{.Name", default="", headers={})
    assert e.value.code == 64


def test_filters_as_the_docker_cli_sends_them() -> None:
    assert parse_filters(["label=a=b", "status=exited", "status=created"]) == {
        "label": ["a=b"],
        "status": ["exited", "created"],
    }
    assert parse_filters(None) is None and filters_param([]) is None
    with pytest.raises(UsageError):
        parse_filters(["nonsense"])


def test_for_each_goes_on_and_fails_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    def stop(name: str) -> None:
        if name == "b":
            raise APIError(404, "No such container: b")

    assert for_each(["a", "b", "c"], stop) == 1
    out, err = capsys.readouterr()
    assert out.split() == ["a", "c"] and err.strip() == "Error response from daemon: No such container: b"
