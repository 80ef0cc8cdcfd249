"""Reading user files with errors that name the file and the position; atomic writes."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError


def read_bytes(path: Path, what: str) -> bytes:
    """Whole file, or a BadInputError saying which file is missing/unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise BadInputError(f"{what} is a directory, expected a file: {path}") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {path}: {exc.strerror}") from None


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_json(path: Path, what: str = "JSON file") -> Any:
    """Parse a JSON document; malformed input names the file, line and column."""
    text = _decode(read_bytes(path, what), path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise BadInputError(f"{path}: JSON nested too deeply") from None


def iter_jsonl(path: Path, what: str = "JSONL file") -> Iterator[tuple[int, Any]]:
    """Yield (line number, object) for each non-blank line."""
    text = _decode(read_bytes(path, what), path)
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"{path}: malformed JSON on line {lineno}, column {exc.colno}: {exc.msg}"
            ) from None


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Atomic, pretty JSON (NaN/inf written as null, which strict JSON readers accept)."""
    write_atomic(path, json.dumps(_finite(obj), indent=1, ensure_ascii=False) + "\n")
