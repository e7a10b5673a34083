import pytest

from ballena.errors import InvalidArgument, NotFound
from ballena.pkg import digest as dg
from ballena.stores.content import LocalContentStore


def test_a_blob_is_invisible_until_commit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    w = cs.writer()
    w.write(b"hello")
    expected = dg.of_bytes(b"hello")
    assert not cs.exists(expected)
    assert w.commit() == expected and cs.read_bytes(expected) == b"hello"
    with pytest.raises(InvalidArgument), cs.writer(expected="sha256:" + "0" * 64) as bad:
        bad.write(b"other")
        bad.commit()
    assert list(cs.walk()) == [expected]


def test_named_ingest_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    w = cs.writer(ref="layer-1")
    w.write(b"hel")
    del w  # interrupted
    assert cs.ingest_offset("layer-1") == 3
    w2 = cs.writer(ref="layer-1", expected=dg.of_bytes(b"hello"))
    assert w2.size == 3
    w2.write(b"lo")
    assert w2.commit() == dg.of_bytes(b"hello")


def test_a_wrong_digest_never_becomes_visible(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    w = cs.writer(expected=dg.of_bytes(b"the truth"))
    w.write(b"a lie")
    with pytest.raises(InvalidArgument):
        w.commit()
    assert list(cs.walk()) == []


def test_put_read_delete(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    d = cs.put_bytes(b"data")
    assert cs.read_bytes(d) == b"data" and cs.size(d) == 4 and list(cs.walk()) == [d]
    cs.delete(d)
    assert not cs.exists(d)
    with pytest.raises(NotFound):
        cs.read_bytes(d)


def test_anonymous_ingests_are_swept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    w = cs.writer()
    w.write(b"half")
    w.keep()
    named = cs.writer(ref="pull-x")
    named.write(b"kept")
    named.keep()
    cs.clean_ingest(keep_named=True)
    assert cs.ingest_offset("pull-x") == 4
