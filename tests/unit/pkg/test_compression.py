"""Layer streams in any compression: detected by their magic, read back whole, and corrupt data
a clear InvalidArgument (a 400), never the decompressor's own exception."""

from __future__ import annotations

import io
import os

import pytest

from ballena.errors import InvalidArgument
from ballena.pkg.compression import detect, gzip_writer, open_decompressed

DATA = os.urandom(1 << 16) + b"tail" * 1000


def gzipped(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip_writer(buf) as w:
        w.write(data)
    return buf.getvalue()


def test_detect_by_magic() -> None:
    assert detect(b"\x1f\x8b\x08\x00") == "gzip"
    assert detect(b"\x28\xb5\x2f\xfd") == "zstd"
    assert detect(b"usta") == "none" and detect(b"") == "none"


def test_gzip_and_plain_read_back_whole() -> None:
    stream, kind = open_decompressed(io.BytesIO(gzipped(DATA)))
    assert kind == "gzip" and stream.read() == DATA
    stream, kind = open_decompressed(io.BytesIO(DATA))
    assert kind == "none" and stream.read() == DATA


def test_zstd_reads_back_when_the_package_is_there() -> None:
    zstandard = pytest.importorskip("zstandard")
    stream, kind = open_decompressed(io.BytesIO(zstandard.ZstdCompressor().compress(DATA)))
    assert kind == "zstd" and stream.read() == DATA


@pytest.mark.parametrize("cut", [20, 100, -8])
def test_corrupt_or_cut_gzip_is_invalid_argument(cut: int) -> None:
    data = bytearray(gzipped(DATA))
    if cut > 0:
        data[cut : cut + 8] = b"\xff" * 8  # damaged in the middle
    else:
        data = data[:cut]  # trailer cut off
    stream, _ = open_decompressed(io.BytesIO(bytes(data)))
    with pytest.raises(InvalidArgument) as e:
        while stream.read(1 << 16):
            pass
    assert e.value.message.startswith("invalid gzip data")
