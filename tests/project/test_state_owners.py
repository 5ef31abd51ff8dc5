"""A state machine changes state in its table and nowhere else.

Dialogs, subscriptions and transactions keep their state in a plain attribute, for
speed; these tests read the package's source and hold every assignment to it to the
one method that applies a table row (``Dialog.advance``, ``Subscription.advance``,
and the Endpoint's runner for transactions), so that no part of the package sets a
state by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

SIPSANS = Path(__file__).resolve().parents[2] / "sipsans"

#: Where an attribute named ``state`` may be assigned: (module, class, method).
OWNERS = {
    ("dialog/model.py", "Dialog", "__init__"),
    ("dialog/model.py", "Dialog", "advance"),
    ("dialog/subscription.py", "Subscription", "__init__"),
    ("dialog/subscription.py", "Subscription", "advance"),
    # The transaction runner applies the compiled table rows (transaction/compiled.py).
    ("transaction/record.py", "Transaction", "__init__"),
    ("transaction/endpoint.py", "Endpoint", "_apply"),
}


def _state_assignments() -> list[tuple[str, str, str, int]]:
    """Every ``<expr>.state = ...`` (or augmented/annotated) in the package, as
    (module, class, function, line)."""
    found: list[tuple[str, str, str, int]] = []
    for path in sorted(SIPSANS.rglob("*.py")):
        module = path.relative_to(SIPSANS).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)] + [tree]:
            cls_name = cls.name if isinstance(cls, ast.ClassDef) else ""
            body = cls.body
            for fn in [n for n in body if isinstance(n, ast.FunctionDef)]:
                for node in ast.walk(fn):
                    targets: list[ast.expr] = []
                    if isinstance(node, ast.Assign):
                        targets = list(node.targets)
                    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                        targets = [node.target]
                    found.extend(
                        (module, cls_name, fn.name, target.lineno)
                        for target in targets
                        for sub in ast.walk(target)
                        if isinstance(sub, ast.Attribute) and sub.attr == "state"
                    )
    return found


def test_dialog_and_subscription_state_change_only_through_their_tables() -> None:
    strays = [a for a in _state_assignments() if a[:3] not in OWNERS]
    assert strays == [], f"state assigned outside its table's advance(): {strays}"


def test_the_check_sees_assignments() -> None:
    # The owners themselves are found, so an empty list of strays means something.
    owners = {a[:3] for a in _state_assignments()}
    assert owners >= OWNERS
