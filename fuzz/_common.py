"""Shared driver for the atheris harnesses in this folder.

Every harness module defines ``one_input(data: bytes) -> None``, which returns
normally for any input the code under test handles correctly and raises for a
bug (an exception other than :class:`sipsans.RemoteProtocolError`, or a broken
property such as a failed round trip). :func:`main` then runs it two ways:

* ``python fuzz/fuzz_X.py [libFuzzer flags] [CORPUS_DIR ...]`` fuzzes with
  atheris (``pip install atheris``), instrumenting the ``sipsans`` package; an input
  running longer than ``WATCHDOG_SECONDS`` raises :class:`EndlessLoop`, so an endless
  loop becomes a crash input like any other;
* ``python fuzz/fuzz_X.py --replay DIR_OR_FILE ...`` feeds every file once,
  without atheris, and exits non-zero when any of them fails; this is what
  ``tests/project/test_fuzz_corpus.py`` does through pytest.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

OneInput = Callable[[bytes], None]


#: ``SIPSANS_FUZZ_SKIP_KNOWN=1`` lets a harness pass the core bugs listed in its
#: ``KNOWN_BUGS`` (reported, not fixed yet), so that a long run can look past them; the
#: corpus replay in pytest never sets it.
SKIP_KNOWN = os.environ.get("SIPSANS_FUZZ_SKIP_KNOWN") == "1"

#: A known bug: (exception type name, part of its message, a function in its traceback).
KnownBug = tuple[str, str, str]


def is_known(exc: BaseException, known: Sequence[KnownBug]) -> bool:
    """True when ``SKIP_KNOWN`` is set and ``exc`` matches an entry of ``known``."""
    if not SKIP_KNOWN:
        return False
    functions = {frame.name for frame in traceback.extract_tb(exc.__traceback__)}
    return any(
        type(exc).__name__ == name and part in str(exc) and function in functions
        for name, part, function in known
    )


def fuzzing_requested(argv: list[str]) -> bool:
    """True when the harness runs as a script under atheris (not ``--replay``, not imported)."""
    return "--replay" not in argv


def instrumented(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Context manager that makes atheris instrument ``sipsans`` imported inside it.

    Only modules imported for the first time inside the block are instrumented, so
    the harness imports ``sipsans`` inside this block before anything else does.
    """
    if not enabled:
        return contextlib.nullcontext()
    try:
        import atheris
    except ImportError:
        return contextlib.nullcontext()
    manager: contextlib.AbstractContextManager[Any] = atheris.instrument_imports(
        include=["sipsans"]
    )
    return manager


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every regular file named by ``paths``, walking directories recursively, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name[0] != ".")
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")


def replay(one_input: OneInput, paths: Iterable[str | Path]) -> int:
    """Feed each file to ``one_input`` once; print failures; return the number of failures."""
    failures = 0
    count = 0
    for path in iter_files(paths):
        count += 1
        try:
            one_input(path.read_bytes())
        except Exception:
            failures += 1
            print(f"FAIL {path}", file=sys.stderr)
            traceback.print_exc()
    print(f"replayed {count} inputs, {failures} failures", file=sys.stderr)
    return failures


def main(one_input: OneInput, argv: list[str] | None = None) -> None:
    """Entry point of a harness script (see the module docstring)."""
    args = list(sys.argv if argv is None else argv)
    if "--replay" in args:
        at = args.index("--replay")
        paths = args[at + 1 :]
        if not paths:
            print(f"usage: {args[0]} --replay DIR_OR_FILE ...", file=sys.stderr)
            sys.exit(2)
        sys.exit(1 if replay(one_input, paths) else 0)
    try:
        import atheris
    except ImportError:
        print(
            "atheris is not installed: `.venv/bin/pip install atheris` to fuzz, "
            "or pass --replay DIR_OR_FILE to run inputs without it",
            file=sys.stderr,
        )
        sys.exit(2)
    atheris.Setup(args, with_watchdog(one_input))
    atheris.Fuzz()


#: Seconds one input may run before the watchdog calls it an endless loop (inputs take
#: milliseconds). libFuzzer's own -timeout cannot stop a loop in Python code, and the
#: input is lost; an exception raised from the alarm makes it an ordinary crash input.
WATCHDOG_SECONDS = 20.0


class EndlessLoop(Exception):
    """Raised by the watchdog in the middle of an input that ran far too long."""


def with_watchdog(one_input: OneInput, seconds: float = WATCHDOG_SECONDS) -> OneInput:
    """``one_input`` interrupted by EndlessLoop after ``seconds`` (SIGALRM, main thread).

    The handler is installed at the first input, after libFuzzer installed its own
    (whose timeout report cannot interrupt Python code), and replaces it.
    """
    import signal

    installed = False

    def alarm(signum: int, frame: object) -> None:
        raise EndlessLoop(f"one input ran for more than {seconds} s: an endless loop?")

    def guarded(data: bytes) -> None:
        nonlocal installed
        if not installed:
            signal.signal(signal.SIGALRM, alarm)
            installed = True
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            one_input(data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    return guarded


class Program:
    """Reads operation arguments from the input of a program-driven harness
    (fuzz_endpoint, fuzz_ua); past its end every byte is 0."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return value

    def pick(self, items: Sequence[T]) -> T:
        return items[self.byte() % len(items)]

    def recent(self, items: Sequence[T]) -> T:
        """An item of a history list, the newest for argument 0."""
        return items[-1 - self.byte() % len(items)]

    def raw(self) -> bytes:
        """A length byte then that many bytes; length 255 means a 2-byte length follows."""
        n = self.byte()
        if n == 0xFF:
            n = self.byte() << 8 | self.byte()
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)
