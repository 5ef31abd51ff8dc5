"""An SDP offer/answer exchange (RFC 3264) with sipsans.sdp, printed step by step.

Alice calls Bob offering audio and video; Bob has audio only. Bob answers, later puts
the call on hold with a re-INVITE, Alice answers that, Bob resumes. Every description
is printed as it would go on the wire. Run it from the repository root:

    python examples/sdp_offer_answer.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's sipsans

from sipsans import RemoteProtocolError
from sipsans.sdp import (
    Capabilities,
    MediaCapability,
    SessionDescription,
    hold,
    make_answer,
    make_offer,
    parse_sdp,
    resume,
)


def show(title: str, sd: SessionDescription) -> None:
    print(f"--- {title} (o= version {sd.version})")
    print(str(sd).replace("\r\n", "\n"), end="")


def main() -> int:
    rng = random.Random(2024)  # the o= session ids; a real program passes its own rng
    alice = Capabilities(
        "192.0.2.1",
        (
            MediaCapability.of("audio", 49170, ("opus/48000/2", "PCMA", "PCMU", "telephone-event")),
            MediaCapability.of("video", 49172, ("VP8",)),
        ),
        username="alice",
    )
    bob = Capabilities.audio(
        host="192.0.2.10", port=40000, codecs=("PCMU", "PCMA", "telephone-event")
    )

    # 1. INVITE with Alice's offer; Bob parses the body and answers in his 200 OK.
    offer = make_offer(alice, rng=rng)
    show("Alice's offer (INVITE)", offer)
    received = parse_sdp(bytes(offer))
    answer = make_answer(received, bob, rng=rng)
    show("Bob's answer (200 OK)", answer)
    audio, video = answer.media
    settled = audio.codecs[0]
    bob_address = answer.connection_of(audio)
    assert bob_address is not None  # an active stream always has one
    print(
        f"=> audio: {settled.encoding}/{settled.clock_rate} payload type {settled.payload_type},"
        f" Alice sends to {bob_address.address}:{audio.port}; video refused (port {video.port})"
    )

    # 2. Bob puts Alice on hold: a re-INVITE whose offer is his answer, held.
    held = hold(answer)
    show("Bob holds (re-INVITE)", held)
    alice_answer = make_answer(held, alice, previous=offer)
    show("Alice's answer", alice_answer)
    print(f"=> Alice's audio is now {alice_answer.media[0].direction}")

    # 3. Bob resumes.
    resumed = resume(held)
    show("Bob resumes (re-INVITE)", resumed)
    alice_again = make_answer(resumed, alice, previous=alice_answer)
    print(f"=> Alice answers sendrecv again, o= version {alice_again.version}")

    # 4. A malformed body is the peer's error, with the line named.
    try:
        parse_sdp(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio\r\n"
        )
    except RemoteProtocolError as exc:
        print(f"=> a broken offer: {exc} (answer {exc.status_hint})")

    # 5. An offer with nothing in common: make_answer says 488 Not Acceptable Here.
    try:
        make_answer(
            parse_sdp(bytes(make_offer(Capabilities.audio(codecs=("G729",)), rng=rng))), bob
        )
    except RemoteProtocolError as exc:
        print(f"=> a G.729-only offer: {exc} (answer {exc.status_hint})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
