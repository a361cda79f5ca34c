"""The one exception type for user mistakes.

Anything the user can fix (a bad path, a malformed FASTA, an unknown species name) is raised as
``UserInputError`` with a single-line message that names the file and the fix. The CLI and
``run.py`` print it as ``error: <message>`` and exit with status 2 — no traceback.
"""

from __future__ import annotations

from typing import Any


class UserInputError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would read like a traceback in logs.
        super().__init__(" ".join(str(message).split()))


def raise_problems(problems: list[str], context: str) -> None:
    """Raise one ``UserInputError`` naming every problem at once (nothing if the list is empty).

    A user fixing their data should see all of it in one run, not one problem per run.

    Args:
        problems: one sentence per problem, each ending with its fix.
        context: what was checked, e.g. ``"data.root=/x"``.
    """
    unique = list(dict.fromkeys(problems))  # each problem once, in the order found
    if not unique:
        return
    if len(unique) == 1:
        raise UserInputError(f"{context}: {unique[0]}")
    numbered = " ".join(f"({i}) {p}" for i, p in enumerate(unique, start=1))
    raise UserInputError(f"{context}: {len(unique)} problems, all found before training: {numbered}")


def is_int(value: Any) -> bool:
    """Whether a user-given value is a real integer (YAML's ``true`` is a bool; ``1.5`` or ``"3"`` are no counts)."""
    return isinstance(value, int) and not isinstance(value, bool)
