"""SSLContext helpers for SIP over TLS (and WSS): verification on unless asked otherwise."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_context", "server_context"]


def server_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A server context presenting ``certfile`` (PEM chain) and ``keyfile``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certfile), str(keyfile) if keyfile is not None else None)
    return context


def client_context(cafile: str | Path | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """A client context: the system CAs (or ``cafile``), host names checked.

    ``verify=False`` turns verification off entirely (tests against self-signed peers).
    """
    context = ssl.create_default_context(cafile=str(cafile) if cafile is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
