"""``sipsans subscribe URI EVENT``: subscribe to an event package (RFC 6665), print
each NOTIFY for ``--duration`` seconds, then un-subscribe.

Exit status 0 once subscribed (a first NOTIFY came) and un-subscribed, 1 when the
SUBSCRIBE was refused (403, 489 Bad Event, ...), 3 when nothing answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import sipsans
from sipsans_session import SubscriptionFailed

from .clients import NO_ANSWER, add_client_options, client_session, why_no_answer
from .common import Exit, Subparsers, add_subcommand, count, seconds, sip_uri
from .feedback import Watcher
from .running import run_network

__all__ = ["NAME", "add_parser", "run"]

NAME = "subscribe"

_DESCRIPTION = """\
Subscribe to EVENT (an event package: presence, message-summary, dialog, ...) of URI
(RFC 6665), print each NOTIFY (the subscription's state and the first lines of its
body) for --duration seconds while the UA refreshes the subscription, then
un-subscribe (Expires: 0) and print the final NOTIFY. SIGINT or SIGTERM un-subscribes
at once.

exit status: 0 subscribed (a first NOTIFY came) and un-subscribed; 1 refused (403,
489 Bad Event, ...) or ended by the notifier; 2 usage error; 3 no answer"""

#: Lines of a NOTIFY's body printed.
_BODY_LINES = 4


def add_parser(commands: Subparsers) -> None:
    sub = add_subcommand(
        commands, NAME, help="subscribe to an event package, print the NOTIFYs",
        description=_DESCRIPTION,
    )  # fmt: skip
    sub.add_argument("uri", metavar="URI", help="the resource (sip: or sips:)")
    sub.add_argument("event", metavar="EVENT", help="the event package, e.g. presence")
    add_client_options(sub)
    subscription = sub.add_argument_group("subscription")
    subscription.add_argument(
        "--expires", type=count, default=600, help="subscription duration asked for, in seconds"
    )
    subscription.add_argument(
        "--duration",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds to stay subscribed",
    )
    subscription.add_argument(
        "--accept", metavar="TYPE", help="the body type asked for (Accept header)"
    )


def run(args: argparse.Namespace) -> int:
    return run_network(_subscribe(args, sip_uri(args.uri)), args)


class _Shown:
    """Prints each NOTIFY once (the first one is both ``sub.last_notify`` and an event)."""

    def __init__(self) -> None:
        self._seen: list[sipsans.Request] = []

    def __call__(self, notify: sipsans.Request | None, state: str) -> None:
        if notify is None or any(notify is seen for seen in self._seen):
            return
        self._seen.append(notify)
        _show(notify, state)


def _show(notify: sipsans.Request, state: str) -> None:
    content_type = notify.headers.get("content-type") or "no body"
    print(f"  NOTIFY {state} ({content_type}, {len(notify.body)} bytes)", flush=True)
    lines = notify.body.decode("utf-8", "replace").splitlines()
    for line in lines[:_BODY_LINES]:
        print(f"  | {line}", flush=True)
    if len(lines) > _BODY_LINES:
        print(f"  | ... ({len(lines) - _BODY_LINES} more lines)", flush=True)


async def _subscribe(args: argparse.Namespace, uri: sipsans.SipURI) -> int:
    watcher = Watcher(verbose=args.verbose)
    options = {"accept": args.accept} if args.accept else {}
    show = _Shown()
    try:
        async with client_session(args, uri, watcher) as client:
            session = client.session
            print(f"subscribing to {args.event} of {uri} for {args.expires} s", flush=True)
            try:
                sub = await session.subscribe(
                    uri,
                    args.event,
                    expires=args.expires,
                    targets=client.targets,
                    timeout=args.timeout,
                    **options,
                )
            except SubscriptionFailed as exc:
                if exc.status is None:
                    print(f"subscription failed: no answer ({exc.reason})", flush=True)
                    return Exit.NO_ANSWER
                print(f"subscription refused: {exc.status} ({exc.reason})", flush=True)
                return Exit.REFUSED
            show(sub.last_notify, sub.state.value)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.duration):
                    while True:
                        event = await session.next_event()
                        if (
                            isinstance(event, sipsans.NotifyReceived)
                            and event.subscription.key == sub.key
                        ):
                            show(event.request, event.state.value)
                            if event.state is sipsans.SubscriptionState.TERMINATED:
                                print(f"ended by the notifier: {event.reason}", flush=True)
                                return Exit.REFUSED
            print("unsubscribing", flush=True)
            reason = await sub.unsubscribe(timeout=args.timeout)
            show(sub.last_notify, sub.state.value)
            print(f"unsubscribed ({reason})", flush=True)
    except NO_ANSWER as exc:
        print(f"SUBSCRIBE {uri}: {why_no_answer(exc, watcher, args.timeout)}", flush=True)
        return Exit.NO_ANSWER
    return Exit.OK
