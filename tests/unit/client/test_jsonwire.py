import json
import math

import pytest

from ballena.client import jsonwire

DOCUMENTS = [
    '{"Id": "abc", "Names": ["/x"], "Ports": [], "Labels": {}, "Created": 1700000000, "SizeRw": null}',
    '[{"a": 1.5e3, "b": -0, "c": true, "d": false, "e": "\\u00e9\\n\\"q\\""}]',
    '  \n\t{"nested": {"deep": [[[]]], "big": 123456789012345678901234567890}}\r\n',
    '"a string"',
    "42",
    "[]",
    '{"\u00e9t\u00e9": "caf\u00e9"}',
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_loads_equals_json_loads_for_str_and_utf8_bytes(text: str) -> None:
    assert jsonwire.loads(text) == json.loads(text)
    assert jsonwire.loads(text.encode()) == json.loads(text)


def test_the_constants_json_allows_are_decoded() -> None:
    value = jsonwire.loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(value[0]) and value[1] == math.inf and value[2] == -math.inf


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": }', "[1, 2", "nul", '{"a": 1} x', "[1] [2]", '"\x01"'])
def test_what_json_refuses_is_a_value_error_with_json_wording(text: str) -> None:
    with pytest.raises(ValueError) as ours:
        jsonwire.loads(text)
    with pytest.raises(ValueError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_raw_decode_reads_one_value_of_a_stream_and_says_where_it_ended() -> None:
    stream = '{"status": "a"}\r\n  {"status": "b"}\n'
    first, end = jsonwire.raw_decode(stream)
    second, end2 = jsonwire.raw_decode(stream, end)
    assert (first, second) == ({"status": "a"}, {"status": "b"})
    assert stream[end2:].strip() == ""
    with pytest.raises(ValueError):
        jsonwire.raw_decode('{"status": "par')  # a message not yet whole: the caller waits for more


def test_dumps_is_json_dumps() -> None:
    assert jsonwire.dumps({"label": ["a=b"], "n": 1}) == '{"label": ["a=b"], "n": 1}'
