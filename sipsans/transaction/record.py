"""The record each transaction keeps: plain data, run by the Endpoint.

A :class:`Transaction` holds what one client or server transaction (RFC 3261 §17)
needs between inputs: its state, its program (the tables resolved for its transport,
see :mod:`.compiled`), its timers and what it sends again. It decides nothing: the
Endpoint applies the table's rows to it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .tables import CLIENT_MACHINES, Machine, State
from .timers import TimerEntry
from .transport import ClientTxn, ServerTxn

if TYPE_CHECKING:
    from ..message.fields import Via
    from ..message.model import Request
    from .compiled import CompiledMachine
    from .transport import Address, ConnHandle

__all__ = ["Transaction"]


class Transaction:
    """One transaction's state; handles (ClientTxn/ServerTxn) carry only ``id``."""

    __slots__ = (
        "ack",
        "cancel",
        "conn",
        "handle",
        "id",
        "internal",
        "interval",
        "key",
        "last_response",
        "local",
        "machine",
        "merge_key",
        "method",
        "program",
        "reliable",
        "remote",
        "reply_via",
        "request",
        "responded",
        "sent_tag",
        "seq",
        "state",
        "timers",
        "to_tag",
        "transport",
        "wire",
    )

    def __init__(  # noqa: PLR0917 - positional: see below
        self,
        id: int,
        machine: Machine,
        request: Request,
        # Not keyword-only: the Endpoint passes every argument by position, because on
        # CPython 3.11 a class call packs keywords into a dict for __init__ (~4,500
        # machine instructions per transaction, 3 % of a whole call at the UAS).
        transport: str,
        reliable: bool,
        remote: Address,
        local: Address | None,
        conn: ConnHandle | None,
        key: tuple[object, ...],
        program: CompiledMachine,
    ) -> None:
        self.id = id
        #: What the TU holds for this transaction (one object, made once).
        self.handle: ClientTxn | ServerTxn = (
            ClientTxn(id) if machine in CLIENT_MACHINES else ServerTxn(id)
        )
        self.machine = machine
        #: ``machine``'s rows resolved for the Endpoint's configuration and this
        #: transaction's transport (what the Endpoint runs; see compiled.py).
        self.program = program
        #: Where the machine is: its initial state until the Endpoint applies its
        #: initial row (see compiled.py), then what the table says.
        self.state: State = program.initial.next
        #: The request, until the transaction settles (see :meth:`settle`).
        self.request: Request | None = request
        # Interned: the method string of each parsed request would otherwise live as
        # long as the transaction, one copy per transaction.
        self.method = sys.intern(request.method)
        #: Server: what matching and the TU checks read for the transaction's whole
        #: life, kept apart from the request so that the request can go (see
        #: :meth:`settle`). CSeq number: every response sent must carry the request's
        #: CSeq (§8.2.6.2), whose method is ``method``. To tag: RFC 2543 retransmissions
        #: and CANCELs match on it (§17.2.3, §9.2), so it is only kept for RFC 2543
        #: transactions.
        self.seq = 0
        self.to_tag: str | None = None
        self.transport = transport
        self.reliable = reliable
        # Destination of everything this transaction sends.
        self.remote = remote
        self.local = local
        self.conn = conn
        #: Index key in the Endpoint's client or server map.
        self.key = key
        #: Server side: (From tag, Call-ID, CSeq) for merged-request detection (§8.2.2.2).
        self.merge_key: tuple[object, ...] | None = None
        #: Client side: request bytes (retransmitted as is). Server side: unused.
        self.wire = b""
        #: ICT: the ACK for a non-2xx final (§17.1.1.3), built once.
        self.ack: bytes | None = None
        #: Server: bytes of the latest response sent, kept only in the states whose
        #: table row can resend it (RESEND_RESPONSE), for retransmission.
        self.last_response: bytes | None = None
        #: Server: whether a response was sent, and the To tag of the latest one. An
        #: RFC 2543 ACK matches on it (§17.2.3), and the 200 to a CANCEL reuses it (§9.2).
        self.responded = False
        self.sent_tag: str | None = None
        #: Server, stream transport: the request's top Via, where responses go should
        #: the connection close (§18.2.2). None on datagram transports, which never
        #: need it.
        self.reply_via: Via | None = None
        #: Current retransmission interval (Timer A, E or G).
        self.interval = 0.0
        #: Armed timers, at most one of each kind (three at most): a list, because a
        #: dict would cost 130 bytes more for each of the many lingering transactions.
        self.timers: list[TimerEntry] = []
        #: ICT: id of the CANCEL client transaction (held or sent), or 0.
        self.cancel = 0
        #: True for transactions the Endpoint runs on its own (CANCEL, 482, 481):
        #: the TU never sees their requests.
        self.internal = False

    def settle(self) -> None:
        """Drop what only the pre-final states need, once a final response went out
        (server) or came in (client).

        A settled transaction only absorbs retransmissions until its timer ends it
        (Timers D, I, J, K, L, M: up to 32 s), so thousands of them are alive in a busy
        server. Matching needs the key, the method and the tags kept above;
        retransmission needs ``last_response`` (server) or ``ack`` (client). The
        request and its wire form would be dead weight.
        """
        self.request = None
        self.wire = b""

    def __repr__(self) -> str:
        return f"<Transaction {self.id} {self.machine.name} {self.method} {self.state.value}>"
