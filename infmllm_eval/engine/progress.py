"""What the run loop reports while it works."""

from __future__ import annotations

import sys


class Progress:
    """What the run loop reports; this base reports nothing. The CLI draws it with rich,
    tests may record it."""

    def start(self, task: str, total: int, done: int) -> None:
        """A task starts: ``total`` samples, ``done`` of them journaled already."""

    def advance(self, count: int) -> None:
        """``count`` more samples are answered."""

    def finish(self) -> None:
        """The task's generation is complete."""

    def abort(self) -> None:
        """An error or Ctrl-C stops the task: take the display down before the message."""


NoProgress = Progress


def notice(message: str) -> None:
    """A one-line notice on stderr (something the run did on its own that the user should
    know of: a dropped torn journal line, a stale lock taken over)."""
    sys.stderr.write(f"notice: {message}\n")
    sys.stderr.flush()
