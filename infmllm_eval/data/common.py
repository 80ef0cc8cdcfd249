"""Field checks shared by the loaders: every error names the file, the record and the field."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError, shown


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
            f"{where}: field '{key}' must be {names}, got {type(value).__name__} "
            f"({shown(value, 40)})"
        )
    return value


def top_list(doc: Any, key: str, path: Path) -> list[Any]:
    """doc[key] as a list, e.g. the 'questions' array of a VQA questions file."""
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise BadInputError(f"{path}: expected an object with a '{key}' list")
    items: list[Any] = doc[key]
    return items


def check_unique(ids: list[Any], path: Path | str, what: str) -> None:
    """Refuse duplicate ids, naming the first one found."""
    if len(set(ids)) == len(ids):
        return
    seen: set[Any] = set()
    for item in ids:
        if item in seen:
            raise BadInputError(f"{path}: duplicate {what} {shown(item)}")
        seen.add(item)


def image_paths(folder: Path | None, pattern: str,
                source: Path | str = "") -> Callable[..., str | None]:
    """A function giving a sample's image file from the card's pattern (or None when the task
    has no image folder); the folder prefix is computed once, as loaders call it per sample.

    The names come from a data file (``source``), so the filled-in name must stay inside the
    image folder: an absolute name or one with a ``..`` component is refused, naming the file,
    the item (the values given) and the name. Symbolic links inside the folder are followed
    as usual (a linked-in COCO folder keeps working)."""
    if folder is None:
        return lambda **values: None
    if leaves_folder(pattern):
        raise BadInputError(f"loader_args.image_pattern {shown(pattern)}: must be relative to "
                            "the image folder, without '..'")
    _check_pattern(pattern)
    prefix = os.path.join(str(folder), "")
    fill = pattern.format
    origin = f"{source}: " if source else ""

    def path(**values: Any) -> str:
        try:
            name = fill(**values)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise BadInputError(f"loader_args.image_pattern {shown(pattern)}: unknown or "
                                f"malformed field ({shown(exc)}); fields available: "
                                f"{', '.join(values)}") from None
        if leaves_folder(name):
            item = ", ".join(f"{k}={shown(v, 40)}" for k, v in values.items())
            raise BadInputError(
                f"{origin}{item}: image name {shown(name)} leads outside the image folder "
                f"{folder} (absolute, or a '..' component); image names must be relative "
                "to the image folder - fix the file or use the original one")
        return prefix + name
    return path


def _check_pattern(pattern: str) -> None:
    """An image pattern fills plain fields (``{image_id:012d}``): attribute or index access
    (``{id.__class__}``) and huge widths (``{id:999999999999}``, a MemoryError) are refused."""
    try:
        fields = [(f, spec) for _, f, spec, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise BadInputError(f"loader_args.image_pattern {shown(pattern)}: malformed "
                            f"({shown(str(exc), 60)[1:-1]})") from None
    for name, spec in fields:
        if not name.isidentifier():
            raise BadInputError(f"loader_args.image_pattern {shown(pattern)}: field "
                                f"{shown(name, 40)} must be a plain name such as {{image_id}} "
                                "(no attribute, index or position)")
        if re.search(r"\d{4,}", spec or ""):
            raise BadInputError(f"loader_args.image_pattern {shown(pattern)}: format "
                                f"{shown(spec, 40)} of field {{{name}}} is too wide")


def leaves_folder(name: str) -> bool:
    """Whether a relative name from a data file could leave its folder."""
    if name.startswith(("/", "\\")) or "\0" in name:
        return True
    return ".." in name.replace("\\", "/").split("/")
