"""``sipsans.sdp``: parsing (RFC 8866), the model, the wire form and the round trip.

Offer/answer is in ``test_sdp_offer_answer.py``.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sipsans
import sipsans.message.sdp
import sipsans.sdp
from sipsans import LocalProtocolError, RemoteProtocolError
from sipsans.sdp import (
    Attribute,
    Bandwidth,
    Codec,
    Connection,
    Direction,
    Media,
    Origin,
    SessionDescription,
    Timing,
    parse_sdp,
)

from . import sdp_bodies

# -- the public names ----------------------------------------------------------------


def test_public_names() -> None:
    from sipsans.sdp import (  # noqa: F401 - the import is the test
        Capabilities,
        SessionDescription,
        hold,
        make_answer,
        make_offer,
        parse_sdp,
        resume,
    )

    assert sipsans.sdp.parse_sdp is sipsans.message.sdp.parse_sdp
    assert sipsans.parse_sdp is parse_sdp
    assert sipsans.SessionDescription is SessionDescription
    assert set(sipsans.sdp.__all__) == set(sipsans.message.sdp.__all__)


# -- real bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(sdp_bodies.ALL))
def test_real_bodies_parse_and_write_back_byte_for_byte(name: str) -> None:
    body = sdp_bodies.ALL[name]
    sd = parse_sdp(body)
    assert bytes(sd) == body  # all of them are in RFC 8866 order with CRLF
    assert parse_sdp(bytes(sd)) == sd


def test_sipp_offer() -> None:
    sd = parse_sdp(sdp_bodies.SIPP)
    assert sd.origin == Origin("user1", 53655765, 2353687637, "127.0.0.1", "IN", "IP4")
    assert sd.session_name == "-"
    assert sd.connection == Connection("127.0.0.1")
    assert sd.times == (Timing(0, 0),)
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        6000,
        "RTP/AVP",
        ("0",),
    )
    assert audio.codecs == (Codec("PCMU", 8000, payload_type=0),)
    assert sd.direction_of(audio) is Direction.SENDRECV  # no attribute: the default


def test_baresip_offer() -> None:
    sd = parse_sdp(sdp_bodies.BARESIP)
    assert sd.attribute("tool") == "baresip 1.0.0"
    (audio,) = sd.media
    assert [(c.payload_type, c.rtpmap) for c in audio.codecs] == [
        (0, "PCMU/8000"),
        (8, "PCMA/8000"),
        (9, "G722/8000"),
        (96, "opus/48000/2"),
        (101, "telephone-event/8000"),
    ]
    assert audio.codecs[3].fmtp == "stereo=1;sprop-stereo=1"
    assert audio.fmtp(101) == "0-15"
    assert audio.direction is Direction.SENDRECV
    assert audio.ptime == 20
    assert audio.attribute("rtcp-rsize") == ""  # a property attribute
    assert audio.attribute("ssrc") == "1235065372 cname:sip:me@127.0.0.1"
    assert audio.attribute("nope") is None


def test_freeswitch_hold_is_sendonly() -> None:
    sd = parse_sdp(sdp_bodies.FREESWITCH_HOLD)
    assert sd.direction_of(sd.media[0]) is Direction.SENDONLY
    assert sd.version == 1480144038


def test_ipv6_offer() -> None:
    sd = parse_sdp(sdp_bodies.IPV6)
    assert sd.origin.address_type == "IP6"
    assert sd.connection == Connection("fe80:0:0:0:21a:a0ff:fe07:32e0", "IN", "IP6")
    (codec,) = sd.media[0].codecs
    assert codec.encoding == "pcmu" and codec.channels == 1
    assert codec.matches(Codec("PCMU", 8000))  # names compare case-insensitively


def test_kamailio_relayed_offer() -> None:
    sd = parse_sdp(sdp_bodies.KAMAILIO)
    (audio,) = sd.media
    assert audio.bandwidths == (Bandwidth("AS", 80),)
    assert audio.rtcp_port == 30001
    assert audio.attribute("nortpproxy") == "yes"
    assert [c.encoding for c in audio.codecs] == ["PCMA", "PCMU", "G729", "telephone-event"]
    assert audio.codecs[2].fmtp == "annexb=no"


def test_webrtc_offer() -> None:
    sd = parse_sdp(sdp_bodies.WEBRTC)
    assert sd.connection is None  # every section has its own c=
    assert sd.attribute("group") == "BUNDLE 0 1"
    assert sd.attribute("msid-semantic") == " WMS stream0"  # the value as written
    audio, video = sd.media
    assert (audio.port, audio.proto, audio.mid) == (9, "UDP/TLS/RTP/SAVPF", "0")
    assert audio.is_rtp
    assert sd.connection_of(audio) == Connection("0.0.0.0")
    assert audio.rtcp_port == 9
    assert [c.rtpmap for c in audio.codecs] == [
        "opus/48000/2",
        "red/48000/2",
        "G722/8000",
        "PCMU/8000",
        "PCMA/8000",
        "CN/8000",
        "telephone-event/48000",
        "telephone-event/8000",
    ]
    assert audio.codecs[0].fmtp == "minptime=10;useinbandfec=1"
    assert sd.direction_of(video) is Direction.RECVONLY
    assert video.fmtp("97") == "apt=96"


# -- leniencies ------------------------------------------------------------------------


def test_lf_line_ends_trailing_whitespace_and_blank_lines() -> None:
    body = sdp_bodies.SIPP.replace(b"\r\n", b" \t\n") + b"\n\r\n"
    assert parse_sdp(body) == parse_sdp(sdp_bodies.SIPP)


def test_tabs_and_runs_of_spaces_between_fields() -> None:
    body = sdp_bodies.SIPP.replace(b"IN IP4", b"IN \t IP4").replace(b"0 0", b"0\t0")
    assert parse_sdp(body) == parse_sdp(sdp_bodies.SIPP)


def test_static_payload_types_without_rtpmap() -> None:
    sd = parse_sdp(_body("m=audio 4000 RTP/AVP 0 8 9 18 3 13 101 34"))
    codecs = sd.media[0].codecs
    # RFC 3551 Table 4; 101 is dynamic and has no rtpmap, so it is not a codec here.
    assert [(c.payload_type, c.encoding, c.clock_rate) for c in codecs] == [
        (0, "PCMU", 8000),
        (8, "PCMA", 8000),
        (9, "G722", 8000),
        (18, "G729", 8000),
        (3, "GSM", 8000),
        (13, "CN", 8000),
        (34, "H263", 90000),
    ]


def test_rtpmap_overrides_the_static_table_and_the_first_one_wins() -> None:
    sd = parse_sdp(
        _body("m=audio 4000 RTP/AVP 0 97", "a=rtpmap:97 iLBC/8000", "a=rtpmap:97 speex/8000")
    )
    assert [c.encoding for c in sd.media[0].codecs] == ["PCMU", "iLBC"]


def test_rtpmap_with_channels_and_leading_space() -> None:
    sd = parse_sdp(
        _body("m=audio 4000 RTP/AVP 10 96", "a=rtpmap: 96  L16/16000/2", "a=fmtp: 96 x=1")
    )
    assert sd.media[0].codecs == (
        Codec("L16", 44100, 2, None, 10),
        Codec("L16", 16000, 2, "x=1", 96),
    )


def test_a_payload_type_is_written_in_plain_decimal() -> None:
    # "08" is not payload type 8: an answer repeating it as "8" would list a format
    # the offer does not have (found by fuzzing, fuzz/corpus/sdp/regress-leading-zero-format).
    sd = parse_sdp(_body("m=audio 4000 RTP/AVP 08 0", "a=rtpmap:8 PCMA/8000"))
    assert [c.payload_type for c in sd.media[0].codecs] == [0]


def test_non_rtp_stream_has_no_codecs() -> None:
    sd = parse_sdp(
        _body("m=image 4000 udptl t38", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel")
    )
    assert [m.is_rtp for m in sd.media] == [False, False]
    assert [m.codecs for m in sd.media] == [(), ()]


def test_direction_at_session_level_and_media_level_wins() -> None:
    sd = parse_sdp(
        _body(
            "m=audio 4000 RTP/AVP 0",
            "m=audio 4002 RTP/AVP 0",
            "a=inactive",
            session=("a=sendonly",),
        )
    )
    first, second = sd.media
    assert sd.direction is Direction.SENDONLY
    assert first.direction is None and sd.direction_of(first) is Direction.SENDONLY
    assert sd.direction_of(second) is Direction.INACTIVE


def test_session_and_media_connections_media_first() -> None:
    sd = parse_sdp(
        _body(
            "m=audio 4000 RTP/AVP 0",
            "c=IN IP4 192.0.2.2",
            "c=IN IP4 192.0.2.3",
            "m=audio 4002 RTP/AVP 0",
        )
    )
    first, second = sd.media
    assert first.connections == (Connection("192.0.2.2"), Connection("192.0.2.3"))
    assert sd.connection_of(first) == Connection("192.0.2.2")
    assert sd.connection_of(second) == Connection("192.0.2.1")  # the session's


def test_bandwidth_types() -> None:
    sd = parse_sdp(
        _body("m=audio 4000 RTP/AVP 0", "b=TIAS:64000", "b=AS: 64", session=("b=CT:128",))
    )
    assert sd.bandwidths == (Bandwidth("CT", 128),)
    assert sd.media[0].bandwidths == (Bandwidth("TIAS", 64000), Bandwidth("AS", 64))


def test_views_on_attributes() -> None:
    sd = parse_sdp(
        _body(
            "m=audio 4000 RTP/AVP 0",
            "a=ptime:20.0",
            "a=mid:audio",
            "a=rtcp:4001 IN IP4 192.0.2.9",
            "m=audio 4002 RTP/AVP 0",
            "a=ptime:twenty",
            "a=rtcp:x",
        )
    )
    first, second = sd.media
    assert (first.ptime, first.mid, first.rtcp_port) == (20, "audio", 4001)
    assert (second.ptime, second.mid, second.rtcp_port) == (None, None, None)


def test_unknown_line_types_are_kept_in_their_section() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"y=0100000001\r\nm=video 4000 RTP/AVP 96\r\na=rtpmap:96 PS/90000\r\n"
        b"y=0100000002\r\nf=v/2/4///a///\r\n"
    )
    sd = parse_sdp(body)
    assert sd.extra_lines == (("y", "0100000001"),)
    assert sd.media[0].extra_lines == (("y", "0100000002"), ("f", "v/2/4///a///"))
    assert bytes(sd) == body


def test_fields_out_of_order_within_a_section() -> None:
    body = b"v=0\r\ns=-\r\nt=0 0\r\na=x\r\nc=IN IP4 192.0.2.1\r\no=- 1 1 IN IP4 h\r\n"
    sd = parse_sdp(body)
    assert sd.connection == Connection("192.0.2.1")
    assert bytes(sd) == (
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=x\r\n"
    )


def test_missing_s_and_t_and_empty_s() -> None:
    sd = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\n")
    assert (sd.session_name, sd.times) == ("-", (Timing(),))
    blank = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\r\nt=0 0\r\n")
    assert blank.session_name == " "  # RFC 8866 §5.3's "s= "
    assert b"\r\ns= \r\n" in bytes(blank)


def test_empty_optional_text_lines_are_ignored() -> None:
    sd = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ni=\r\nu=\r\nk=\r\nt=0 0\r\n")
    assert (sd.information, sd.uri, sd.key) == (None, None, None)


def test_disabled_stream_without_formats() -> None:
    sd = parse_sdp(_body("m=video 0 RTP/AVP"))
    assert sd.media[0].formats == ()
    assert bytes(sd).endswith(b"m=video 0 RTP/AVP\r\n")


def test_port_count_repeat_and_zone_lines() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=Seminar\r\ni=About SDP\r\nu=http://example.com/s\r\n"
        b"e=j@example.com\r\np=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127\r\n"
        b"t=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h 2898848070 0\r\n"
        b"t=2873404696 2873404697\r\nk=prompt\r\n"
        b"m=audio 49170/2 RTP/AVP 0\r\nk=clear:x\r\ni=voice\r\n"
    )
    sd = parse_sdp(body)
    assert sd.times[0] == Timing(
        2873397496, 2873404696, ("7d 1h 0 25h",), "2882844526 -1h 2898848070 0"
    )
    assert sd.media[0].port_count == 2
    assert (sd.media[0].information, sd.media[0].key) == ("voice", "clear:x")
    assert parse_sdp(bytes(sd)) == sd


def test_latin1_body_is_read() -> None:
    sd = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=Sitzung \xfc\r\nt=0 0\r\n")
    assert sd.session_name == "Sitzung ü"
    assert b"s=Sitzung \xc3\xbc\r\n" in bytes(sd)  # written back as UTF-8


def test_str_input() -> None:
    assert parse_sdp(sdp_bodies.SIPP.decode()) == parse_sdp(sdp_bodies.SIPP)


# -- the wire form -------------------------------------------------------------------


def test_bytes_writes_every_field_in_rfc_8866_order() -> None:
    sd = SessionDescription(
        Origin("alice", 2890844526, 2890842807, "192.0.2.1"),
        "Call",
        information="info",
        uri="http://example.com",
        emails=("a@example.com",),
        phones=("+1 555",),
        connection=Connection("192.0.2.1"),
        bandwidths=(Bandwidth("CT", 100),),
        times=(Timing(0, 0, ("1d 1h 0",), "0 0"),),
        key="prompt",
        attributes=(Attribute("recvonly"), Attribute("tool", "x")),
        media=(
            Media(
                "audio",
                49170,
                "RTP/AVP",
                ("0", "97"),
                information="voice",
                connections=(Connection("2001:db8::1", "IN", "IP6"),),
                bandwidths=(Bandwidth("AS", 64),),
                key="clear:k",
                attributes=(Attribute("rtpmap", "97 iLBC/8000"), Attribute("sendrecv")),
                extra_lines=(("y", "1"),),
            ),
        ),
        extra_lines=(("f", "x"),),
    )
    assert bytes(sd) == (
        b"v=0\r\no=alice 2890844526 2890842807 IN IP4 192.0.2.1\r\ns=Call\r\ni=info\r\n"
        b"u=http://example.com\r\ne=a@example.com\r\np=+1 555\r\nc=IN IP4 192.0.2.1\r\n"
        b"b=CT:100\r\nt=0 0\r\nr=1d 1h 0\r\nz=0 0\r\nk=prompt\r\na=recvonly\r\na=tool:x\r\n"
        b"f=x\r\nm=audio 49170 RTP/AVP 0 97\r\ni=voice\r\nc=IN IP6 2001:db8::1\r\nb=AS:64\r\n"
        b"k=clear:k\r\na=rtpmap:97 iLBC/8000\r\na=sendrecv\r\ny=1\r\n"
    )
    assert parse_sdp(bytes(sd)) == sd


def test_replace_and_with_direction() -> None:
    sd = parse_sdp(sdp_bodies.FREESWITCH_HOLD)
    media = sd.media[0].with_direction(Direction.SENDRECV)
    assert media.direction is Direction.SENDRECV
    # The attribute takes the place of the one it replaces.
    assert [a.name for a in media.attributes][-2:] == ["sendrecv", "ptime"]
    again = sd.replace(media=(media,), session_name="x")
    assert (again.session_name, again.media[0].direction) == ("x", Direction.SENDRECV)
    assert sd.with_version(7).version == 7
    with pytest.raises(LocalProtocolError):
        sd.replace(session_name="a\r\nb")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Origin("a b", 1, 1, "h"),
        lambda: Origin("-", -1, 1, "h"),
        lambda: Origin("-", 1, 2**64, "h"),
        lambda: Origin("-", 1, True, "h"),
        lambda: Connection("", "IN", "IP4"),
        lambda: Connection("h", "I N", "IP4"),
        lambda: Bandwidth("A:S", 1),
        lambda: Timing(-1, 0),
        lambda: Attribute("a b"),
        lambda: Attribute("x", "trailing "),
        lambda: Attribute("x", "nul\x00"),
        lambda: Attribute("rtpmap", "96 opus"),
        lambda: Attribute("fmtp"),
        lambda: Media("audio", 70000, "RTP/AVP", ("0",)),
        lambda: Media("audio", 4000, "RTP/AVP", ()),
        lambda: Media("audio", 4000, "RTP AVP", ("0",)),
        lambda: Media("audio", 4000, "RTP/AVP", ("0",), extra_lines=(("a", "x"),)),
        lambda: SessionDescription(
            Origin("-", 1, 1, "h"), media=(Media("audio", 1, "RTP/AVP", ("0",)),)
        ),
        lambda: SessionDescription(Origin("-", 1, 1, "h"), times=()),
        lambda: SessionDescription(Origin("-", 1, 1, "h"), session_name=""),
        lambda: Codec("PCMU", 0),
        lambda: Codec("PC/MU", 8000),
        lambda: Codec("PCMU", 8000, payload_type=128),
    ],
)
def test_the_model_refuses_what_it_could_not_write(build: object) -> None:
    assert callable(build)
    with pytest.raises(LocalProtocolError):
        build()


# -- malformed bodies ----------------------------------------------------------------

_HEAD = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"  # lines 1-5


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("o=- 1 1 IN IP4 h\r\n", 1, "starts with v=0"),
        ("v=1\r\n", 1, "version 0"),
        ("\r\nv=0\r\nwhat\r\n", 3, "expected '<type>=<value>'"),
        (_HEAD + "A=sendrecv\r\n", 6, "expected '<type>=<value>'"),
        (_HEAD + "m=audio\r\n", 6, "m= needs '<media> <port> <proto> <fmt> ...', got 'm=audio'"),
        (_HEAD + "m=audio 4000 RTP/AVP\r\n", 6, "m= needs"),
        (_HEAD + "m=audio 70000 RTP/AVP 0\r\n", 6, "m= port"),
        (_HEAD + "m=audio x RTP/AVP 0\r\n", 6, "m= needs"),
        (_HEAD + "m=audio 4000/0 RTP/AVP 0\r\n", 6, "number of ports"),
        (_HEAD + "m=audio 4000 RTP//AVP 0\r\n", 6, "proto"),
        ("v=0\r\no=- 1 IN IP4 h\r\n", 2, "o= needs"),
        ("v=0\r\no=- x 1 IN IP4 h\r\n", 2, "o= needs"),
        ("v=0\r\no=- 1 123456789012345678901 IN IP4 h\r\n", 2, "o= needs"),
        ("v=0\r\no=- 1 18446744073709551616 IN IP4 h\r\n", 2, "o= session version"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n", 3, "c= needs"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nb=AS\r\n", 3, "b= needs"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nb=AS:x\r\n", 3, "b= needs"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nt=0\r\n", 3, "t= needs"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nr=1d 1h\r\n", 3, "r= before any t="),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\nz=0 0\r\nz=0 0\r\n", 5, "second z="),
        (_HEAD + "o=- 1 1 IN IP4 h\r\n", 6, "second o="),
        (_HEAD + "s=again\r\n", 6, "second s="),
        (_HEAD + "c=IN IP4 192.0.2.2\r\n", 6, "second c="),
        ("v=0\r\nv=0\r\n", 2, "second v="),
        (_HEAD + "m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n", 7, "t= belongs to the session"),
        (_HEAD + "m=audio 4000 RTP/AVP 0\r\ni=a\r\ni=b\r\n", 8, "second i="),
        (_HEAD + "a=rtpmap:abc\r\n", 6, "a=rtpmap needs"),
        (_HEAD + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/x\r\n", 7, "a=rtpmap needs"),
        (_HEAD + "a=fmtp\r\n", 6, "a=fmtp needs"),
        (_HEAD + "a=\r\n", 6, "attribute name"),
        (_HEAD + "a=na me:x\r\n", 6, "attribute name"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000 RTP/AVP 0\r\n", 3, "no c= line"),
        (_HEAD + "s=x\x00y\r\n", 6, "NUL"),
        (_HEAD + "a=x\ry\r\n", 6, "bare CR"),
        ("v=0\r\ns=-\r\n", 2, "no o= line"),
    ],
)
def test_malformed_bodies_name_the_line(body: str, line: int, words: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_sdp(body.encode("utf-8"))
    assert str(caught.value).startswith(f"SDP line {line}: "), caught.value
    assert words in str(caught.value)
    assert caught.value.status_hint == 400


def test_empty_body() -> None:
    for body in (b"", b"\r\n \r\n"):
        with pytest.raises(RemoteProtocolError, match="empty"):
            parse_sdp(body)


def test_limits() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds the limit") as caught:
        parse_sdp(b"v=0\r\n" + b"a=x\r\n" * 20_000)
    assert caught.value.status_hint == 413
    with pytest.raises(RemoteProtocolError, match="more than 10 lines"):
        parse_sdp(b"v=0\r\n" * 11, max_lines=10)
    big = _body(*["a=x"] * 4000)
    assert len(parse_sdp(big).attributes) == 4000
    # Exactly max_lines lines, with or without a final line end, is within the limit.
    five = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=x\r\n"
    assert parse_sdp(five, max_lines=5) == parse_sdp(five.rstrip(), max_lines=5)
    with pytest.raises(RemoteProtocolError):
        parse_sdp(five + b"a=y", max_lines=5)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        parse_sdp("s=\u00fc" * 6, max_size=12)  # a str is measured in UTF-8 bytes


# -- properties ----------------------------------------------------------------------

_TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`{|}~"
tokens = st.text(_TOKEN, min_size=1, max_size=8)
words = st.text(
    st.characters(exclude_categories=["Cs", "Zs", "Cc"]) | st.sampled_from("\x01\x0b\x1c"),
    min_size=1,
    max_size=10,
)
# Text: anything but NUL, CR, LF, lone surrogates, and not ending in SP/HTAB.
texts = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r\n"), max_size=12
).filter(lambda t: t[-1:] not in (" ", "\t"))
non_empty_texts = texts.filter(bool)
uints = st.integers(0, 2**64 - 1)
connections = st.builds(Connection, words, tokens, tokens)
bandwidths = st.builds(Bandwidth, tokens, uints)
payload_types = st.integers(0, 127)
attributes = st.one_of(
    st.builds(Attribute, tokens, st.none() | texts),
    st.builds(
        lambda pt, name, rate, channels: Attribute(
            "rtpmap", f"{pt} {name}/{rate}" + (f"/{channels}" if channels else "")
        ),
        payload_types,
        tokens.filter(lambda t: "/" not in t),
        st.integers(1, 10**9),
        st.none() | st.integers(1, 255),
    ),
    st.builds(
        lambda pt, params: Attribute("fmtp", f"{pt} {params}".rstrip()), payload_types, texts
    ),
    st.sampled_from([Attribute(d.value) for d in Direction]),
)
extra_lines = st.lists(st.tuples(st.sampled_from("dfghjlnqwxy"), texts), max_size=2).map(tuple)
medias = st.builds(
    Media,
    media=tokens,
    port=st.integers(1, 65535),
    proto=st.lists(tokens, min_size=1, max_size=3).map("/".join),
    formats=st.lists(tokens | payload_types.map(str), min_size=1, max_size=5).map(tuple),
    port_count=st.none() | st.integers(1, 65535),
    information=st.none() | non_empty_texts,
    connections=st.lists(connections, max_size=2).map(tuple),
    bandwidths=st.lists(bandwidths, max_size=2).map(tuple),
    key=st.none() | non_empty_texts,
    attributes=st.lists(attributes, max_size=6).map(tuple),
    extra_lines=extra_lines,
)
disabled_medias = st.builds(Media, media=tokens, port=st.just(0), proto=tokens, formats=st.just(()))
timings = st.builds(
    Timing,
    uints,
    uints,
    st.lists(non_empty_texts, max_size=2).map(tuple),
    st.none() | non_empty_texts,
)
descriptions = st.builds(
    SessionDescription,
    origin=st.builds(Origin, words, uints, uints, words, tokens, tokens),
    session_name=non_empty_texts | st.just(" "),
    information=st.none() | non_empty_texts,
    uri=st.none() | non_empty_texts,
    emails=st.lists(non_empty_texts, max_size=2).map(tuple),
    phones=st.lists(non_empty_texts, max_size=2).map(tuple),
    connection=connections,  # so that every active stream has an address
    bandwidths=st.lists(bandwidths, max_size=2).map(tuple),
    times=st.lists(timings, min_size=1, max_size=2).map(tuple),
    key=st.none() | non_empty_texts,
    attributes=st.lists(attributes, max_size=4).map(tuple),
    media=st.lists(medias | disabled_medias, max_size=3).map(tuple),
    extra_lines=extra_lines,
)


@given(descriptions)
def test_round_trip(sd: SessionDescription) -> None:
    wire = bytes(sd)
    assert parse_sdp(wire) == sd
    assert bytes(parse_sdp(wire)) == wire
    for media in sd.media:  # the views never raise
        _ = media.codecs, media.direction, media.ptime, media.mid, media.rtcp_port
        sd.direction_of(media)


@given(st.binary(max_size=400))
def test_random_bytes_raise_only_remote_protocol_error(data: bytes) -> None:
    try:
        parse_sdp(data)
    except RemoteProtocolError as exc:
        assert str(exc).startswith("SDP")


_LINES = st.one_of(
    st.sampled_from(
        [
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            "m=audio 4000 RTP/AVP 0 8 101",
            "m=video 0 RTP/AVP",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=sendonly",
            "r=1d 1h",
            "z=0 0",
            "b=AS:64",
            "y=1",
        ]
    ),
    st.builds(lambda c, v: f"{c}={v}", st.sampled_from("vosiuepcbtrzkamxy"), st.text(max_size=20)),
    st.text(max_size=20),
)


@given(st.lists(_LINES, max_size=12), st.sampled_from(["\r\n", "\n"]))
def test_random_sdp_like_lines_raise_only_remote_protocol_error(lines: list[str], eol: str) -> None:
    body = eol.join(["v=0", *lines]).encode("utf-8", "surrogatepass")
    try:
        sd = parse_sdp(body)
    except RemoteProtocolError:
        return
    assert parse_sdp(bytes(sd)) == sd


def _body(*media_lines: str, session: tuple[str, ...] = ()) -> bytes:
    head = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", *session]
    return "".join(line + "\r\n" for line in [*head, *media_lines]).encode()
