"""The one exception type for user mistakes.

Anything the user can fix (a bad path, a malformed FASTA, an unknown species name) is raised as
``UserInputError`` with a single-line message that names the file and the fix. The CLI and
``run.py`` print it as ``error: <message>`` and exit with status 2 — no traceback.
"""

from __future__ import annotations


class UserInputError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would read like a traceback in logs.
        super().__init__(" ".join(str(message).split()))
