"""The ``sipsans`` command line (the console script ``sipsans = sipsans_asyncio.cli:main``).

:mod:`~sipsans_asyncio.cli.main` parses the arguments and dispatches to one module per
subcommand (``demo``, ``replay``, ``options``, ``message``, ``uas``, ``call``,
``register``, ``registrar``); what they share is :mod:`~sipsans_asyncio.cli.common`.
Each is a small application on :class:`sipsans_asyncio.Session`.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
