"""The faster __init__ of the hot frozen dataclasses (sipsans._speed.quick_init).

It must be invisible: same signature, same values, still frozen, still keyword-only
where the dataclass says so (DESIGN.md §4: every event is a frozen, slotted,
keyword-only dataclass; Transmit is a frozen dataclass).
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

import sipsans.dialog.events
import sipsans.services.events
import sipsans.transaction.events
import sipsans.ua.events
from sipsans._speed import maker, quick_init
from sipsans.transaction.events import (
    RequestReceived,
    TransactionTerminated,
    make_request_received,
    make_response_received,
)
from sipsans.transaction.transport import (
    ClientTxn,
    ConnHandle,
    ServerTxn,
    Source,
    Transmit,
    make_transmit,
)

EVENT_MODULES = (
    sipsans.transaction.events,
    sipsans.dialog.events,
    sipsans.services.events,
    sipsans.ua.events,
)
EVENT_CLASSES = [
    cls
    for module in EVENT_MODULES
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
]
CLASSES = [*EVENT_CLASSES, Transmit, Source, ClientTxn, ServerTxn, ConnHandle]


def _reference_signature(cls: type) -> list[tuple[str, object, object]]:
    """The parameters the dataclass's own __init__ would have, from its fields."""
    out: list[tuple[str, object, object]] = []
    for f in dataclasses.fields(cls):
        kind = (
            inspect.Parameter.KEYWORD_ONLY if f.kw_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        default = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        out.append((f.name, kind, default))
    return out


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_signature_is_the_dataclass_one(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.kind, p.default) for p in params] == _reference_signature(cls)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_still_frozen(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    # Slotted: no per-instance __dict__ (a class compiled by mypyc has none either, and
    # no __slots__ attribute to show for it).
    assert params.frozen and cls.__dictoffset__ == 0


def test_values_defaults_and_immutability() -> None:
    sent = Transmit(b"x", "UDP", ("192.0.2.1", 5060))
    assert (sent.data, sent.transport, sent.remote) == (b"x", "UDP", ("192.0.2.1", 5060))
    assert (sent.local, sent.conn, sent.token, sent.close) == (None, None, 0, False)
    assert sent == Transmit(data=b"x", transport="UDP", remote=("192.0.2.1", 5060))
    assert hash(ServerTxn(3)) == hash(ServerTxn(3))
    assert ServerTxn(3) != ClientTxn(3)  # type: ignore[comparison-overlap]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sent.token = 5  # type: ignore[misc]
    ended = TransactionTerminated(txn=ServerTxn(3))
    assert repr(ended) == "TransactionTerminated(txn=ServerTxn(id=3))"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ended.txn = ServerTxn(4)  # type: ignore[misc]


def test_keyword_only_and_required_arguments_are_enforced() -> None:
    with pytest.raises(TypeError):
        TransactionTerminated(ServerTxn(1))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        RequestReceived(txn=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Transmit(b"x", "UDP")  # type: ignore[call-arg]


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithFactory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, WithFactory, WithPostInit):
        with pytest.raises(TypeError):
            quick_init(cls)


MAKERS = [
    (make_transmit, Transmit),
    (make_request_received, RequestReceived),
    (make_response_received, sipsans.transaction.events.ResponseReceived),
]


@pytest.mark.parametrize(("make", "cls"), MAKERS, ids=lambda x: getattr(x, "__name__", ""))
def test_maker_builds_an_ordinary_frozen_instance(make: object, cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    values = [object() for _ in names]
    built = make(*values)  # type: ignore[operator]
    assert type(built) is cls
    assert built == cls(**dict(zip(names, values, strict=True)))
    assert hash(built) == hash(cls(**dict(zip(names, values, strict=True))))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, names[0], None)


def test_maker_needs_every_field() -> None:
    with pytest.raises(TypeError):
        make_transmit(b"x", "UDP", ("192.0.2.1", 5060))  # the class's defaults do not apply


def test_maker_refuses_what_it_cannot_reproduce() -> None:
    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (Unslotted, WithPostInit):
        with pytest.raises(TypeError):
            maker(cls)
