"""No command writes over a file it reads: an output path is checked against every input of
the command before anything is read or written (``score --output`` equal to the predictions,
``report --output`` equal to a run's metrics.json, …)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from infmllm_eval.errors import BadInputError

Input = tuple[str, Path]  # (role, path): e.g. ("the predictions file", Path("p.jsonl"))


def _same(a: Path, b: Path) -> bool:
    """One file: the same inode (a symlink or a hard link to it counts), or, where one of
    them does not exist yet, the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the name
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def refuse_overwrite(output: Path, what: str, inputs: Iterable[Input], fix: str) -> None:
    """A BadInputError when ``output`` (``what``: '--output', 'the submission file X derived
    from --output', …) is one of ``inputs``, or an existing file inside an input folder.

    ``fix`` says what to do (e.g. 'choose another --output')."""
    for role, path in inputs:
        if _same(output, path):
            link = "" if output == path else f" ({output} is the same file)"
            raise BadInputError(f"{what} is {role} {path}{link}: it would be overwritten; "
                                f"{fix}")
        if path.is_dir() and output.is_file() and _inside(output, path):
            raise BadInputError(f"{what} {output} is a file inside {role} {path}: it would be "
                                f"overwritten; {fix}")
