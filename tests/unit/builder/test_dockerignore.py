"""``.dockerignore`` matching with moby's patternmatcher semantics."""

from __future__ import annotations

import pytest

from ballena.builder.dockerignore import Matcher, parse


def test_parse_cleans_and_skips_comments() -> None:
    text = "# a comment\n\n  /secret.txt  \n./logs/\n!logs/keep.log\nfoo/../bar\n"
    assert parse(text) == ["secret.txt", "logs", "!logs/keep.log", "bar"]


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.log"], "a.log", True),
        (["*.log"], "dir/a.log", False),  # "*" never crosses a "/"
        (["**/*.log"], "dir/sub/a.log", True),
        (["**/*.log"], "a.log", True),
        (["dir"], "dir/deep/file", True),  # a matched parent excludes what is below it
        (["dir/*"], "dir", False),
        (["*.log", "!keep.log"], "keep.log", False),
        (["!keep.log", "*.log"], "keep.log", True),  # the last matching pattern decides
        (["file?.txt"], "file1.txt", True),
        (["file?.txt"], "file10.txt", False),
        (["[a-c].txt"], "b.txt", True),
        (["[!a-c].txt"], "b.txt", False),
        (["[^a-c].txt"], "d.txt", True),
        (["."], "anything", False),  # "." would drop the whole context; moby ignores it
    ],
)
def test_matching(patterns: list[str], path: str, excluded: bool) -> None:
    assert Matcher(parse("\n".join(patterns))).excluded(path) is excluded


def test_has_exclusions() -> None:
    assert not Matcher(["a", "b"]).has_exclusions()
    assert Matcher(["a", "!a/b"]).has_exclusions()


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["with space.txt"], "with space.txt", True),
        (["\\#hash"], "#hash", True),
        (["node_modules", "!node_modules/keep"], "node_modules/keep", False),
        (["node_modules", "!node_modules/keep"], "node_modules/other", True),
        (["**"], "anything/at/all", True),
        (["a/**/b"], "a/x/y/b", True),
        (["a/**/b"], "a/b", True),
        (["*/temp*"], "somedir/temporary.txt", True),
        (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
        (["temp?"], "temp1", True),
    ],
)
def test_more_of_dockers_examples(patterns: list[str], path: str, excluded: bool) -> None:
    assert Matcher(parse("\n".join(patterns))).excluded(path) is excluded
