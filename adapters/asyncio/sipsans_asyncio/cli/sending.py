"""Sending one request outside a dialog (``options``, ``message``) and printing its
final response."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sipsans_session import RequestTimeout, TransportError

from .common import make_session, target_of, user_agent
from .locating import locate, resolver

__all__ = ["send_request"]


async def send_request(
    args: argparse.Namespace, method: str, body: bytes, content_type: str | None
) -> int:
    """Send one ``method`` request to ``args.uri`` (to each located target in turn, RFC
    3263 §4.3) and print its final response."""
    uri, _ = target_of(args)
    dns = resolver(args)
    targets = await locate(args, uri, dns)
    session = make_session(
        args, user_agent(args), transport=targets[0].transport, server=False, resolver=dns
    )
    async with session:
        try:
            async with asyncio.timeout(args.timeout):
                response = await session.send(
                    method, uri, body=body, content_type=content_type, targets=targets
                )
        except (TransportError, RequestTimeout, TimeoutError) as exc:
            print(f"sipsans: {method} to {uri} failed: {str(exc) or 'timed out'}", file=sys.stderr)
            return 2
    print(f"{response.status_code} {response.reason}")
    if args.verbose:
        print(bytes(response).decode("utf-8", "replace"))
    return 0 if 200 <= response.status_code < 300 else 1
