"""The bounded memos the parser and views keep (sipsans._speed): a peer sending ever-new
values must cost a bounded amount of memory, and a value too long is never kept."""

from __future__ import annotations

from sipsans._speed import ENTRIES, KEY_LENGTH, remember, remember_text
from sipsans.message.fields import parse_name_addr


def test_a_full_memo_starts_over() -> None:
    memo: dict[int, str] = {}
    for n in range(ENTRIES):
        assert remember(memo, n, str(n)) == str(n)
    assert len(memo) == ENTRIES
    remember(memo, -1, "new")
    assert memo == {-1: "new"}


def test_long_texts_are_never_kept() -> None:
    memo: dict[str, int] = {}
    assert remember_text(memo, "x" * (KEY_LENGTH + 1), 1) == 1
    assert memo == {}
    remember_text(memo, "x" * KEY_LENGTH, 2)
    assert memo == {"x" * KEY_LENGTH: 2}


def test_a_peer_sending_ever_new_values_costs_bounded_memory() -> None:
    from sipsans.message import fields

    for n in range(3 * ENTRIES):
        parse_name_addr(f"<sip:user{n}@192.0.2.1>;tag={n}")
    assert len(fields._NAME_ADDRS) <= ENTRIES
