"""The ``sipsans`` command line (the console script ``sipsans = sipsans_asyncio.cli:main``).

:mod:`~sipsans_asyncio.cli.main` parses the arguments and dispatches to one module per
subcommand (``demo``, ``replay``, ``options``, ``message``, ``call``, ``subscribe``,
``register``, ``uas``, ``registrar``). What they share: the flags, exit statuses and
addresses (:mod:`~.common`), the session and core with its transcript (:mod:`~.stack`),
the client session and the wait for one answer (:mod:`~.clients`), what is printed
while they run (:mod:`~.wire`, :mod:`~.feedback`), SDP and the RTP port (:mod:`~.media`),
registering (:mod:`~.registering`) and SIGINT/SIGTERM (:mod:`~.running`). Each is a
small application on :class:`sipsans_asyncio.Session` and the UserAgent's public API.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
