"""sipsans_asyncio: the asyncio adapter for sipsans (coming).

The sipsans core is sans-IO: it consumes bytes and timer ticks and emits events and
outbound messages. This package will wire it to the real world with stdlib asyncio only:
a ``DatagramProtocol`` for UDP, stream protocols for TCP and TLS, one ``loop.call_at`` timer
re-armed after every pump, ``now = loop.time()``, and uvloop when installed and asked for
(DESIGN.md §6). It holds no protocol logic of its own.

What exists today is the ``sipsans`` command line (:mod:`sipsans_asyncio.cli`).
"""

from __future__ import annotations

__all__: list[str] = []
