"""The transaction and transport layers (RFC 3261 §17, §18, RFC 6026): the Endpoint.

* :mod:`.tables`: the four machines as tables; :mod:`.compiled` resolves them for one
  configuration; :mod:`.machine` holds the per-transaction record and row look-up.
* :mod:`.matching`: the keys of §17.1.3 and §17.2.3; :mod:`.builders`: ACK and CANCEL.
* :mod:`.timers`: the timer kinds and the timer heap.
* :mod:`.transport`: handles, sources, targets, transmits and the §18 address rules.
* :mod:`.endpoint`: :class:`Endpoint`, which runs the machines for one SIP element.
* :mod:`.events`: what the Endpoint reports; :mod:`.surface`: the pull surface
  (``SipCore``) that every core offers its driver.
* :mod:`.diagrams`: the tables rendered as Mermaid for the docs.

A proxy or a test tool can stop here: nothing in this layer knows about dialogs.
"""
