"""sipsans_anyio: the anyio adapter for sipsans, on asyncio or trio (coming).

This package will run the sans-IO core in an anyio task group: UDP and TCP/TLS receive
loops plus one timer task on ``anyio.current_time()``, so the same code serves asyncio and
trio. ``sipsans_anyio.blocking`` will give plain threads the same API through anyio's
blocking portal (DESIGN.md §6). It needs the ``anyio`` extra (``pip install sipsans[anyio]``,
or ``sipsans[trio]`` for trio); the sipsans core itself never imports it.

Nothing is implemented yet: importing this package only gives you this description.
"""

from __future__ import annotations

__all__: list[str] = []
