"""Reading predictions made anywhere: our JSONL, or the official JSON result lists."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import iter_jsonl, read_bytes, read_json

ID_KEYS = ("id", "question_id", "questionId", "sent_id", "image_id", "index")
TEXT_KEYS = ("prediction", "answer", "text", "caption", "response")


@dataclass(frozen=True)
class Predictions:
    """Prediction text by sample key (the id as a string), with the line each came from."""

    path: Path
    text: dict[str, str]
    line: dict[str, int]


def _records(path: Path) -> tuple[str, list[tuple[int, Any]]]:
    """('item', records of a JSON list) or ('line', records of JSONL)."""
    head = read_bytes(path, "predictions file")[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        doc = read_json(path, "predictions file")
        if not isinstance(doc, list):
            raise BadInputError(f"{path}: expected a JSON list of predictions")
        return "item", list(enumerate(doc))
    return "line", list(iter_jsonl(path, "predictions file"))


def _pick(rec: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for key in keys:
        if key in rec:
            return key, rec[key]
    return None


def read_predictions(path: Path) -> Predictions:
    """Parse a predictions file; ids and texts are type-checked, duplicates refused."""
    unit, records = _records(path)
    text: dict[str, str] = {}
    line: dict[str, int] = {}
    for pos, rec in records:
        where = f"{path}: {unit} {pos}"
        if not isinstance(rec, dict):
            raise BadInputError(f"{where}: expected an object, got {type(rec).__name__}")
        got_id, got_text = _pick(rec, ID_KEYS), _pick(rec, TEXT_KEYS)
        if got_id is None or got_text is None:
            missing = "id" if got_id is None else "prediction"
            keys = ID_KEYS if got_id is None else TEXT_KEYS
            raise BadInputError(f"{where}: no {missing} field (one of {', '.join(keys)})")
        (id_key, raw_id), (text_key, value) = got_id, got_text
        bad_float = isinstance(raw_id, float) and not (
            math.isfinite(raw_id) and raw_id.is_integer())
        if isinstance(raw_id, bool) or not isinstance(raw_id, int | str | float) or bad_float:
            raise BadInputError(f"{where}: '{id_key}' must be an integer or string, got "
                                f"{json.dumps(raw_id)}")
        if not isinstance(value, str):
            raise BadInputError(f"{where}: '{text_key}' must be a string, got "
                                f"{json.dumps(value) if not isinstance(value, float) else value}")
        key = str(int(raw_id)) if isinstance(raw_id, float) else str(raw_id)
        if key in text:
            raise BadInputError(f"{where}: duplicate id {raw_id!r} (first at {unit} {line[key]})")
        text[key], line[key] = value, pos
    return Predictions(path, text, line)
