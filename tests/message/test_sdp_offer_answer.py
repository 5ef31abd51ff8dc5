"""``sipsans.sdp`` offer/answer (RFC 3264): offers, answers, versions, hold and resume.

Each test cites the rule it checks. Offers from real peers come from ``sdp_bodies``.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsans import LocalProtocolError, RemoteProtocolError
from sipsans.sdp import (
    Attribute,
    Capabilities,
    Codec,
    Connection,
    Direction,
    Media,
    MediaCapability,
    Origin,
    SessionDescription,
    Timing,
    hold,
    make_answer,
    make_offer,
    parse_sdp,
    resume,
)

from . import sdp_bodies

CAPS = Capabilities.audio(host="192.0.2.10", port=40000)  # PCMU, PCMA, telephone-event


def _offer(
    *media_lines: str, session: tuple[str, ...] = (), times: str = "t=0 0"
) -> SessionDescription:
    lines = ["v=0", "o=peer 100 100 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", times]
    return parse_sdp("".join(f"{line}\r\n" for line in [*lines, *session, *media_lines]))


def _answer(offer: SessionDescription, caps: Capabilities = CAPS) -> SessionDescription:
    return make_answer(offer, caps, session_id=7)


# -- offers --------------------------------------------------------------------------


def test_offer_from_audio_capabilities() -> None:
    offer = make_offer(CAPS, session_id=1234)
    assert str(offer) == (
        "v=0\r\n"
        "o=- 1234 1234 IN IP4 192.0.2.10\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.10\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=sendrecv\r\n"
    )
    assert parse_sdp(bytes(offer)) == offer


def test_offer_payload_types_static_then_101_then_dynamic() -> None:
    caps = Capabilities.audio(
        codecs=(
            "opus/48000/2",
            "G722",
            "telephone-event",
            "iLBC",
            Codec("AMR", 8000, payload_type=96),
        )
    )
    media = make_offer(caps, session_id=1).media[0]
    # RFC 3551: G722 is static 9; 96 is taken by the explicit AMR, so opus gets 97.
    assert media.formats == ("97", "9", "101", "98", "96")
    assert [c.encoding for c in media.codecs] == ["opus", "G722", "telephone-event", "iLBC", "AMR"]


def test_offer_options_ipv6_ptime_direction_and_stream_host() -> None:
    caps = Capabilities(
        "2001:db8::10",
        (
            MediaCapability.of("audio", 40000, ("PCMA",), ptime=30, direction=Direction.RECVONLY),
            MediaCapability.of("video", 40002, ("H264",), host="2001:db8::11"),
        ),
        username="sipsans",
        session_name="call",
    )
    offer = make_offer(caps, session_id=5)
    assert offer.origin == Origin("sipsans", 5, 5, "2001:db8::10", "IN", "IP6")
    assert offer.connection == Connection("2001:db8::10", "IN", "IP6")
    audio, video = offer.media
    assert (audio.ptime, audio.direction) == (30, Direction.RECVONLY)
    assert video.connections == (Connection("2001:db8::11", "IN", "IP6"),)
    assert video.codecs == (Codec("H264", 90000, payload_type=96),)


def test_session_id_comes_from_the_injected_rng() -> None:
    first = make_offer(CAPS, rng=random.Random(42))
    assert first == make_offer(CAPS, rng=random.Random(42))
    assert first.session_id != make_offer(CAPS, rng=random.Random(43)).session_id
    # RFC 3264 §5: representable in 64 bits, initial version below 2**62 - 1.
    assert 0 < first.session_id == first.version < 2**62 - 1


def test_a_new_offer_keeps_o_and_increments_the_version_only_on_change() -> None:
    offer = make_offer(CAPS, session_id=10)
    assert make_offer(CAPS, previous=offer) is offer  # RFC 3264 §8: nothing changed
    moved = make_offer(Capabilities.audio(host="192.0.2.10", port=40010), previous=offer)
    assert moved.origin == offer.origin.replace(session_version=11)
    assert moved.media[0].port == 40010


def test_a_new_offer_keeps_dynamic_payload_numbers_and_disables_dropped_streams() -> None:
    two = Capabilities(
        "192.0.2.10",
        (
            MediaCapability.of("audio", 40000, ("opus/48000/2", "iLBC", "telephone-event")),
            MediaCapability.of("video", 40002, ("VP8",)),
        ),
    )
    first = make_offer(two, session_id=1)
    assert first.media[0].formats == ("96", "97", "101")
    # Later: iLBC first, no opus, no video. iLBC keeps 97 (RFC 3264 §8.3.2); the video
    # m= line stays in its place with port 0 (§8.2).
    later_caps = Capabilities.audio(host="192.0.2.10", codecs=("iLBC", "opus/48000/2"))
    later = make_offer(later_caps, previous=first)
    audio, video = later.media
    assert audio.formats == ("97", "96")
    assert (video.media, video.port, video.formats, video.attributes) == ("video", 0, ("96",), ())
    assert later.version == first.version + 1
    # A codec new to the stream does not take a number a dropped one had (97 was iLBC).
    swapped = make_offer(
        Capabilities.audio(host="192.0.2.10", codecs=("opus/48000/2", "speex/16000")),
        previous=later,
    )
    assert swapped.media[0].formats == ("96", "98")


def test_misuse_is_a_local_error() -> None:
    offer = make_offer(CAPS, session_id=1)
    for call in (
        lambda: make_offer(CAPS, previous=offer, session_id=2),
        lambda: make_offer(CAPS, session_id=2**62),
        lambda: make_offer("caps"),  # type: ignore[arg-type]
        lambda: make_answer(b"v=0", CAPS),  # type: ignore[arg-type]
        lambda: hold("sd"),  # type: ignore[arg-type]
        lambda: Capabilities.audio(codecs=("NOPE",)),
        lambda: Capabilities.audio(codecs="PCMU"),
        lambda: Capabilities.audio(codecs=()),
        lambda: Capabilities.audio(port=0),
        lambda: Capabilities.audio(host="a b"),
        lambda: Capabilities.audio(
            codecs=(Codec("A", 8000, payload_type=96), Codec("B", 8000, payload_type=96))
        ),
        lambda: Codec.from_name("opus/x"),
        lambda: make_offer(
            Capabilities.audio(codecs=[f"X{i}/8000" for i in range(33)]), session_id=1
        ),
    ):
        with pytest.raises(LocalProtocolError):
            call()


# -- answers: codecs -----------------------------------------------------------------


def test_codecs_in_the_offerers_order_with_its_payload_numbers() -> None:
    # RFC 3264 §6.1: the answer's formats come from the offer's; PJSIP keeps the
    # offerer's order (PJMEDIA_SDP_NEG_PREFER_REMOTE_CODEC_ORDER).
    offer = _offer(
        "m=audio 5000 RTP/AVP 8 96 0 100",
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:100 telephone-event/8000",
        "a=fmtp:100 0-15",
    )
    answer = _answer(offer)
    (audio,) = answer.media
    assert audio.formats == ("8", "0", "100")
    assert [str(a) for a in audio.attributes] == [
        "rtpmap:8 PCMA/8000",
        "rtpmap:0 PCMU/8000",
        "rtpmap:100 telephone-event/8000",
        "fmtp:100 0-15",
        "sendrecv",
    ]
    assert (audio.port, answer.connection) == (40000, Connection("192.0.2.10"))


def test_dynamic_payload_numbers_and_names_are_the_offers() -> None:
    offer = _offer("m=audio 5000 RTP/AVP 120", "a=rtpmap:120 pcmu/8000")
    assert _answer(offer).media[0].attributes[0] == Attribute("rtpmap", "120 pcmu/8000")


def test_clock_rate_and_channels_must_match() -> None:
    offer = _offer(
        "m=audio 5000 RTP/AVP 96 97 0 98",
        "a=rtpmap:96 PCMA/16000",
        "a=rtpmap:97 telephone-event/48000",
        "a=rtpmap:98 opus/48000/1",
    )
    caps = Capabilities.audio(codecs=("PCMA", "PCMU", "telephone-event", "opus/48000/2"))
    assert _answer(offer, caps).media[0].formats == ("0",)


@pytest.mark.parametrize(
    ("offered_fmtp", "local", "expected"),
    [
        ("0-16", "telephone-event", "0-16"),
        ("0-16", Codec("telephone-event", 8000, fmtp="0-15"), "0-15"),
        ("0-15,66,70", "telephone-event", "0-15"),
        ("0-15,66,70", Codec("telephone-event", 8000, fmtp="0-255"), "0-15,66,70"),
        (None, "telephone-event", "0-15"),  # RFC 4733 §2.4.1: no fmtp means 0-15
        ("garbage", "telephone-event", "0-15"),
        ("16", "telephone-event", "16"),
    ],
)
def test_telephone_event_events_are_intersected(
    offered_fmtp: str | None, local: str | Codec, expected: str
) -> None:
    fmtp = () if offered_fmtp is None else (f"a=fmtp:101 {offered_fmtp}",)
    offer = _offer("m=audio 5000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", *fmtp)
    answer = _answer(offer, Capabilities.audio(codecs=("PCMU", local)))
    assert answer.media[0].fmtp(101) == expected


def test_telephone_event_is_dropped_without_common_events_or_on_one_side() -> None:
    offer = _offer(
        "m=audio 5000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 16"
    )
    only_dtmf = Capabilities.audio(codecs=("PCMU", Codec("telephone-event", 8000, fmtp="0-15")))
    assert _answer(offer, only_dtmf).media[0].formats == ("0",)
    assert _answer(offer, Capabilities.audio(codecs=("PCMU",))).media[0].formats == ("0",)
    no_dtmf_offered = _offer("m=audio 5000 RTP/AVP 0")
    assert _answer(no_dtmf_offered).media[0].formats == ("0",)


def test_fmtp_is_the_local_codecs_else_the_offers() -> None:
    offer = _offer(
        "m=audio 5000 RTP/AVP 97 18",
        "a=rtpmap:97 iLBC/8000",
        "a=fmtp:97 mode=20",
        "a=fmtp:18 annexb=yes",
    )
    caps = Capabilities.audio(codecs=("iLBC", Codec("G729", 8000, fmtp="annexb=no")))
    audio = _answer(offer, caps).media[0]
    assert (audio.fmtp(97), audio.fmtp(18)) == ("mode=20", "annexb=no")


def test_telephone_event_or_comfort_noise_alone_is_no_common_codec() -> None:
    offer = _offer("m=audio 5000 RTP/AVP 18 13 101", "a=rtpmap:101 telephone-event/8000")
    caps = Capabilities.audio(codecs=("PCMU", "CN", "telephone-event"))
    with pytest.raises(RemoteProtocolError) as caught:
        _answer(offer, caps)
    assert caught.value.status_hint == 488  # Not Acceptable Here


# -- answers: streams ----------------------------------------------------------------


def test_same_number_and_order_of_m_lines_refused_ones_with_port_0() -> None:
    # RFC 3264 §6: one m= line per offered one, in order; a refused stream has port 0
    # and keeps at least one format.
    offer = _offer(
        "m=video 5002 RTP/AVP 96",
        "a=rtpmap:96 VP8/90000",
        "m=audio 5000 RTP/AVP 0",
        "m=message 5004 TCP/MSRP *",
        "m=audio 5006 RTP/AVP 8",
        "m=image 5008 udptl t38",
    )
    answer = _answer(offer)
    assert [(m.media, m.port, m.formats) for m in answer.media] == [
        ("video", 0, ("96",)),
        ("audio", 40000, ("0",)),
        ("message", 0, ("*",)),
        ("audio", 0, ("8",)),  # the one audio capability is taken by the first
        ("image", 0, ("t38",)),
    ]
    assert all(m.attributes == () for m in answer.media if m.port == 0)


def test_a_stream_the_offer_disabled_stays_disabled_and_uses_no_capability() -> None:
    offer = _offer("m=audio 0 RTP/AVP 0", "a=mid:a", "m=audio 5000 RTP/AVP 0", "a=mid:b")
    first, second = _answer(offer).media
    assert (first.port, first.formats, first.mid) == (0, ("0",), "a")  # a=mid echoed
    assert (second.port, second.mid) == (40000, "b")
    assert _answer(_offer("m=video 0 RTP/AVP", "m=audio 5000 RTP/AVP 0")).media[0].formats == ()


def test_transport_must_match() -> None:
    webrtc = parse_sdp(sdp_bodies.WEBRTC)
    with pytest.raises(RemoteProtocolError) as caught:
        _answer(webrtc)  # RTP/AVP only: DTLS-SRTP cannot be answered
    assert caught.value.status_hint == 488
    caps = Capabilities(
        "192.0.2.10",
        (MediaCapability.of("audio", 40000, ("PCMU", "opus/48000/2"), proto="UDP/TLS/RTP/SAVPF"),),
    )
    audio, video = _answer(webrtc, caps).media
    assert (audio.formats, audio.mid) == (("111", "0"), "0")
    # c=0.0.0.0 with ICE is a trickle placeholder, not a hold: still sendrecv.
    assert audio.direction is Direction.SENDRECV
    assert (video.port, video.mid) == (0, "1")


def test_multicast_offer_is_refused() -> None:
    offer = _offer("m=audio 5000 RTP/AVP 0", "c=IN IP4 224.2.1.1/127")
    with pytest.raises(RemoteProtocolError):
        _answer(offer)


def test_an_offer_without_media_gets_an_answer_without_media() -> None:
    assert _answer(_offer()).media == ()  # RFC 3264 §6: zero m= lines, zero in the answer


def test_t_line_equals_the_offers() -> None:
    offer = _offer("m=audio 5000 RTP/AVP 0", times="t=3034423619 3042462419")
    assert _answer(offer).times == (Timing(3034423619, 3042462419),)


def test_answer_o_line_is_our_own_and_versions_follow_changes() -> None:
    offer = parse_sdp(sdp_bodies.SIPP)
    answer = make_answer(offer, CAPS, rng=random.Random(1))
    assert answer.origin.username == "-" and answer.session_id != offer.session_id
    assert answer.origin.address == "192.0.2.10"
    # A re-INVITE with the same offer: the same answer, the same version (RFC 3264 §8).
    assert make_answer(offer, CAPS, previous=answer) is answer
    # The peer moves its port: our answer's content is the same (only theirs changed).
    moved = offer.replace(media=(offer.media[0].replace(port=6002),))
    assert make_answer(moved, CAPS, previous=answer) is answer
    # The peer holds: our direction changes, so the version goes up by one.
    held = make_answer(parse_sdp(sdp_bodies.FREESWITCH_HOLD), CAPS, previous=answer)
    assert held.origin == answer.origin.replace(session_version=answer.version + 1)


# -- answers: direction --------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "local", "answered"),
    [
        # RFC 3264 §6.1
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        (None, "sendrecv", "sendrecv"),  # no attribute: sendrecv
        # ...within what the local side wants
        ("sendrecv", "recvonly", "recvonly"),
        ("sendrecv", "sendonly", "sendonly"),
        ("sendrecv", "inactive", "inactive"),
        ("sendonly", "sendonly", "inactive"),
        ("recvonly", "recvonly", "inactive"),
    ],
)
def test_direction_is_mirrored(offered: str | None, local: str, answered: str) -> None:
    offer = _offer("m=audio 5000 RTP/AVP 0", *([f"a={offered}"] if offered else []))
    caps = Capabilities.audio(direction=Direction(local))
    assert _answer(offer, caps).media[0].direction is Direction(answered)


def test_session_level_direction_and_media_level_override() -> None:
    offer = _offer(
        "m=audio 5000 RTP/AVP 0",
        "m=video 5002 RTP/AVP 96",
        "a=rtpmap:96 VP8/90000",
        "a=sendrecv",
        session=("a=sendonly",),
    )
    caps = Capabilities(
        "192.0.2.10",
        (
            MediaCapability.of("audio", 40000, ("PCMU",)),
            MediaCapability.of("video", 40002, ("VP8",)),
        ),
    )
    audio, video = _answer(offer, caps).media
    assert (audio.direction, video.direction) == (Direction.RECVONLY, Direction.SENDRECV)


def test_connection_address_0000_is_the_rfc_2543_hold() -> None:
    # RFC 3264 §8.4: with c=0.0.0.0 neither RTP nor RTCP is sent to the peer.
    offer = _offer("m=audio 5000 RTP/AVP 0", "c=IN IP4 0.0.0.0")
    assert _answer(offer).media[0].direction is Direction.RECVONLY
    recvonly = _offer("m=audio 5000 RTP/AVP 0", "c=IN IP6 ::", "a=recvonly")
    assert _answer(recvonly).media[0].direction is Direction.INACTIVE


# -- answers: ptime and addresses -----------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "local", "answered"),
    [
        ("20", None, 20),
        ("30", 20, 20),
        ("1000", None, None),
        ("abc", None, None),
        (None, None, None),
    ],
)
def test_ptime(offered: str | None, local: int | None, answered: int | None) -> None:
    offer = _offer("m=audio 5000 RTP/AVP 0", *([f"a=ptime:{offered}"] if offered else []))
    assert _answer(offer, Capabilities.audio(ptime=local)).media[0].ptime == answered


def test_stream_host_gives_a_media_level_connection() -> None:
    caps = Capabilities(
        "192.0.2.10", (MediaCapability.of("audio", 40000, ("PCMU",), host="192.0.2.11"),)
    )
    answer = _answer(parse_sdp(sdp_bodies.SIPP), caps)
    assert answer.connection_of(answer.media[0]) == Connection("192.0.2.11")


@pytest.mark.parametrize(
    ("name", "formats", "direction"),
    [
        ("sipp", ("0",), Direction.SENDRECV),
        ("freeswitch-hold", ("0", "101"), Direction.RECVONLY),
        ("baresip", ("0", "8", "101"), Direction.SENDRECV),
        ("ipv6", ("0",), Direction.SENDRECV),
        ("kamailio", ("8", "0", "101"), Direction.SENDRECV),
    ],
)
def test_real_offers_answered(name: str, formats: tuple[str, ...], direction: Direction) -> None:
    answer = _answer(parse_sdp(sdp_bodies.ALL[name]))
    (audio,) = answer.media
    assert (audio.formats, audio.direction) == (formats, direction)
    assert parse_sdp(bytes(answer)) == answer


def test_baresip_offer_answer() -> None:
    answer = _answer(parse_sdp(sdp_bodies.BARESIP))
    (audio,) = answer.media
    assert audio.formats == ("0", "8", "101")
    assert audio.fmtp(101) == "0-15"
    assert (audio.ptime, audio.direction) == (20, Direction.SENDRECV)


def test_answering_our_own_offer() -> None:
    ours = make_offer(
        Capabilities.audio(codecs=("opus/48000/2", "PCMA", "telephone-event")), session_id=1
    )
    theirs = Capabilities.audio(host="192.0.2.20", codecs=("PCMA", "opus/48000/2"))
    answer = make_answer(ours, theirs, session_id=2)
    assert answer.media[0].formats == ("96", "8")


# -- hold and resume -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "held"),
    [
        # RFC 3264 §8.4
        ("sendrecv", "sendonly"),
        ("recvonly", "inactive"),
        ("sendonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_hold(before: str, held: str) -> None:
    offer = make_offer(Capabilities.audio(direction=Direction(before)), session_id=3)
    on_hold = hold(offer)
    assert on_hold.media[0].direction is Direction(held)
    if before == held:
        assert on_hold is offer  # nothing changed: same version
    else:
        assert on_hold.version == offer.version + 1
        assert on_hold.origin.replace(session_version=3) == offer.origin
    assert hold(on_hold) is on_hold


def test_hold_moves_a_session_level_direction_to_the_streams_and_skips_disabled_ones() -> None:
    sd = _offer("m=audio 5000 RTP/AVP 0", "m=video 0 RTP/AVP 96", session=("a=recvonly",))
    on_hold = hold(sd)
    assert on_hold.direction is None
    assert on_hold.media[0].direction is Direction.INACTIVE
    assert on_hold.media[1] == sd.media[1]
    assert on_hold.version == 101


def test_resume_undoes_hold() -> None:
    offer = make_offer(CAPS, session_id=3)
    on_hold = hold(offer)
    resumed = resume(on_hold)
    assert resumed.media[0].direction is Direction.SENDRECV
    assert resumed.version == on_hold.version + 1
    assert resumed.replace(origin=offer.origin) == offer
    assert resume(resumed) is resumed


def test_resume_with_the_original_restores_each_direction() -> None:
    caps = Capabilities(
        "192.0.2.10",
        (
            MediaCapability.of("audio", 40000, ("PCMU",), direction=Direction.INACTIVE),
            MediaCapability.of("audio", 40002, ("PCMU",), direction=Direction.RECVONLY),
        ),
    )
    original = make_offer(caps, session_id=3)
    on_hold = hold(original)
    assert [m.direction for m in resume(on_hold).media] == [Direction.RECVONLY] * 2
    restored = resume(on_hold, original=original)
    assert [m.direction for m in restored.media] == [Direction.INACTIVE, Direction.RECVONLY]


# -- properties ----------------------------------------------------------------------

_CODEC_LINES = {
    "PCMU": "0 PCMU/8000",
    "PCMA": "8 PCMA/8000",
    "G722": "9 G722/8000",
    "opus": "111 opus/48000/2",
    "te8": "101 telephone-event/8000",
    "te48": "110 telephone-event/48000",
    "CN": "13 CN/8000",
}
_streams = st.tuples(
    st.sampled_from(["audio", "video", "image"]),
    st.sampled_from([0, 5000]),
    st.sampled_from(["RTP/AVP", "RTP/SAVP", "udptl"]),
    st.lists(st.sampled_from(sorted(_CODEC_LINES)), min_size=1, max_size=5, unique=True),
    st.sampled_from([None, "sendrecv", "sendonly", "recvonly", "inactive"]),
    st.sampled_from(["192.0.2.1", "0.0.0.0", "224.0.0.1"]),
)
_capabilities = st.builds(
    lambda streams: Capabilities("192.0.2.10", tuple(streams)),
    st.lists(
        st.builds(
            MediaCapability.of,
            st.sampled_from(["audio", "video"]),
            st.integers(1, 65535),
            st.lists(
                st.sampled_from(["PCMU", "PCMA", "G722", "opus/48000/2", "telephone-event", "CN"]),
                min_size=1,
                max_size=4,
                unique=True,
            ),
            direction=st.sampled_from(list(Direction)),
        ),
        max_size=3,
    ),
)


def _generated_offer(
    streams: list[tuple[str, int, str, list[str], str | None, str]],
) -> SessionDescription:
    media = []
    for kind, port, proto, codecs, direction, address in streams:
        attributes = [Attribute("rtpmap", _CODEC_LINES[c]) for c in codecs]
        if direction:
            attributes.append(Attribute(direction))
        formats = tuple(_CODEC_LINES[c].split()[0] for c in codecs)
        media.append(
            Media(
                kind,
                port,
                proto,
                formats,
                connections=(Connection(address),),
                attributes=tuple(attributes),
            )
        )
    return SessionDescription(Origin("-", 1, 1, "192.0.2.1"), media=tuple(media))


@given(st.lists(_streams, max_size=4), _capabilities)
def test_every_answer_keeps_the_rfc_3264_rules(
    streams: list[tuple[str, int, str, list[str], str | None, str]], caps: Capabilities
) -> None:
    offer = _generated_offer(streams)
    try:
        answer = make_answer(offer, caps, session_id=1)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 488
        assert any(m.port for m in offer.media)
        return
    assert parse_sdp(bytes(answer)) == answer
    assert len(answer.media) == len(offer.media)
    for offered, answered in zip(offer.media, answer.media, strict=True):
        assert answered.media == offered.media
        if offered.port == 0:
            assert answered.port == 0
        if answered.port == 0:
            assert answered.formats == offered.formats
            continue
        assert answered.proto == offered.proto
        # Offered formats only, in the offer's order, with a real codec among them.
        assert [f for f in offered.formats if f in answered.formats] == list(answered.formats)
        assert {c.encoding.lower() for c in answered.codecs} - {"telephone-event", "cn"}
        wanted, given_ = offer.direction_of(offered), answer.direction_of(answered)
        assert not given_.sends or wanted.receives
        assert not given_.receives or wanted.sends
    held = hold(answer)
    assert all(not held.direction_of(m).receives for m in held.media if m.port)
    assert parse_sdp(bytes(held)) == held


def test_the_example_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "examples/sdp_offer_answer.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "=> Alice's audio is now recvonly" in done.stdout
    assert "(answer 488)" in done.stdout
