"""Speed tricks, in one place: what each one buys and why it is safe.

The domain code is written to be read; where measuring showed that a plainer form costs
too much on the path of every message, the trick lives here (or is listed here) and the
domain code calls it through a named helper. Each figure is an A/B measured with
``bench/instructions.py`` (callgrind, instructions per call of the ``sipsans uas`` path,
``adapter-call``, and per parse of the INVITE of ``bench/parse.py``, ``parse-invite``):
the cost of the plain code over the trick, in one sitting, against 849,697 instructions
per adapter-call and 92,871 per parse-invite. A trick that bought less than 1 % of an
adapter-call was removed, not kept: the list of what went is at the end.

Bounded memos (:func:`remember`, :func:`remember_text`)
    A peer writes the same values in message after message (its header names in the
    same order, its Via sent-by, From, Contact, CSeq), so the parser and the views keep
    what they made of each text in a plain dict read with ``.get``. Only results of pure
    functions of the key that are immutable (or never changed) are kept: every reader
    shares them, so a memo changes no result. Each memo starts over when it holds
    :data:`ENTRIES` entries (no eviction bookkeeping) and keeps no text longer than
    :data:`KEY_LENGTH`, so a peer sending ever-new values costs a bounded amount of
    memory. They pay on repeated text only: real traffic has fresh tags, branches and
    Call-IDs, so the memos keyed on whole values (a From with its tag) miss there and
    cost one failed lookup; ``bench/instructions.py parse-distinct`` (an INVITE with a
    fresh branch, From tag and Call-ID each time, against 100,798 per parse) measures that
    case. The memos kept, with the A/B of each (adapter-call; parse-invite and
    parse-distinct where it parses):

    * ``uri._uri_cache``, URI texts -> parsed URIs: +7.7 % (+65,683); parse-distinct
      +0.2 % (the parser leaves URIs as text; the UA reads them).
    * ``parser._SHAPES``, header names in order -> their layout: +6.7 % (+57,297);
      parse-invite +28 % (+26,366); parse-distinct +26 % (+26,618).
    * ``fields._SENT_BY``, ``SIP/2.0/UDP host:port`` -> its parts: +3.6 % (+30,531);
      parse-invite +10.6 % (+9,889); parse-distinct +10.1 % (+10,174).
    * ``model._CHECKED_CONTACTS``, Contact values that passed the check: +2.4 % (+20,395).
    * ``fields._NAME_ADDRS``, whole From/To/Contact values -> NameAddr: +2.0 % (+17,292);
      parse-invite +9.5 % (+8,868); parse-distinct +1.0 % (+1,006: a From with a fresh
      tag misses, a To without a tag still hits).
    * ``model._CHECKED_PAIRS``, header pairs given to make_response: +1.5 % (+13,078).
    * ``fields._HEADS``, ``"Name" <uri`` heads -> display name and URI text: +1.4 %
      (+11,930); parse-distinct +5.3 % (+5,356: the head is what a fresh tag leaves).
    * ``fields._CSEQS``, CSeq values: +1.4 % (+11,742); parse-invite +4.8 % (+4,485);
      parse-distinct +4.7 % (+4,689).
    * ``parser._START_LINES``, start lines -> how to build the message: +1.25 % (+10,622);
      parse-invite +3.6 % (+3,314); parse-distinct +3.4 % (+3,462).
    * ``Endpoint._sources`` (per Endpoint), (transport, remote, local) -> Source:
      +1.3 % (+11,001).

Frozen dataclasses built on the hot path (:func:`quick_init`, :func:`maker`)
    Every datagram makes a Source, every send a Transmit, every request and response an
    event. A frozen dataclass's own ``__init__`` stores each field through
    ``object.__setattr__`` (the generic attribute machinery, ~1,500 instructions a field
    on CPython 3.11); :func:`quick_init` generates an ``__init__`` that stores through the
    slot's own descriptor, the same store at half the cost: +2.2 % (+18,851) without it.
    :func:`maker` builds the three objects made several times per call (Transmit,
    RequestReceived, ResponseReceived) as a slotted twin and then makes it an instance of
    the class: +1.4 % (+12,084) without it, +5.4 % (+45,491) without both. The result is
    an ordinary instance of the frozen class (same ``==``, ``hash``, ``repr``, fields,
    refusal to be changed); the generated code holds only the class's own field names.
    Both are for CPython only: a class that mypyc compiled (a native class, whose
    ``__init__`` is C already) is left as it is, and :func:`maker` then returns a plain
    positional constructor. This module is never compiled (it uses ``exec``).

Enum members bound as module constants (``transaction/endpoint.py``, ``ua/server.py``)
    On CPython 3.11, ``EnumType`` has a ``__getattr__``, which sends every ``State.X``
    read off the class through CPython's slow attribute hook (~900 instructions, against
    ~20 for a module global). The Endpoint reads a dozen per input: binding them once,
    in one block at the top of endpoint.py, buys +3.7 % (+31,446). The UserAgent's
    server side reads ten per call (states, inputs and reasons of the dialog table):
    +1.2 % of a ua-call (+9,700) without its block. They cannot move into this module,
    which sits below the layers whose enums they are. Safe: Enum members
    are singletons, the bound names are the members themselves. (Python 3.12 dropped
    that ``__getattr__``; mypyc compiles the reads to a constant load.)

Enums hashed by identity (:class:`IdentityHashedEnum`)
    ``enum.Enum.__hash__`` is Python code (``hash(self._name_)``), run for every lookup
    of the transaction tables, keyed by (state, input), and every set membership test.
    The enums of the transaction and dialog layers derive from :class:`IdentityHashedEnum`, whose
    members hash by identity, in C: +1.7 % (+14,469) with Enum's own hash. Safe: the
    members are singletons, so identity is equality; a member still equals only itself.

Instances built without ``__init__`` (:func:`uninitialized`)
    The parser builds every Headers, Request, Response and From/To NameAddr it reads, and
    each URI it parses; their public constructors check and convert what a user passes
    (a URI given as text is parsed, header pairs are checked, a NameAddr looks for its
    tag). The parser has done all of that already, so its constructors
    (``Headers.from_parsed``, ``Request._received``, ``Response._received``, the
    ``_parsed`` constructors of the URI types, NameAddr's copies and fast path) take an
    instance from :func:`uninitialized` and fill in its slots: +4.2 % (+35,935;
    parse-distinct +8.2 %) when they call the public constructors. Safe: each fills in
    every slot the class declares, from values its own checks produced. mypyc's native
    classes cannot be built without their ``__init__``, so these four modules
    (message/fields.py, headers.py, model.py, uri_model.py) stay interpreted in the
    opt-in compiled build (bench/README.md).

Typed views read straight from ``Headers.views`` (``message/model.py``)
    The Via, From, To, Call-ID and CSeq properties of a message are read a dozen times
    per message; they look their view up in the headers' view dict and only call
    :meth:`Headers.cached` when it is missing: +2.7 % (+23,358) with ``cached()`` on
    every read. Safe: the dict is emptied by every change of the headers.

Removed (each under 1 % of an adapter-call; the plain code replaced it):
    the header-name cache of ``headers.canonical_key`` (+0.0 %), the layout memo of
    ``headers._layout`` (-0.02 %: the parser's shapes memo already holds the layouts),
    ``uri._params_cache`` (-0.01 %), the ``tuple.__new__`` constructors of Via and CSeq
    (+0.44 %, +3,768; they also stopped mypyc), the Enum constants of
    ``transaction/machine.py`` (+0.67 %), the copy of ``Headers._positions`` inlined in
    ``Headers.lines`` (+0.45 %, +3,876), the UA's memo of Contact lines -> remote targets
    (``dialog/model.py``, +0.89 %, +7,562) and its ``tuple.__new__`` DialogId
    constructor (+0.15 %).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = [
    "ENTRIES",
    "KEY_LENGTH",
    "IdentityHashedEnum",
    "maker",
    "quick_init",
    "remember",
    "remember_text",
    "uninitialized",
]

K = TypeVar("K")
V = TypeVar("V")
_C = TypeVar("_C", bound=type)
_T = TypeVar("_T")

# -- bounded memos -------------------------------------------------------------------

#: Entries a memo holds before it starts over.
ENTRIES = 1024
#: Texts longer than this are not remembered (each entry keeps its key alive).
KEY_LENGTH = 256


def remember(memo: dict[K, V], key: K, value: V, entries: int = ENTRIES) -> V:
    """Store ``value`` under ``key`` (emptying ``memo`` first when it holds ``entries``);
    returns ``value``."""
    if len(memo) >= entries:
        memo.clear()
    memo[key] = value
    return value


def remember_text(memo: dict[str, V], text: str, value: V) -> V:
    """:func:`remember` for a key that is a text from the network: not past KEY_LENGTH."""
    if len(text) <= KEY_LENGTH:
        if len(memo) >= ENTRIES:
            memo.clear()
        memo[text] = value
    return value


# -- frozen dataclasses ----------------------------------------------------------------


def _is_python_class(cls: type) -> bool:
    """False for a class mypyc compiled: its ``__init__`` is not a Python function."""
    return isinstance(cls.__dict__.get("__init__"), type(_is_python_class))


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
    if not _is_python_class(cls):
        return cls
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
    if not _is_python_class(cls):

        def make(*values: object) -> _T:
            return cls(**dict(zip(names, values, strict=True)))

        return make
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


# -- enums -------------------------------------------------------------------------------


class IdentityHashedEnum(enum.Enum):
    """An Enum whose members hash by identity, in C (see the module docstring)."""

    __hash__ = object.__hash__


# -- construction without __init__ -----------------------------------------------------


if TYPE_CHECKING:

    def uninitialized(cls: type[_T]) -> _T:
        """An instance of ``cls`` whose ``__init__`` has not run, for a constructor that
        fills in every slot itself from values already checked (see the module docstring).
        """

else:
    # object.__new__ itself: no Python frame between the caller and the allocation.
    uninitialized = object.__new__
