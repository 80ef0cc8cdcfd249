"""Generators for tests/bad_inputs/cases_engine.json (merged into generators.GENERATORS):
run directories in odd states (journals, run.json, locks) made at test time."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def engine_text(out: str, text: str, encoding: str = "utf-8") -> None:
    """``text`` written as ``encoding`` (latin-1 makes a file that is not UTF-8)."""
    Path(out).write_bytes(text.encode(encoding))


def engine_folder(out: str) -> None:
    """A folder (with a file in it) where a file is expected."""
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "inside.txt").write_text("x\n")


def engine_fifo(out: str) -> None:
    """A named pipe where the journal is expected: reading it would block forever."""
    os.mkfifo(out)


def engine_huge_id(out: str, digits: str) -> None:
    """A journal line whose id is an integer of ``digits`` digits."""
    Path(out).write_text('{"id": ' + "7" * int(digits) + ', "prediction": "yes"}\n')


GENERATORS: dict[str, Callable[..., None]] = {
    "engine_text": engine_text,
    "engine_folder": engine_folder,
    "engine_fifo": engine_fifo,
    "engine_huge_id": engine_huge_id,
}
