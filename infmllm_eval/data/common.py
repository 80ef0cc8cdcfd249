"""Field checks shared by the loaders: every error names the file, the record and the field."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError


def field(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """record[key], checked to be of ``kind`` (bool is never accepted as a number)."""
    if not isinstance(record, dict):
        raise BadInputError(f"{where}: expected an object, got {type(record).__name__}")
    if key not in record:
        raise BadInputError(f"{where}: missing field '{key}'")
    value = record[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise BadInputError(
            f"{where}: field '{key}' must be {names}, got {type(value).__name__} ({value!r:.40})"
        )
    return value


def top_list(doc: Any, key: str, path: Path) -> list[Any]:
    """doc[key] as a list, e.g. the 'questions' array of a VQA questions file."""
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise BadInputError(f"{path}: expected an object with a '{key}' list")
    items: list[Any] = doc[key]
    return items


def check_unique(ids: list[Any], path: Path, what: str) -> None:
    """Refuse duplicate ids, naming the first one found."""
    if len(set(ids)) == len(ids):
        return
    seen: set[Any] = set()
    for item in ids:
        if item in seen:
            raise BadInputError(f"{path}: duplicate {what} {item!r}")
        seen.add(item)


def image_paths(folder: Path | None, pattern: str) -> Callable[..., str | None]:
    """A function giving a sample's image file from the card's pattern (or None when the task
    has no image folder); the folder prefix is computed once, as loaders call it per sample."""
    if folder is None:
        return lambda **values: None
    prefix = os.path.join(str(folder), "").replace("{", "{{").replace("}", "}}")
    fill = (prefix + pattern).format

    def path(**values: Any) -> str:
        try:
            return fill(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise BadInputError(f"loader_args.image_pattern {pattern!r}: unknown or malformed "
                                f"field ({exc!r}); fields available: {', '.join(values)}"
                                ) from None
    return path
