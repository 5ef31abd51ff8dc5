"""Machines usable alone, on the transaction layer: client registration (RFC 3261
§10.2), publication (RFC 3903) and a registrar with its location service.

The UserAgent hosts registrations through :mod:`sipsans.ua.registrations`; a
program without a UserAgent drives them with ``RegistrationDriver`` /
``PublicationDriver`` over an Endpoint.
"""

from __future__ import annotations
