"""atheris harness for :mod:`sipsans.sdp`: ``parse_sdp``, the model and offer/answer.

A bug is any of:

* an exception other than :class:`sipsans.RemoteProtocolError` from ``parse_sdp``;
* a description that parses but whose wire form ``bytes(sd)`` does not parse back to an
  equal description, or is not a fixpoint (``bytes(parse(bytes(sd))) != bytes(sd)``);
* an exception from a view (``codecs``, ``direction``, ``ptime``, ``mid``,
  ``rtcp_port``, ``direction_of``, ``connection_of``, ``fmtp``);
* ``make_answer`` raising anything but ``RemoteProtocolError`` with status hint 488,
  or an answer breaking RFC 3264 §6: not one m= line per offered one with the same
  media type, an offered port 0 answered with another port, a format not offered, a
  direction the offer's does not allow, a t= line unlike the offer's;
* ``hold``/``resume`` of that answer, or a new offer after it, raising, breaking the
  round trip, or ``hold`` leaving a stream that receives.

Run: ``python fuzz/fuzz_sdp.py -max_len=4096 -max_total_time=300 fuzz/.work/sdp
fuzz/corpus/sdp``, or ``python fuzz/fuzz_sdp.py --replay fuzz/corpus/sdp`` without
atheris.
"""

from __future__ import annotations

import sys

from _common import fuzzing_requested, instrumented, main

with instrumented(__name__ == "__main__" and fuzzing_requested(sys.argv)):
    from sipsans import RemoteProtocolError
    from sipsans.sdp import (
        Capabilities,
        Codec,
        Direction,
        MediaCapability,
        SessionDescription,
        hold,
        make_answer,
        make_offer,
        parse_sdp,
        resume,
    )

#: What the answering side can do; the input's length picks one, so that streams are
#: matched, refused and used up under several local preferences.
CAPABILITIES = (
    Capabilities(
        "192.0.2.10",
        (
            MediaCapability.of("audio", 40000, ("PCMU", "PCMA", "opus/48000/2", "telephone-event")),
            MediaCapability.of("video", 40002, ("H264", Codec("VP8", 90000, fmtp="max-fr=30"))),
            MediaCapability.of("audio", 40004, ("G722",), proto="RTP/SAVP", ptime=30),
        ),
    ),
    Capabilities.audio(
        host="2001:db8::10",
        codecs=("PCMU", Codec("telephone-event", 8000, fmtp="0-15"), "CN"),
        direction=Direction.RECVONLY,
        ptime=20,
    ),
    Capabilities(
        "192.0.2.10",
        (
            MediaCapability.of(
                "audio",
                40000,
                ("opus/48000/2", "G722", "telephone-event/48000"),
                proto="UDP/TLS/RTP/SAVPF",
                direction=Direction.SENDONLY,
                host="192.0.2.11",
            ),
            MediaCapability.of("video", 40002, ("VP8",), proto="UDP/TLS/RTP/SAVPF"),
        ),
    ),
)


def _round_trip(sd: SessionDescription) -> bytes:
    wire = bytes(sd)
    try:
        again = parse_sdp(wire)
    except RemoteProtocolError as exc:
        raise AssertionError(f"bytes(sd) does not parse back: {exc!r}\n{wire!r}") from exc
    assert again == sd, (sd, again, wire)
    assert bytes(again) == wire, (wire, bytes(again))
    return wire


def _read_views(sd: SessionDescription) -> None:
    _ = sd.direction, sd.version, sd.session_id
    for media in sd.media:
        for codec in media.codecs:
            assert codec.payload_type is not None
            media.fmtp(codec.payload_type)
        _ = media.direction, media.ptime, media.mid, media.rtcp_port, media.is_rtp
        sd.direction_of(media)
        sd.connection_of(media)


def _check_answer(offer: SessionDescription, answer: SessionDescription) -> None:
    assert len(answer.media) == len(offer.media), (offer, answer)
    assert answer.times == offer.times
    for offered, answered in zip(offer.media, answer.media, strict=True):
        assert answered.media == offered.media, (offered, answered)
        if offered.port == 0:
            assert answered.port == 0, (offered, answered)
        if answered.port == 0:
            continue
        assert set(answered.formats) <= set(offered.formats), (offered, answered)
        wanted = offer.direction_of(offered)
        given = answer.direction_of(answered)
        assert not (given.sends and not wanted.receives), (offered, answered)
        assert not (given.receives and not wanted.sends), (offered, answered)


def one_input(data: bytes) -> None:
    try:
        offer = parse_sdp(data)
    except RemoteProtocolError as exc:
        assert isinstance(exc.status_hint, int), exc
        assert str(exc).startswith("SDP"), exc
        return
    _round_trip(offer)
    _read_views(offer)
    capabilities = CAPABILITIES[len(data) % len(CAPABILITIES)]
    try:
        answer = make_answer(offer, capabilities, session_id=1)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 488, exc
        return
    _round_trip(answer)
    _check_answer(offer, answer)
    held = hold(answer)
    _round_trip(held)
    assert all(not held.direction_of(m).receives for m in held.media if m.port), held
    assert held.version in (answer.version, answer.version + 1)
    resumed = resume(held, original=answer)
    _round_trip(resumed)
    assert [resumed.direction_of(m) for m in resumed.media if m.port] == [
        answer.direction_of(m) for m in answer.media if m.port
    ]
    again = make_offer(capabilities, previous=resumed)
    _round_trip(again)
    assert len(again.media) >= len(resumed.media)
    assert again.session_id == answer.session_id


if __name__ == "__main__":
    main(one_input)
