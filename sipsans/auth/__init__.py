"""Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

Pure functions and small classes over hashlib/hmac; no I/O, no clock (``now`` is an
argument), randomness only from an injected ``rng``.

* :mod:`.params`: parsing and formatting WWW-/Proxy-Authenticate challenges and
  (Proxy-)Authorization credentials.
* :mod:`.digest`: the algorithms (MD5, SHA-256, SHA-512-256 and their ``-sess``
  variants) and the response computation.
* :mod:`.client`: :class:`DigestClient`, which a UserAgent uses to answer 401/407.
* :mod:`.server`: :class:`DigestServer`, for registrars and UASs that challenge.
* :mod:`.limits`: :class:`FailureLimits`, back-off against password guessing.
* :mod:`.guard`: :class:`DigestGuard`, the requests a UAS protects (``ua.protect``).

See ``docs/auth.md``.
"""

from __future__ import annotations

from .client import (
    AuthFailure,
    AuthRetry,
    Credentials,
    DigestClient,
    next_hop_space,
    protection_space,
)
from .digest import (
    ALGORITHMS,
    canonical_algorithm,
    compute_ha1,
    compute_response,
    compute_userhash,
    hash_hex,
    sha512_256,
)
from .guard import DigestGuard
from .limits import DEFAULT_LIMITS, FailureLimiter, FailureLimits
from .params import (
    AuthParams,
    DigestAuthorization,
    DigestChallenge,
    parse_auth_header,
    parse_authorization,
    parse_digest_challenges,
)
from .server import DigestServer, Verdict

__all__ = [
    "ALGORITHMS",
    "DEFAULT_LIMITS",
    "AuthFailure",
    "AuthParams",
    "AuthRetry",
    "Credentials",
    "DigestAuthorization",
    "DigestChallenge",
    "DigestClient",
    "DigestGuard",
    "DigestServer",
    "FailureLimiter",
    "FailureLimits",
    "Verdict",
    "canonical_algorithm",
    "compute_ha1",
    "compute_response",
    "compute_userhash",
    "hash_hex",
    "next_hop_space",
    "parse_auth_header",
    "parse_authorization",
    "parse_digest_challenges",
    "protection_space",
    "sha512_256",
]
