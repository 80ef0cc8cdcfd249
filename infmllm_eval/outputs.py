"""No command writes over a file it reads: an output path is checked against every input of
the command before anything is read or written (``score --output`` equal to the predictions,
``report --output`` equal to a run's metrics.json, …)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from infmllm_eval.errors import BadInputError, shown

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


def _is(path: Path, kind: Callable[[int], bool]) -> bool:
    """``path`` exists and is of ``kind`` (stat.S_ISDIR ...); False for a name the OS refuses
    (too long, a NUL byte, a symlink loop), whose reading then says what is wrong."""
    try:
        return kind(os.stat(path).st_mode)
    except (OSError, ValueError):
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
        if _is(path, stat.S_ISDIR) and _is(output, stat.S_ISREG) and _inside(output, path):
            raise BadInputError(f"{what} {output} is a file inside {role} {path}: it would be "
                                f"overwritten; {fix}")


def usable_paths(*paths: tuple[str, Path | None]) -> None:
    """A BadInputError for a path given on the command line that the OS refuses to even look
    up (a name too long, a component that is not a folder's, no permission): checked once at
    the start of a command, so that no later ``exists()`` or ``is_dir()`` (which raise on
    these) ends in a traceback. A path that does not exist is fine here."""
    for what, path in paths:
        if path is None:
            continue
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # reported by the read, naming the loop
                continue
            raise BadInputError(f"{what} {shown(str(path), 120)[1:-1]}: {exc.strerror}; give "
                                "a usable path") from None
        except ValueError:  # a NUL byte
            raise BadInputError(f"{what} {shown(str(path), 120)}: not a valid path") from None
