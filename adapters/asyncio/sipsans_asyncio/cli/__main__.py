"""``python -m sipsans_asyncio.cli``: the ``sipsans`` command."""

from __future__ import annotations

from .main import main

raise SystemExit(main())
