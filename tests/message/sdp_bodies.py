"""Session descriptions as real peers write them, for the SDP tests.

The first four are byte-exact: two from the shared captures (``../shared/corpus/pcap``),
one that baresip 1.0 (Debian's package, g711/g722/opus loaded) sent on 127.0.0.1, and
an IPv6 one from a capture. The others are written after what the named software
sends: a Kamailio + rtpengine relayed offer and a browser's WebRTC offer (trimmed:
one ICE candidate, no extmap list).
"""

from __future__ import annotations

#: sipp's built-in uac scenario (simple_invite_scenario.pcap).
SIPP = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

#: FreeSWITCH putting a call on hold (sip-rtp-g711.pcap).
FREESWITCH_HOLD = (
    b"v=0\r\n"
    b"o=FreeSWITCH 1480144037 1480144038 IN IP4 10.0.2.15\r\n"
    b"s=FreeSWITCH\r\n"
    b"c=IN IP4 10.0.2.15\r\n"
    b"t=0 0\r\n"
    b"m=audio 27942 RTP/AVP 0 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=sendonly\r\n"
    b"a=ptime:20\r\n"
)

#: baresip 1.0's INVITE offer.
BARESIP = (
    b"v=0\r\n"
    b"o=- 3358182008 2008002359 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"a=tool:baresip 1.0.0\r\n"
    b"m=audio 36004 RTP/AVP 0 8 9 96 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:96 opus/48000/2\r\n"
    b"a=fmtp:96 stereo=1;sprop-stereo=1\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=sendrecv\r\n"
    b"a=label:1\r\n"
    b"a=rtcp-rsize\r\n"
    b"a=ssrc:1235065372 cname:sip:me@127.0.0.1\r\n"
    b"a=minptime:20\r\n"
    b"a=ptime:20\r\n"
)

#: An IPv6 phone (sip_ipv6_udp.pcap): lower-case encoding name with a channel count.
IPV6 = (
    b"v=0\r\n"
    b"o=Valid8.com-UserAgent 8521 32 IN IP6 fe80:0:0:0:21a:a0ff:fe07:32e0\r\n"
    b"s=SIP-Call\r\n"
    b"c=IN IP6 fe80:0:0:0:21a:a0ff:fe07:32e0\r\n"
    b"t=0 0\r\n"
    b"m=audio 5008 RTP/AVP 0\r\n"
    b"a=rtpmap:0 pcmu/8000/1\r\n"
)

#: An offer relayed by Kamailio with rtpengine: the media address rewritten, a=rtcp
#: added, the marker attribute nathelper/rtpengine leave behind, a bandwidth line.
KAMAILIO = (
    b"v=0\r\n"
    b"o=- 1713272105 1713272105 IN IP4 203.0.113.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 203.0.113.5\r\n"
    b"t=0 0\r\n"
    b"m=audio 30000 RTP/AVP 8 0 18 101\r\n"
    b"b=AS:80\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=sendrecv\r\n"
    b"a=rtcp:30001\r\n"
    b"a=ptime:20\r\n"
    b"a=nortpproxy:yes\r\n"
)

#: A browser's offer: BUNDLE, ICE, DTLS-SRTP (UDP/TLS/RTP/SAVPF), c=0.0.0.0 and port 9
#: placeholders, rtcp-mux, an audio and a video section.
WEBRTC = (
    b"v=0\r\n"
    b"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"t=0 0\r\n"
    b"a=group:BUNDLE 0 1\r\n"
    b"a=extmap-allow-mixed\r\n"
    b"a=msid-semantic: WMS stream0\r\n"
    b"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    b"c=IN IP4 0.0.0.0\r\n"
    b"a=rtcp:9 IN IP4 0.0.0.0\r\n"
    b"a=candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host generation 0\r\n"
    b"a=ice-ufrag:Xy7f\r\n"
    b"a=ice-pwd:b2c4e8f0a1d3c5e7f9a2b4c6\r\n"
    b"a=ice-options:trickle\r\n"
    b"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:"
    b"DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n"
    b"a=setup:actpass\r\n"
    b"a=mid:0\r\n"
    b"a=sendrecv\r\n"
    b"a=msid:stream0 track0\r\n"
    b"a=rtcp-mux\r\n"
    b"a=rtpmap:111 opus/48000/2\r\n"
    b"a=rtcp-fb:111 transport-cc\r\n"
    b"a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    b"a=rtpmap:63 red/48000/2\r\n"
    b"a=fmtp:63 111/111\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:13 CN/8000\r\n"
    b"a=rtpmap:110 telephone-event/48000\r\n"
    b"a=rtpmap:126 telephone-event/8000\r\n"
    b"a=ssrc:1001 cname:4TOk42mSjXCkVIa6\r\n"
    b"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
    b"c=IN IP4 0.0.0.0\r\n"
    b"a=rtcp:9 IN IP4 0.0.0.0\r\n"
    b"a=ice-ufrag:Xy7f\r\n"
    b"a=ice-pwd:b2c4e8f0a1d3c5e7f9a2b4c6\r\n"
    b"a=ice-options:trickle\r\n"
    b"a=setup:actpass\r\n"
    b"a=mid:1\r\n"
    b"a=recvonly\r\n"
    b"a=rtcp-mux\r\n"
    b"a=rtcp-rsize\r\n"
    b"a=rtpmap:96 VP8/90000\r\n"
    b"a=rtcp-fb:96 nack pli\r\n"
    b"a=rtpmap:97 rtx/90000\r\n"
    b"a=fmtp:97 apt=96\r\n"
)

#: Every body above, by name (the fuzzing seeds in fuzz/corpus/sdp/ hold the same).
ALL = {
    "sipp": SIPP,
    "freeswitch-hold": FREESWITCH_HOLD,
    "baresip": BARESIP,
    "ipv6": IPV6,
    "kamailio": KAMAILIO,
    "webrtc": WEBRTC,
}
