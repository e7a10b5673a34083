import pytest

from ballena.errors import InvalidArgument
from ballena.pkg.filters import Filters


def test_parse_both_of_dockers_shapes() -> None:
    f = Filters.parse('{"dangling":["true"],"label":{"a=b":true}}', accepted={"dangling", "label"})
    assert f.bool_value("dangling") is True
    assert f.match_labels("label", {"a": "b"}) and not f.match_labels("label", {"a": "c"})


def test_unknown_filters_are_refused_in_dockers_words() -> None:
    with pytest.raises(InvalidArgument) as e:
        Filters.parse('{"nope":["x"]}', accepted={"dangling"})
    assert e.value.message == "invalid filter 'nope'"


@pytest.mark.parametrize("raw", ["", None, "{}"])
def test_empty(raw: str | None) -> None:
    f = Filters.parse(raw, accepted={"label"})
    assert "label" not in f and f.get("label") == ()


@pytest.mark.parametrize(("labels", "ok"), [({"a": "1"}, True), ({"a": "2"}, False), ({}, False)])
def test_label_with_value(labels: dict[str, str], ok: bool) -> None:
    assert Filters.parse('{"label":["a=1"]}', accepted={"label"}).match_labels("label", labels) is ok


def test_label_key_only() -> None:
    f = Filters.parse('{"label":["a"]}', accepted={"label"})
    assert f.match_labels("label", {"a": "anything"}) and not f.match_labels("label", {"b": "x"})


def test_bad_json_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        Filters.parse("{not json", accepted={"label"})
