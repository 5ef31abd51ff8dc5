"""The UserAgent (the transaction user of RFC 3261 §8, §12-§15, §22; RFC 3515, RFC 3891,
RFC 6665) and the handles users hold.

:class:`~sipsans.ua.agent.UserAgent` owns the parts below and routes the Endpoint's
events and the application's commands to them; each part owns its own state.
See docs/architecture.md for the map.
"""

from __future__ import annotations
