"""The small grammar of SDP lines (RFC 8866 §9) shared by the model and the parser.

The checks raise :class:`~sipsans.errors.LocalProtocolError`: they guard the model's
constructors, so a caller who builds a bad description hears about it where they built
it. The parser builds the model through the same constructors and turns that error into
a :class:`~sipsans.errors.RemoteProtocolError` naming the line, so what the parser
accepts and what ``bytes(sd)`` can write back are one set of rules.
"""

from __future__ import annotations

import re

from sipsans.errors import LocalProtocolError

__all__ = [
    "MAX_UINT64",
    "check_proto",
    "check_text",
    "check_token",
    "check_uint",
    "check_word",
    "is_uint",
    "split_words",
]

#: SDP's whitespace between fields is SP; the parser also takes HTAB (a leniency: some
#: stacks align fields with tabs). ``str.split()`` would also split on Unicode spaces
#: such as U+001C or U+00A0, which belong to the text.
WS = " \t"

#: Numbers in o=, t=, b= are 1*DIGIT; RFC 3264 §5 keeps session ids and versions
#: within 64 bits, and nothing in SDP needs more, so a longer run is refused before
#: ``int()`` sees it (which also keeps clear of CPython's int-string conversion limit).
MAX_UINT64 = 2**64 - 1

# token-char = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
#              "." / "^" / "_" / "`" / "{" / "|" / "}" / "~"          (RFC 8866 §9)
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_DIGITS = re.compile(r"[0-9]{1,20}")
# byte-string = 1*(%x01-09/%x0B-0C/%x0E-FF): anything but NUL, CR and LF. Lone
# surrogates cannot be encoded as UTF-8, so they cannot be written either.
_NOT_TEXT = re.compile(r"[\x00\r\n\ud800-\udfff]")
_WORD_BREAK = re.compile(r"[\x00\r\n\t \ud800-\udfff]")


def split_words(value: str) -> list[str]:
    """The fields of a structured line, split on runs of SP/HTAB."""
    return [word for word in re.split(r"[ \t]+", value) if word]


def is_uint(text: str) -> bool:
    """1 to 20 ASCII digits (``str.isdigit`` would also accept '²' or '١')."""
    return _DIGITS.fullmatch(text) is not None


def check_token(value: object, what: str) -> None:
    """``value`` must be an RFC 8866 token (media types, protocols, attribute names...)."""
    if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
        raise LocalProtocolError(f"{what} must be an SDP token, got {value!r}")


def check_proto(value: object, what: str) -> None:
    """A transport protocol (RFC 8866 §5.14): tokens joined by '/' (``RTP/AVP``)."""
    if not isinstance(value, str) or not all(_TOKEN.fullmatch(part) for part in value.split("/")):
        raise LocalProtocolError(f"{what} must be tokens joined by '/' (RTP/AVP...), got {value!r}")


def check_word(value: object, what: str) -> None:
    """A non-ws-string (RFC 8866 §9): usernames, addresses. No SP, HTAB, CR, LF or NUL."""
    if not isinstance(value, str) or not value or _WORD_BREAK.search(value):
        raise LocalProtocolError(f"{what} must be a non-empty string without spaces, got {value!r}")


def check_text(value: object, what: str, *, empty_ok: bool = False) -> None:
    """Free text (RFC 8866 byte-string): no NUL, CR or LF, and no trailing SP/HTAB.

    The parser drops whitespace at the end of a line (see ``parser.py``), so a value
    ending in whitespace could not be read back as written.
    """
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a string, got {value!r}")
    if not value and not empty_ok:
        raise LocalProtocolError(f"{what} must not be empty")
    if _NOT_TEXT.search(value):
        raise LocalProtocolError(f"{what} must not contain NUL, CR or LF: {value!r}")
    if value[-1:] in (" ", "\t"):
        raise LocalProtocolError(f"{what} must not end with whitespace: {value!r}")


def check_uint(value: object, what: str, *, low: int = 0, high: int = MAX_UINT64) -> None:
    """An ``int`` (not a bool) within ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LocalProtocolError(f"{what} must be an integer in {low}..{high}, got {value!r}")
