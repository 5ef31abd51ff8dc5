"""Bounded memos of pure functions: the results of parsing or checking a text, by the text.

A peer writes the same values (its From, Contact, Via sent-by, CSeq, start line, header
names) in message after message, so the parser and the views remember what they made
of each. A memo is a plain dict read with ``.get`` on the hot path; :func:`remember`
stores into it and starts it over when it is full, so a peer sending ever-new values
costs at most a memo's bound of entries, with no eviction bookkeeping. Only results
that are immutable (or never changed) may be remembered: every reader shares them.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["ENTRIES", "KEY_LENGTH", "remember", "remember_text"]

K = TypeVar("K")
V = TypeVar("V")

#: Entries a memo holds before it starts over.
ENTRIES = 1024
#: Texts longer than this are not remembered (each entry keeps its key alive).
KEY_LENGTH = 256


def remember(memo: dict[K, V], key: K, value: V, entries: int = ENTRIES) -> V:
    """Store ``value`` under ``key`` (emptying ``memo`` first when it holds ``entries``);
    returns ``value``."""
    if len(memo) >= entries:
        memo.clear()
    memo[key] = value
    return value


def remember_text(memo: dict[str, V], text: str, value: V) -> V:
    """:func:`remember` for a key that is a text from the network: not past KEY_LENGTH."""
    if len(text) <= KEY_LENGTH:
        if len(memo) >= ENTRIES:
            memo.clear()
        memo[text] = value
    return value
