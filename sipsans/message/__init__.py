"""The message layer: SIP's grammar, URIs, header fields and messages (RFC 3261 §7,
§19, §20, §25), the parser and stream framing.

* :mod:`.grammar`: the ABNF character classes and token rules of §25.
* :mod:`.uri`: sip, sips and tel URIs (§19.1, RFC 3966) and their comparison.
* :mod:`.headers`: :class:`Headers`, ordered and case-insensitive, compact forms.
* :mod:`.fields`: typed views of Via, From/To/Contact (name-addr), CSeq.
* :mod:`.model`: :class:`Request`, :class:`Response`, ``make_request``, ``make_response``.
* :mod:`.parser`: ``parse_message`` (bytes to a message, lazily typed).
* :mod:`.framing`: :class:`StreamFramer` for TCP, TLS and WebSocket streams.
* :mod:`.sdp`: session descriptions (RFC 8866) and offer/answer (RFC 3264), the
  bodies of INVITE and its answers; public as :mod:`sipsans.sdp`.

Nothing here knows about transactions or dialogs.
"""
