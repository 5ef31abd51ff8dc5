"""Build hook: ``pip install .`` is pure Python; ``SIPSANS_MYPYC=1`` compiles the core.

The pure-Python package is the reference and the default. With ``SIPSANS_MYPYC=1`` (and
mypy installed in the build environment, e.g. ``pip install --no-build-isolation``) the
modules listed below are compiled with mypyc from the same typed sources; see
bench/README.md for how to build, test and measure it.
"""

from __future__ import annotations

import os

from setuptools import setup

#: The modules mypyc compiles: the message, transaction, services, auth, dialog and ua
#: layers, less what bench/README.md lists with the reason (message/fields.py, headers.py,
#: model.py and uri_model.py build instances without running __init__, see
#: sipsans/_speed.py; the REGISTER and PUBLISH clients pass their options on as **kwargs,
#: which mypyc mishandles; dialog/model.py's Dialog is weakly referenced, which a native
#: class is not; ua/handles.py and ua/registrations.py have keyword-only parameters after
#: defaulted ones, on which mypyc's signature generation fails). The package __init__
#: files only re-export; _speed.py uses exec.
COMPILED = [
    "sipsans/errors.py",
    "sipsans/config.py",
    "sipsans/message/grammar.py",
    "sipsans/message/uri.py",
    "sipsans/message/parser.py",
    "sipsans/message/framing.py",
    "sipsans/transaction/tables.py",
    "sipsans/transaction/timers.py",
    "sipsans/transaction/transport.py",
    "sipsans/transaction/events.py",
    "sipsans/transaction/machine.py",
    "sipsans/transaction/compiled.py",
    "sipsans/transaction/record.py",
    "sipsans/transaction/matching.py",
    "sipsans/transaction/builders.py",
    "sipsans/transaction/connections.py",
    "sipsans/transaction/registry.py",
    "sipsans/transaction/stateless.py",
    "sipsans/transaction/endpoint.py",
    "sipsans/services/events.py",
    "sipsans/services/registrar.py",
    "sipsans/auth/digest.py",
    "sipsans/auth/params.py",
    "sipsans/auth/client.py",
    "sipsans/auth/server.py",
    "sipsans/dialog/events.py",
    "sipsans/dialog/replaces.py",
    "sipsans/dialog/state.py",
    "sipsans/dialog/subscription.py",
    "sipsans/ua/agent.py",
    "sipsans/ua/alarms.py",
    "sipsans/ua/calls.py",
    "sipsans/ua/client.py",
    "sipsans/ua/config.py",
    "sipsans/ua/context.py",
    "sipsans/ua/dialogs.py",
    "sipsans/ua/events.py",
    "sipsans/ua/inbox.py",
    "sipsans/ua/notifier.py",
    "sipsans/ua/parts.py",
    "sipsans/ua/records.py",
    "sipsans/ua/refer.py",
    "sipsans/ua/reliable.py",
    "sipsans/ua/server.py",
    "sipsans/ua/session_timers.py",
    "sipsans/ua/subscriber.py",
    "sipsans/ua/subscriptions.py",
]

ext_modules = []
if os.environ.get("SIPSANS_MYPYC") == "1":
    from mypyc.build import mypycify

    # The shared runtime module goes inside the package: sipsans._native__mypyc.
    ext_modules = mypycify(COMPILED, opt_level="3", group_name="sipsans._native")

setup(ext_modules=ext_modules)
