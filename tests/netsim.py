"""Compatibility shim: the simulator is public now, as :mod:`sipsans.testing`.

``Node`` here is a node whose core is an :class:`sipsans.Endpoint`, which is what the
transaction tests build.
"""

from __future__ import annotations

from typing import TypeAlias

from sipsans import Endpoint
from sipsans.testing import Handler, Net, SipCore, Wire
from sipsans.testing import Node as _Node

Node: TypeAlias = _Node[Endpoint]

__all__ = ["Handler", "Net", "Node", "SipCore", "Wire"]
