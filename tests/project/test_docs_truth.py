"""The documentation says what exists (issue: the README called SUBSCRIBE/NOTIFY and
REFER "not done" and the driving loop's names missing, docs/index.md called the Endpoint
and the adapters "coming", supported-sip.md marked transactions, dialogs and digest
"planned", and some pages were linked from nowhere).

A claim that something is missing ("not done", "not yet", "not implemented",
"planned", "coming", "none of these names exist") must not be made, in the same sentence,
table row subject or heading, about a public name of ``sipsans`` (``__all__``), a SIP
method the UserAgent implements, a part of the stack that exists, or a subcommand of the
``sipsans`` command."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import sipsans
from sipsans_asyncio.cli.main import COMMANDS

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

#: Words that call something missing.
MISSING = re.compile(
    r"\bnot (?:done|implemented)\b|\bnot yet (?:done|implemented|supported|available|written)"
    r"|\bplanned\b|\(coming\)|\*coming\*|\b(?:is|are) coming\b|\bnone of these names exist",
    re.IGNORECASE,
)
#: "Not implemented: ..." and "Not done: ..." list what a part that exists leaves out (a
#: registrar side, an adapter's corner), explaining it with the names of what exists:
#: such a list is wrong only when it names a public name as code (`Endpoint`).
EXCLUSIONS = re.compile(r"^\W*not (?:yet )?(?:implemented|done)\s*:", re.IGNORECASE)
#: A statement that points back ("none of these names exist") is read with the one before.
_POINTS_BACK = re.compile(r"\b(?:these|they)\b", re.IGNORECASE)

#: Parts of the stack by the words the docs use for them, with the module that proves
#: each exists (checked by test_every_feature_exists).
FEATURES: dict[str, str] = {
    r"\btransactions?\b|\btransaction layer": "sipsans.transaction.endpoint",
    r"\bdialogs?\b": "sipsans.dialog.model",
    r"\bdigest\b": "sipsans.auth.server",
    r"\badapters?\b": "sipsans_asyncio.session",
    r"\bWebSocket\b": "sipsans_session.rfc7118",
    r"\bSDP\b|offer/answer": "sipsans.sdp",
    r"\bregistrar\b|\bregistration\b": "sipsans.services.registrar",
    r"\btranscripts?\b": "sipsans.tools.trace",
    r"\bcapture replay\b|\bpcap\b": "sipsans.tools.replay",
}

#: The SIP methods the UserAgent implements (those it allows, and those it sends).
METHODS = sorted(
    (set(sipsans.UAConfig().allow) | {"REGISTER", "SUBSCRIBE", "REFER", "PUBLISH"}) - {"ACK"}
)


def _vocabulary() -> list[tuple[str, re.Pattern[str]]]:
    # (names of three letters or fewer, URI, Via: too common as plain words)
    words: list[tuple[str, re.Pattern[str]]] = [
        (name, re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w-])"))
        for name in sipsans.__all__
        if len(name) > 3
    ]
    words += [(method, re.compile(rf"(?<![\w-]){method}(?![\w-])")) for method in METHODS]
    words += [(pattern, re.compile(pattern, re.IGNORECASE)) for pattern in FEATURES]
    for command in COMMANDS:
        words.append(
            (
                f"sipsans {command.NAME}",
                re.compile(rf"`(?:sipsans )?{command.NAME}`|sipsans {command.NAME}\b"),
            )
        )
    return words


VOCABULARY = _vocabulary()
#: The public names written as code, for the exclusion lists.
AS_CODE = [
    *((name, re.compile(rf"`{re.escape(name)}`")) for name in sipsans.__all__),
    *((f"sipsans {c.NAME}", re.compile(rf"`sipsans {c.NAME}`")) for c in COMMANDS),
]
_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(`*\[])")


def statements(text: str) -> list[str]:
    """Headings, sentences of paragraphs, and for each table row: the sentences of
    every cell, and its subject (first cell) with its status (last cell)."""
    out: list[str] = []
    in_code = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.extend(_with_antecedents(_SENTENCE.split(" ".join(paragraph))))
            paragraph.clear()

    for line in text.splitlines():
        if line.startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            continue
        stripped = line.strip()
        if stripped.startswith("|"):
            flush()
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            for cell in cells:
                out.extend(_SENTENCE.split(cell))
            if len(cells) >= 3:
                out.append(f"{cells[0]} {cells[-1]}")
        elif stripped.startswith("#") or not stripped:
            flush()
            if stripped:
                out.append(stripped)
        elif re.match(r"(?:[-*]|\d+\.) ", stripped):  # a list item starts a paragraph
            flush()
            paragraph.append(stripped)
        else:
            paragraph.append(stripped)
    flush()
    return out


def _with_antecedents(sentences: list[str]) -> list[str]:
    return [
        f"{sentences[n - 1]} {sentence}" if n and _POINTS_BACK.search(sentence) else sentence
        for n, sentence in enumerate(sentences)
    ]


def missing_claims(text: str) -> list[str]:
    """The statements that call something that exists missing, with what they name."""
    found = []
    for statement in statements(text):
        if not MISSING.search(statement):
            continue
        words = AS_CODE if EXCLUSIONS.match(statement) else VOCABULARY
        named = [name for name, pattern in words if pattern.search(statement)]
        if named:
            found.append(f"{statement!r} (names {', '.join(named)})")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_page_calls_an_existing_feature_missing(doc: Path) -> None:
    claims = missing_claims(doc.read_text(encoding="utf-8"))
    assert not claims, "\n".join(claims)


@pytest.mark.parametrize(
    "claim",
    [
        # What the pages said before this test existed.
        "SUBSCRIBE/NOTIFY and REFER are not done yet, and the parser targets are not reached.",
        "## The driving loop (*coming*: `Endpoint`, `UserAgent` and the adapters)",
        "This is the contract from DESIGN.md §2 that the transaction layer will follow. It is"
        " shown here so you can see where the project is going; none of these names exist yet.",
        "The transaction layer (`Endpoint`), the dialog layer (`UserAgent`) and the I/O"
        " adapters are *coming*.",
        "| RFC 3261 §17 + RFC 6026: transactions | The four state machines | planned |",
        "| RFC 3428: MESSAGE | Instant messages | planned |",
        "| RFC 2617 / 7616 / 8760: digest authentication | Client and server | planned |",
        "The `sipsans subscribe` command is not implemented yet.",
        "Not implemented: `Endpoint`, `UserAgent`.",
    ],
)
def test_the_check_catches_what_the_old_pages_said(claim: str) -> None:
    assert missing_claims(claim), claim


@pytest.mark.parametrize(
    "statement",
    [
        "| RFC 6665 | both roles: NOTIFY creating the dialog. Not implemented: the PINT"
        " compatibility of §4.2.3 | done |",
        "| RFC 3262: reliable provisional responses (PRACK) | an incoming PRACK gets 405 |"
        " not implemented |",
        "Not implemented: 100rel/PRACK (RFC 3262) and session timers (RFC 4028).",
        "Not done: several flows per registration, and the registrar side of RFC 5626.",
    ],
)
def test_true_statements_of_what_is_missing_pass(statement: str) -> None:
    assert not missing_claims(statement)


def test_every_feature_exists() -> None:
    for module in FEATURES.values():
        importlib.import_module(module)


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_index_links_every_page() -> None:
    index = (REPO_ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {m.group(1) for m in _LINK.finditer(index)}
    pages = {p.name for p in (REPO_ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked, f"not linked from docs/index.md: {sorted(pages - linked)}"
    assert "architecture.md" in linked


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for match in _LINK.finditer(text):
        target = match.group(1)
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (doc.parent / target).resolve()
        assert path.exists(), f"{doc.name}: broken link {target}"
