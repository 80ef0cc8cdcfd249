"""What the run loop reports while it works."""

from __future__ import annotations

import sys
from typing import Protocol


class Progress(Protocol):
    """What the run loop reports; the CLI draws it with rich, tests may record it."""

    def start(self, task: str, total: int, done: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing."""

    def start(self, task: str, total: int, done: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None

    def finish(self) -> None:
        return None


def notice(message: str) -> None:
    """A one-line notice on stderr (something the run did on its own that the user should
    know of: a dropped torn journal line, a stale lock taken over)."""
    sys.stderr.write(f"notice: {message}\n")
    sys.stderr.flush()
