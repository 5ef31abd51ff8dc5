"""``sipsans uas``: an application on the UserAgent's public API (issue: OPTIONS without
a To tag, REFER and MESSAGE answered only after a 5 s fallback, the same SDP answer
whatever the offer, RTP advertised on the SIP port).

Each test runs ``sipsans uas`` in a thread and talks to it with a UserAgent session of
its own on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cliharness import Command, Output, free_port, uas

import sipsans
from sipsans.sdp import Capabilities, Direction, make_answer, parse_sdp
from sipsans_asyncio import CallFailed, Listen, Session

#: An offer of PCMA only, with telephone-event.
PCMA_OFFER = (
    b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 49170 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
)
#: An offer of a codec the uas does not have.
G729_OFFER = (
    b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 49170 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
)


def _client(addr: tuple[str, int]) -> sipsans.UserAgent:
    cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
    return sipsans.UserAgent(
        sipsans.Endpoint(cfg, rng=random.Random(3)),
        identity=f"sip:alice@{addr[0]}",
        rng=random.Random(4),
    )


@asynccontextmanager
async def client() -> AsyncIterator[Session[Any]]:
    async with Session(_client, listen=[Listen("udp", "127.0.0.1", 0)]) as session:
        yield session


async def _outside_dialog(
    port: int, method: str, headers: list[tuple[str, str]]
) -> sipsans.Response:
    """``method`` sent outside any dialog from a bare Endpoint (the UserAgent sends REFER
    only within dialogs)."""

    def make(addr: tuple[str, int]) -> sipsans.Endpoint:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
        return sipsans.Endpoint(cfg, rng=random.Random(5))

    async with Session(make, listen=[Listen("udp", "127.0.0.1", 0)]) as session:
        request = sipsans.make_request(
            method,
            f"sip:bob@127.0.0.1:{port}",
            from_="<sip:alice@127.0.0.1>;tag=t1",
            to=f"<sip:bob@127.0.0.1:{port}>",
            call_id="outside-1@127.0.0.1",
            cseq=1,
            contact=f"<sip:alice@127.0.0.1:{session.addresses['UDP'][1]}>",
            headers=headers,
        )
        return await session.request(request, target=sipsans.Target("UDP", "127.0.0.1", port))


def talk(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 20))


@pytest.fixture
def running_uas(capsys: pytest.CaptureFixture[str]) -> Any:
    """Start ``sipsans uas`` (exiting after ``--calls``, 1 unless given); at the end,
    calls it until it has exited."""
    started: list[tuple[Command, int]] = []
    output = Output(capsys)

    def start(*extra: str) -> tuple[int, Output]:
        port = free_port()
        command = uas(port, *(extra if "--calls" in extra else (*extra, "--calls", "1")))
        output.wait_for(f"listening on UDP 127.0.0.1:{port}")
        started.append((command, port))
        return port, output

    yield start
    for command, port in started:
        for _ in range(3):
            if not command.is_alive():
                break
            call = ["call", f"sip:x@127.0.0.1:{port}", "--duration", "0", "--timeout", "2"]
            Command([*call, "--listen", "127.0.0.1:0"]).result()
            command.join(1)
        assert not command.is_alive()


def test_options_is_answered_by_the_ua_like_its_other_answers(running_uas: Any) -> None:
    """RFC 3261 §11.2, §8.2.6.2: the 200 to OPTIONS has a To tag and the Allow, Accept
    and Supported the UA gives elsewhere; it comes at once, and only once."""
    port, _ = running_uas("--calls", "1")
    uri = f"sip:bob@127.0.0.1:{port}"

    async def main() -> None:
        async with client() as session:
            start = time.monotonic()
            ok = await session.send("OPTIONS", uri)
            assert time.monotonic() - start < 1.0
            assert ok.status_code == 200 and ok.to.tag
            assert ok.headers.get("accept") == "application/sdp"
            call = await session.invite(uri, body=PCMA_OFFER)
            invite_ok = call.response
            assert invite_ok is not None
            assert ok.headers.get("allow") == invite_ok.headers.get("allow")
            assert ok.headers.get("supported") == invite_ok.headers.get("supported")
            await call.bye()

    talk(main)


def test_the_uas_leaves_no_request_to_the_uas_default_answer(running_uas: Any) -> None:
    """What answered OPTIONS, MESSAGE and INFO was the application (ua.respond), so the
    UA holds none of them for its own default answer (which used to fire 5 s later,
    with a traceback): its inbox is empty at once."""
    port, output = running_uas("--calls", "1")
    uri = f"sip:bob@127.0.0.1:{port}"

    async def main() -> None:
        async with client() as session:
            await session.send("OPTIONS", uri)
            message = await session.send("MESSAGE", uri, body=b"hi")
            assert message.status_code == 200
            call = await session.invite(uri, body=PCMA_OFFER)
            info = await call.info(body=b"Signal=5\r\n", content_type="application/dtmf-relay")
            assert info.status_code == 200
            await call.bye()

    talk(main)
    output.wait_for("calls handled")
    assert "message from sip:alice@127.0.0.1: hi" in output.text
    assert "Traceback" not in output.text + output.err


def test_refer_outside_a_call_and_to_a_tel_uri_get_403_at_once(running_uas: Any) -> None:
    port, _ = running_uas("--calls", "1")
    uri = f"sip:bob@127.0.0.1:{port}"

    async def main() -> None:
        async with client() as session:
            start = time.monotonic()
            refer = await _outside_dialog(port, "REFER", [("Refer-To", "<sip:carol@127.0.0.1>")])
            assert refer.status_code == 403 and refer.to.tag
            call = await session.invite(uri, body=PCMA_OFFER)
            response = await call.refer("tel:+15551234567")
            assert response.status_code == 403
            assert time.monotonic() - start < 2.0  # (not the 5 s fallback)
            await call.bye()

    talk(main)


def test_the_answer_is_negotiated_from_the_offer(running_uas: Any) -> None:
    """RFC 3264 §6: a PCMA-only offer is answered PCMA, telephone-event kept, on an RTP
    port that is not the SIP port; a hold (sendonly) is answered recvonly; an offer
    with nothing in common gets 488."""
    port, output = running_uas("--calls", "2")
    uri = f"sip:bob@127.0.0.1:{port}"

    async def main() -> None:
        async with client() as session:
            call = await session.invite(uri, body=PCMA_OFFER)
            assert call.response is not None
            answer = parse_sdp(call.response.body)
            audio = answer.media[0]
            assert audio.formats == ("8", "101")
            assert [c.encoding for c in audio.codecs] == ["PCMA", "telephone-event"]
            assert audio.port not in (0, port)
            assert answer.direction_of(audio) is Direction.SENDRECV
            hold = PCMA_OFFER.replace(b"a=sendrecv", b"a=sendonly").replace(b" 1 1 ", b" 1 2 ")
            held = await call.reinvite(body=hold, content_type="application/sdp")
            assert held.status_code == 200
            again = parse_sdp(held.body)
            assert again.direction_of(again.media[0]) is Direction.RECVONLY
            assert again.version == answer.version + 1  # the same session, RFC 3264 §8
            await call.bye()
            with pytest.raises(CallFailed) as failed:
                await session.invite(uri, body=G729_OFFER)
            assert failed.value.status == 488

    talk(main)
    output.wait_for("calls handled")
    lines = [line for line in output.text.splitlines() if line.startswith("call ")]
    assert lines[0].startswith("call 1 from sip:alice@127.0.0.1: PCMA/8000, ")
    assert lines[0].endswith("ended UAC_BYE")
    assert lines[1].startswith("call 2 from sip:alice@127.0.0.1: none, 0.0 s, ended UAS_OTHER 488")


def test_an_offerless_invite_gets_an_offer_in_the_200(running_uas: Any) -> None:
    """RFC 3264 §5 (late offer): the uas offers in its 2xx; the answer comes in the ACK."""
    port, output = running_uas("--calls", "1", "--codecs", "PCMA,PCMU")

    async def main() -> None:
        async with client() as session:
            call = await session.invite(f"sip:bob@127.0.0.1:{port}")
            assert call.response is not None
            offer = parse_sdp(call.response.body)
            assert [c.encoding for c in offer.media[0].codecs] == ["PCMA", "PCMU"]
            assert offer.media[0].port not in (0, port)
            me = Capabilities.audio(host="127.0.0.1", port=40000, codecs=("PCMU",))
            await call.ack(body=bytes(make_answer(offer, me)), content_type="application/sdp")
            await call.bye()

    talk(main)
    output.wait_for("calls handled")
    # The codec is the one the answer in the ACK chose.
    assert "call 1 from sip:alice@127.0.0.1: PCMU/8000" in output.text


def test_media_port_cannot_be_the_sip_port(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    command = uas(port, "--media-port", str(port))
    assert command.result() == 2
    assert "is the SIP port" in capsys.readouterr().err


def test_subscribe_to_a_served_package_and_to_another(running_uas: Any) -> None:
    """RFC 6665: message-summary is served (200, then a NOTIFY with its state);
    a package the uas does not serve gets 489 Bad Event."""
    port, output = running_uas()
    uri = f"sip:bob@127.0.0.1:{port}"

    async def main() -> None:
        async with client() as session:
            sub = await session.subscribe(uri, "message-summary", expires=60)
            notify = sub.last_notify
            assert notify is not None and notify.body == b"Messages-Waiting: no\r\n"
            assert notify.headers.get("content-type") == "application/simple-message-summary"
            await sub.unsubscribe(timeout=5)
            with pytest.raises(Exception) as refused:
                await session.subscribe(uri, "no-such-package", timeout=5)
            assert getattr(refused.value, "status", None) == 489

    talk(main)
    output.wait_for("subscription from sip:alice@127.0.0.1 to message-summary")


def test_uas_verbose_prints_a_live_ladder(running_uas: Any) -> None:
    port, output = running_uas("-v")

    async def main() -> None:
        async with client() as session:
            await session.send("OPTIONS", f"sip:bob@127.0.0.1:{port}")

    talk(main)
    output.wait_for("200 OK")
    ladder = [line for line in output.text.splitlines() if "|" in line]
    assert "|<" in ladder[0] and "OPTIONS" in ladder[0] and "CSeq " in ladder[0]
    assert ">|" in ladder[1] and "200 OK" in ladder[1]
