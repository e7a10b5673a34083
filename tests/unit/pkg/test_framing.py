from ballena.pkg import framing


def test_frames_roundtrip_in_pieces() -> None:
    data = framing.encode_json({"op": "kill"}) + framing.encode(framing.STDOUT, b"hello")
    d = framing.Decoder()
    got = []
    for i in range(len(data)):
        got += d.feed(data[i : i + 1])
    assert got == [(framing.JSON, b'{"op":"kill"}'), (framing.STDOUT, b"hello")]
