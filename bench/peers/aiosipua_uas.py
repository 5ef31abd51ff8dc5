"""A minimal auto-answer UAS on aiosipua (``SipUAS``), for ``bench/uas_cps.py``.

    python bench/peers/aiosipua_uas.py PORT [udp|tcp]   # on 127.0.0.1:PORT, until killed

It needs only aiosipua (``pip install aiosipua``, e.g. in a throwaway venv whose python
``bench/uas_cps.py --peer-python`` is given): it imports nothing from sipsans. Every INVITE
is answered 200 with the same SDP as ``sipsans uas`` sends; aiosipua answers the ACK and
BYE itself. It runs on the stdlib event loop: aiosipua asserts
``asyncio.DatagramTransport``, which uvloop's UDP transport is not.
"""

from __future__ import annotations

import asyncio
import sys

ANSWER_SDP = (
    "v=0\r\n"
    "o=bench 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)


async def serve(port: int, kind: str) -> None:
    from aiosipua import SipUAS, TcpSipTransport, UdpSipTransport, parse_sdp

    answer = parse_sdp(ANSWER_SDP)
    transport_class = TcpSipTransport if kind == "tcp" else UdpSipTransport
    transport = transport_class(local_addr=("127.0.0.1", port))
    uas = SipUAS(transport)
    uas.on_invite = lambda call: call.accept(answer)
    await uas.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "udp"))
