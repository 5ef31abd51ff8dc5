"""Cheaper construction of the frozen dataclasses made for every message.

Each datagram makes a :class:`~sipsans.transaction.transport.Source`, each send a
:class:`~sipsans.transaction.transport.Transmit`, each new request, response and ended
transaction an event: a dozen frozen dataclasses per call. A frozen dataclass's
generated ``__init__`` stores each field with ``object.__setattr__(self, name,
value)``, which goes through the generic attribute machinery (about 1,500 machine
instructions a field on CPython 3.11, more than the rest of the construction). Storing
through the slot's own descriptor is the same store, and half the cost.

:func:`quick_init` swaps the generated ``__init__`` for one that does that. Nothing
else about the class changes: the signature (defaults, keyword-only fields), ``==``,
``hash``, ``repr``, :func:`dataclasses.fields` and the refusal to be modified after
construction (``FrozenInstanceError``) are the dataclass's own.

Even so, each field costs a call of its descriptor (~500 instructions), where a plain
slotted class stores a field in a few dozen. :func:`maker` goes further for the few
objects made several times per call (transmits, the request and response events): a
positional constructor that builds the instance as a plain slotted twin of the class
and then makes it an instance of the class (CPython allows assigning ``__class__``
between classes of the same layout). Half the cost of the class call again; the
result is an ordinary instance of the frozen class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maker", "quick_init"]

_C = TypeVar("_C", bound=type)
_T = TypeVar("_T")


def quick_init(cls: _C) -> _C:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` storing through slots.

    Apply it above the ``@dataclass(frozen=True, slots=True, ...)`` decorator. Fields
    with a ``default_factory`` and classes with ``__post_init__`` are not supported
    (none of the hot classes needs them); they raise TypeError at import time.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"quick_init needs a frozen, slotted dataclass, not {cls!r}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init does not run __post_init__ ({cls.__name__})")
    namespace: dict[str, Any] = {}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"quick_init does not support default_factory ({cls.__name__})")
        name = f.name
        parameter = name
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            parameter = f"{name}=_default_{name}"
        (keyword if f.kw_only else positional).append(parameter)
        # The slot's member descriptor: setting through it bypasses the frozen
        # class's __setattr__, as object.__setattr__ does, without the generic lookup.
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        body.append(f"    _set_{name}(self, {name})")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, namespace)  # the source holds only the class's own field names
    init = namespace["__init__"]
    init.__annotations__ = {f.name: f.type for f in dataclasses.fields(cls)} | {"return": None}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning __init__
    return cls


def maker(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of ``cls`` (a frozen, slotted dataclass) taking every field, by
    position, in field order; for the Endpoint's hot paths (see the module docstring).

    It skips what the class call does beyond storing the fields: defaults (every field
    is passed) and keyword packing (events are keyword-only for their users).
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if tuple(cls.__dict__.get("__slots__", ())) != tuple(names):
        raise TypeError(f"maker needs a slotted dataclass, not {cls!r}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"maker does not run __post_init__ ({cls.__name__})")
    body = [f"    self.{name} = {name}" for name in names]
    # The twin has the class's slots, in the same order: the same memory layout, which
    # is what CPython checks before letting an instance change class.
    body.append("    self.__class__ = _cls")
    namespace: dict[str, Any] = {"_cls": cls}
    source = f"def __init__({', '.join(['self', *names])}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # the source holds only the class's own field names
    init = namespace["__init__"]
    twin = type(f"_Make{cls.__name__}", (), {"__slots__": tuple(names), "__init__": init})
    if type(twin(*[None] * len(names))) is not cls:  # a refused layout raises TypeError here
        raise TypeError(f"maker cannot build {cls.__name__}")  # pragma: no cover
    return twin
