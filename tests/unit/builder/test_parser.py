"""Every case of BuildKit's parser test data (../shared/testdata/dockerfile-parser)."""

from pathlib import Path

import pytest

from ballena.builder.parser import ParseError, dump, parse, parse_line
from ballena.builder.shell import Lexer, ShellError

DATA = Path(__file__).resolve().parents[4] / "shared" / "testdata" / "dockerfile-parser"
CASES = sorted(p.name for p in (DATA / "cases").iterdir()) if DATA.exists() else []
NEGATIVE = sorted(p.name for p in (DATA / "negative").iterdir()) if DATA.exists() else []


@pytest.mark.parametrize("case", CASES)
def test_case(case: str) -> None:
    text = (DATA / "cases" / case / "Dockerfile").read_text(encoding="utf-8")
    expected = (DATA / "cases" / case / "result").read_text(encoding="utf-8")
    assert dump(parse(text)) == expected


@pytest.mark.parametrize("case", NEGATIVE)
def test_negative(case: str) -> None:
    with pytest.raises(ParseError):
        parse((DATA / "negative" / case / "Dockerfile").read_text(encoding="utf-8"))


def _env_var_cases() -> list[tuple[str, str]]:
    out = []
    if not DATA.exists():
        return out
    for line in (DATA / "shell" / "envVarTest").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("|")
        platform, source, expected = parts[0].strip(), parts[1].strip(), parts[2].strip()
        if platform in ("A", "U"):
            out.append((source, expected))
    return out


@pytest.mark.parametrize(("source", "expected"), _env_var_cases())
def test_env_var_expansion(source: str, expected: str) -> None:
    env = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
    if expected == "error":
        with pytest.raises(ShellError):
            Lexer().process_word(source, env)
    else:
        assert Lexer().process_word(source, env) == expected


def test_word_splitting() -> None:
    if not DATA.exists():
        pytest.skip("no shared test data")
    env: dict[str, str] = {}
    for line in (DATA / "shell" / "wordsTest").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            k, _, v = line[4:].partition("=")
            env[k] = v
            continue
        source, _, expected = line.partition("|")
        expected = expected.lstrip(" ")
        if expected == "error":
            with pytest.raises(ShellError):
                Lexer().process_words(source.strip(), env)
        else:
            assert Lexer().process_words(source.strip(), env) == expected.split(","), source


def test_line_numbers_in_errors() -> None:
    with pytest.raises(ParseError) as e:
        parse("FROM busybox\n\nENV PATH\n")
    assert e.value.message == "dockerfile parse error on line 3: ENV must have two arguments"


def test_heredoc() -> None:
    r = parse("FROM busybox\nRUN <<EOF\necho hi\nEOF\nCOPY <<-END /x\n\tline\n\tEND\n")
    run, copy = r.nodes[1], r.nodes[2]
    assert run.heredocs[0].name == "EOF" and run.heredocs[0].content == "echo hi\n"
    assert copy.heredocs[0].chomp and copy.args == ["<<-END", "/x"]


def test_parse_line_for_changes() -> None:
    n = parse_line('CMD ["sh", "-c", "echo hi"]')
    assert n.cmd == "cmd" and n.json and n.args == ["sh", "-c", "echo hi"]
