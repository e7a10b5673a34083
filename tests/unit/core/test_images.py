from ballena.core.images import Image


def _img(config: dict[str, object], chains: tuple[str, ...] = ()) -> Image:
    return Image(
        id="sha256:x",
        parent="",
        created_ns=0,
        last_tag_ns=0,
        size=0,
        chain_ids=chains,
        repo_tags=(),
        repo_digests=(),
        config=config,
    )


def test_run_config_and_labels() -> None:
    img = _img({"config": {"Cmd": ["sh"], "Labels": {"a": "b"}}})
    assert img.run_config == {"Cmd": ["sh"], "Labels": {"a": "b"}} and img.labels == {"a": "b"}
    assert _img({}).run_config == {} and _img({"config": None}).labels == {}


def test_top_layer() -> None:
    assert _img({}, ("c1", "c2")).top_layer == "c2" and _img({}).top_layer is None
