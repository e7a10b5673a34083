import pytest

from ballena.cli.common import render, tabwrite
from ballena.cli.flags import FlagError, FlagSet
from ballena.cli.gotemplate import Template, TemplateError

DATA = {
    "Id": "sha256:abc",
    "RepoTags": ["a:1", "b:2"],
    "Config": {"Cmd": ["sh"], "Env": None, "Labels": {}},
    "State": {"Pid": 1234, "Running": True},
    "Size": 4261550,
}


@pytest.mark.parametrize(
    ("tmpl", "expected"),
    [
        ("{{.Id}} {{.RepoTags}} {{.Config.Cmd}}", "sha256:abc [a:1 b:2] [sh]"),
        ("{{json .Config}}", '{"Cmd":["sh"],"Env":null,"Labels":{}}'),
        ("{{range .RepoTags}}[{{.}}]{{end}}", "[a:1][b:2]"),
        ("{{if .State.Running}}yes{{else}}no{{end}}", "yes"),
        ('{{join .RepoTags ","}}', "a:1,b:2"),
        ("{{.Config.Missing}}", "<no value>"),
        ("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", "0=a:1 1=b:2 "),
        ("{{with .State}}{{.Pid}}{{end}}", "1234"),
        ("{{index .RepoTags 1}}", "b:2"),
        ("{{.Config.Labels}}", "map[]"),
        ('{{if and .State.Running (eq .Id "sha256:abc")}}ok{{end}}', "ok"),
        ('a {{- " b " -}} c', "a b c"),
        ('{{printf "%s-%d" .Id 3}}', "sha256:abc-3"),
    ],
)
def test_go_template(tmpl: str, expected: str) -> None:
    assert Template(tmpl).execute(DATA) == expected


def test_template_errors() -> None:
    with pytest.raises(TemplateError):
        Template("{{if .X}}never closed")


def test_tabwriter_matches_docker_layout() -> None:
    text = tabwrite([["REPOSITORY", "TAG", "IMAGE ID"], ["busybox", "latest", "0123456789ab"]])
    assert text.splitlines() == ["REPOSITORY   TAG       IMAGE ID", "busybox      latest    0123456789ab"]


def test_render_table_and_json() -> None:
    rows = [{"Repository": "busybox", "Tag": "latest"}]
    assert (
        render(
            rows, None, default="table {{.Repository}}\t{{.Tag}}", headers={"Repository": "REPOSITORY", "Tag": "TAG"}
        ).splitlines()[0]
        == "REPOSITORY   TAG"
    )
    assert render(rows, "json", default="", headers={}) == '{"Repository":"busybox","Tag":"latest"}'


def test_flags_follow_pflag() -> None:
    p = FlagSet("ballena run", "ballena run [OPTIONS] IMAGE", interspersed=False, min_args=1)
    p.bool("detach", "d")
    p.bool("interactive", "i")
    p.bool("tty", "t")
    p.list("env", "e")
    p.str("name")
    v = p.parse(["-it", "-e", "A=1", "-eB=2", "--name=x", "busybox", "sh", "-c", "ls -l"])
    assert v.interactive and v.tty and not v.detach and v.env == ["A=1", "B=2"] and v.name == "x"
    assert v.args == ["busybox", "sh", "-c", "ls -l"]
    assert p.parse(["--detach=false", "img"]).detach is False
    with pytest.raises(FlagError) as e:
        p.parse(["--nope", "img"])
    assert e.value.message.startswith("unknown flag: --nope") and e.value.code == 125
    with pytest.raises(FlagError) as e:
        p.parse([])
    assert e.value.code == 1 and '"ballena run" requires at least 1 argument.' in e.value.message
