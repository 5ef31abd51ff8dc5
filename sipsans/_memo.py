"""Moved to :mod:`sipsans._speed` (the one module of speed tricks); kept for the importers
that have not moved yet (ua/client.py)."""

from ._speed import ENTRIES, KEY_LENGTH, remember, remember_text

__all__ = ["ENTRIES", "KEY_LENGTH", "remember", "remember_text"]
