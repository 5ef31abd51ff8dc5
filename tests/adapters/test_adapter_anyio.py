"""The blocking facade of the anyio adapter, from plain threads. (The loopback tests of
the anyio session on asyncio and trio are in test_adapter_sessions.py.)"""

from __future__ import annotations

import socket
import threading

import pytest
from loopback import Answerer, endpoint_factory, options, ua_factory

import sipsans
from sipsans_anyio import Listen, TransportError
from sipsans_anyio.blocking import BlockingSession


class ThreadAnswerer(Answerer):
    """An Answerer that remembers which threads it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def __call__(self, event: object) -> None:
        self.threads.add(threading.get_ident())
        super().__call__(event)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_facade_from_threads(backend: str) -> None:
    app = ThreadAnswerer()
    udp = [Listen("udp", "127.0.0.1", 0)]
    with BlockingSession[sipsans.Endpoint](
        endpoint_factory(9), backend=backend, listen=udp, on_event=app
    ) as uas:
        app.session = uas.session
        to = uas.addresses["UDP"]
        with BlockingSession[sipsans.Endpoint](
            endpoint_factory(10), backend=backend, listen=udp
        ) as uac:
            answers: list[int] = []

            def worker(n: int) -> None:
                target = sipsans.Target("UDP", *to)
                response = uac.request(options(to, cseq=n), target=target, timeout=10)
                answers.append(response.status_code)

            threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=20)
            assert sorted(answers) == [200, 200, 200, 200]
            with pytest.raises(TimeoutError):
                uac.next_event(timeout=0.05)
    assert len(app.requests) == 4
    assert threading.get_ident() not in app.threads  # callbacks ran in the loop's thread


def test_blocking_session_must_be_opened_first() -> None:
    session: BlockingSession[sipsans.Endpoint] = BlockingSession(endpoint_factory(11))
    with pytest.raises(RuntimeError, match="use `with BlockingSession"):
        session.next_event(timeout=1)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_invite_ends_when_another_thread_closes_the_session(backend: str) -> None:
    """A thread blocked in ``invite()`` to a peer that never answers is woken when another
    thread closes the session (TransportError "session closed"), instead of waiting for
    ever."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # a peer that never answers
        port = silent.getsockname()[1]
        udp = [Listen("udp", "127.0.0.1", 0)]
        session: BlockingSession[sipsans.UserAgent] = BlockingSession(
            ua_factory("alice", 41), backend=backend, listen=udp
        )
        outcome: list[BaseException] = []
        with session as alice:
            alice.session.close_timeout = 0.2

            def call() -> None:
                try:
                    alice.invite(f"sip:nobody@127.0.0.1:{port}")
                except BaseException as exc:  # the outcome under test
                    outcome.append(exc)

            # Daemon threads: were the wait not woken, the test fails instead of hanging.
            caller = threading.Thread(target=call, daemon=True)
            caller.start()
            silent.settimeout(5)
            silent.recv(65535)  # the INVITE: the call is under way
            closer = threading.Thread(target=alice.close, daemon=True)
            closer.start()
            closer.join(timeout=10)
            caller.join(timeout=10)
            assert not closer.is_alive() and not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], TransportError)
    assert str(outcome[0]) == "session closed"
