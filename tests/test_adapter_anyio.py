"""The blocking facade of the anyio adapter, from plain threads. (The loopback tests of
the anyio session on asyncio and trio are in test_adapter_sessions.py.)"""

from __future__ import annotations

import threading

import pytest
from loopback import Answerer, endpoint_factory, options

import sipsans
from sipsans_anyio import Listen
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
