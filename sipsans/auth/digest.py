"""Digest arithmetic (RFC 2617 §3.2.2, RFC 7616 §3.4, RFC 8760): algorithms and hashes.

Everything here is a pure function of its arguments. Strings are hashed as UTF-8
(RFC 7616 §3.4.2 ``charset=UTF-8``; SIP messages are UTF-8 anyway), hashes are written
as lower-case hex (RFC 7616 §3.4.1).

The algorithms of the IANA "HTTP Digest Algorithm Values" registry that SIP uses
(RFC 8760 §2.2, §2.4):

========================  =========================================================
``SHA-512-256[-sess]``    SHA-512/256 of FIPS 180-4 §5.3.6 (NOT truncated SHA-512)
``SHA-256[-sess]``        SHA-256
``MD5[-sess]``            MD5 (RFC 2617; kept for backward compatibility only)
========================  =========================================================

:data:`ALGORITHMS` lists them strongest first, which is also the order RFC 8760 §2.4
asks a server to offer its challenges in and the order a client prefers them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = [
    "ALGORITHMS",
    "canonical_algorithm",
    "compute_ha1",
    "compute_response",
    "compute_userhash",
    "hash_hex",
    "sha512_256",
]

#: Supported algorithm names, strongest first (the ``-sess`` variant after its base).
ALGORITHMS: tuple[str, ...] = (
    "SHA-512-256",
    "SHA-512-256-sess",
    "SHA-256",
    "SHA-256-sess",
    "MD5",
    "MD5-sess",
)
_BY_UPPER = {name.upper(): name for name in ALGORITHMS}


def canonical_algorithm(name: str | None) -> str | None:
    """The registry spelling of an algorithm token, or None if it is not supported.

    Algorithm tokens compare case-insensitively (RFC 7616 §3.3: the value is a token
    of the IANA registry, and tokens in auth-params are case-insensitive). An absent
    algorithm (``None``) means ``MD5`` (RFC 7616 §3.3).
    """
    if name is None:
        return "MD5"
    return _BY_UPPER.get(name.strip().upper())


def _canonical(algorithm: str) -> str:
    canonical = canonical_algorithm(algorithm)
    if canonical is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}; use one of {ALGORITHMS}")
    return canonical


# ---------------------------------------------------------------------------
# SHA-512/256 (FIPS 180-4 §5.3.6, §6.7), pure Python for OpenSSL builds without it
# ---------------------------------------------------------------------------
# SHA-512/256 is SHA-512 with different initial hash values, truncated to 256 bits.
# Instead of copying 88 64-bit constants, they are derived here exactly as FIPS 180-4
# defines them, with integer arithmetic only:
#   K[t]  (§4.2.3) = first 64 bits of the fractional part of the cube root of prime t+1
#   H(0)  (§5.3.5) = first 64 bits of the fractional part of the square root of the
#                    first 8 primes (the SHA-512 initial values)
#   SHA-512/t IV (§5.3.6) = SHA-512, started from H(0) XOR a5a5a5a5a5a5a5a5 in every
#                    word, of the ASCII string "SHA-512/256".
# The tests check the result against FIPS 180-4's example "abc" and against hashlib.

_MASK = (1 << 64) - 1


def _first_primes(count: int) -> list[int]:
    primes: list[int] = []
    n = 2
    while len(primes) < count:
        if all(n % p for p in primes if p * p <= n):
            primes.append(n)
        n += 1
    return primes


def _iroot(n: int, k: int) -> int:
    """floor(n ** (1/k)) for a non-negative integer n, exactly (Newton's method)."""
    x = 1 << ((n.bit_length() + k - 1) // k)  # an upper bound of the root
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _frac_bits(prime: int, k: int) -> int:
    # frac(prime^(1/k)) * 2^64 = floor(root(prime * 2^(64k))) mod 2^64
    return _iroot(prime << (64 * k), k) & _MASK


_PRIMES = _first_primes(80)
_K512 = tuple(_frac_bits(p, 3) for p in _PRIMES)
_H512 = tuple(_frac_bits(p, 2) for p in _PRIMES[:8])


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & _MASK


def _compress(state: list[int], block: bytes) -> None:
    w = [int.from_bytes(block[i : i + 8], "big") for i in range(0, 128, 8)]
    for t in range(16, 80):
        w15, w2 = w[t - 15], w[t - 2]
        s0 = _rotr(w15, 1) ^ _rotr(w15, 8) ^ (w15 >> 7)
        s1 = _rotr(w2, 19) ^ _rotr(w2, 61) ^ (w2 >> 6)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK)
    a, b, c, d, e, f, g, h = state
    for t in range(80):
        t1 = (
            h
            + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41))
            + ((e & f) ^ (~e & g))
            + _K512[t]
            + w[t]
        ) & _MASK
        t2 = ((_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & _MASK
        a, b, c, d, e, f, g, h = (t1 + t2) & _MASK, a, b, c, (d + t1) & _MASK, e, f, g
    for i, v in enumerate((a, b, c, d, e, f, g, h)):
        state[i] = (state[i] + v) & _MASK


def _sha512_core(data: bytes, iv: tuple[int, ...], out_bytes: int) -> bytes:
    state = list(iv)
    # Padding (FIPS 180-4 §5.1.2): 0x80, zeros, then the 128-bit message length in bits.
    padded = data + b"\x80" + b"\x00" * ((111 - len(data)) % 128)
    padded += (len(data) * 8).to_bytes(16, "big")
    for i in range(0, len(padded), 128):
        _compress(state, padded[i : i + 128])
    return b"".join(v.to_bytes(8, "big") for v in state)[:out_bytes]


_H512_256 = tuple(
    int.from_bytes(
        _sha512_core(b"SHA-512/256", tuple(v ^ 0xA5A5A5A5A5A5A5A5 for v in _H512), 64)[i : i + 8],
        "big",
    )
    for i in range(0, 64, 8)
)


def sha512_256(data: bytes) -> bytes:
    """SHA-512/256 of *data* (FIPS 180-4 §6.7), in pure Python.

    :func:`hash_hex` uses hashlib's ``sha512_256`` when the OpenSSL build has it and
    this function otherwise; both give the same digests.
    """
    return _sha512_core(data, _H512_256, 32)


def _hashlib_or_pure() -> Callable[[bytes], bytes]:
    try:
        hashlib.new("sha512_256", b"")
    except ValueError:  # pragma: no cover - depends on the OpenSSL build
        return sha512_256
    return lambda data: hashlib.new("sha512_256", data).digest()


_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).digest(),
    "SHA-256": lambda data: hashlib.sha256(data).digest(),
    "SHA-512-256": _hashlib_or_pure(),
}


def hash_hex(algorithm: str, data: bytes | str) -> str:
    """``H(data)`` of RFC 7616 §3.4 for *algorithm* (with or without ``-sess``), in hex."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _DIGESTS[_canonical(algorithm).removesuffix("-sess")](data).hex()


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """``H(username ":" realm ":" passwd)``: the HA1 a server may store instead of passwords.

    This is the HA1 of the base algorithm; for ``-sess`` algorithms
    :func:`compute_response` derives the session key from it (RFC 7616 §3.4.2).
    The username is the plain one even when the challenge asks for ``userhash``.
    """
    return hash_hex(algorithm, f"{username}:{realm}:{password}")


def compute_userhash(algorithm: str, username: str, realm: str) -> str:
    """``H(username ":" realm)`` sent as the username when ``userhash=true`` (RFC 7616 §3.4.4)."""
    return hash_hex(algorithm, f"{username}:{realm}")


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value of RFC 7616 §3.4.1 (or RFC 2617 §3.2.2.1 without qop).

    *ha1* is :func:`compute_ha1` for *algorithm*. ``-sess`` algorithms use
    ``A1 = HA1 ":" nonce ":" cnonce`` (RFC 7616 §3.4.2); qop ``auth-int`` uses
    ``A2 = method ":" uri ":" H(body)`` (§3.4.3). Without qop (RFC 2069 compatibility)
    the response is ``KD(H(A1), nonce ":" H(A2))``.
    """
    algorithm = _canonical(algorithm)
    if algorithm.endswith("-sess"):
        if cnonce is None:
            raise ValueError(f"algorithm {algorithm} needs a cnonce (RFC 7616 §3.4.2)")
        ha1 = hash_hex(algorithm, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        ha2 = hash_hex(algorithm, f"{method}:{uri}:{hash_hex(algorithm, body)}")
    elif qop in (None, "auth"):
        ha2 = hash_hex(algorithm, f"{method}:{uri}")
    else:
        raise ValueError(f"unsupported qop {qop!r}; use 'auth', 'auth-int' or None")
    if qop is None:
        return hash_hex(algorithm, f"{ha1}:{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise ValueError(f"qop={qop} needs nc and cnonce (RFC 7616 §3.4.1)")
    return hash_hex(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
