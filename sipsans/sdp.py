"""``sipsans.sdp``: session descriptions (RFC 8866) and offer/answer (RFC 3264).

The implementation lives in the message layer, :mod:`sipsans.message.sdp`; this module
is its public name::

    from sipsans.sdp import Capabilities, make_answer, parse_sdp

    answer = make_answer(parse_sdp(request.body), Capabilities.audio(host="192.0.2.1"))
"""

from __future__ import annotations

from .message.sdp import *  # noqa: F403  (every public name of the package, by its __all__)
from .message.sdp import __all__ as __all__  # noqa: PLC0414  (the same public names)
