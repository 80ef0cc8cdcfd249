"""Reading predictions made anywhere: our JSONL, or the official JSON result lists."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import read_bytes
from infmllm_eval.jsonio import (
    check_unique_keys_jsonl,
    decode_json,
    iter_jsonl,
    no_gc,
)
from infmllm_eval.likelihood import scored_record

if TYPE_CHECKING:
    from infmllm_eval.families.base import Family

ID_KEYS = ("id", "question_id", "questionId", "sent_id", "image_id", "index")
TEXT_KEYS = ("prediction", "answer", "text", "caption", "response")


@dataclass(frozen=True)
class Predictions:
    """Prediction text by sample key (the id as a string), in file order."""

    path: Path
    text: dict[str, str]
    unit: str  # "line" (JSONL), "item" (JSON list) or "folder" (a family's official layout)
    #: key -> error of the samples whose input failed (a run's journal marks them with an
    #: ``error`` field): scored wrong whatever their placeholder text
    failed: dict[str, str] = field(default_factory=dict)

    def position(self, key: str) -> str:
        """Where ``key`` was found, e.g. 'line 12' (computed on demand: only errors need it)."""
        if self.unit == "folder":
            return f"the folder {self.path}"
        index = list(self.text).index(key)
        if self.unit == "item":
            return f"item {index}"
        lines = [n for n, raw in enumerate(self.path.read_bytes().splitlines(), 1) if raw.strip()]
        return f"line {lines[index]}"


class _Invalid(Exception):
    """Something in the fast path needs the slow path's precise error message."""


def _pick(rec: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for key in keys:
        if key in rec:
            return key, rec[key]
    return None


def _key(raw_id: Any) -> str | None:
    """The sample key of an id value, or None when the value cannot be an id."""
    if isinstance(raw_id, bool):
        return None
    if isinstance(raw_id, int | str):
        return str(raw_id)
    # a float names an integer id only below 2**53: above, 12345678901234567.0 is read as
    # ...568, another sample's id
    if isinstance(raw_id, float) and raw_id.is_integer() and abs(raw_id) < 2**53:
        return str(int(raw_id))
    return None


def _fast(records: list[Any]) -> dict[str, str]:
    text: dict[str, str] = {}
    for rec in records:
        # our own format, checked inline: this loop runs once per prediction
        if type(rec) is dict and type(rec.get("id")) is int and type(rec.get("prediction")) is str:
            key = str(rec["id"])
            if key in text:
                raise _Invalid
            text[key] = rec["prediction"]
            continue
        if not isinstance(rec, dict):
            raise _Invalid
        got_id, got_text = _pick(rec, ID_KEYS), _pick(rec, TEXT_KEYS)
        if got_id is None or got_text is None or not isinstance(got_text[1], str):
            raise _Invalid
        other = _key(got_id[1])
        if other is None or other in text:
            raise _Invalid
        text[other] = got_text[1]
    return text


class _OwnLine(msgspec.Struct, gc=False):
    """A line in our own format (other fields are ignored)."""

    id: int
    prediction: str


_OWN_LINES = msgspec.json.Decoder(_OwnLine)


def _lines(data: bytes) -> dict[str, str]:
    """JSONL predictions: our own format decoded typed, in one call (the 214k lines of VQAv2
    val), anything else through :func:`_fast`; raises as ``_fast`` does."""
    try:
        records = _OWN_LINES.decode_lines(data)
    except msgspec.ValidationError:  # other field names or types: the general path decides
        return _fast(msgspec.json.Decoder().decode_lines(data))
    text = dict(zip(map(str, map(attrgetter("id"), records)),
                    map(attrgetter("prediction"), records), strict=True))
    if len(text) != len(records):
        raise _Invalid  # a duplicate id
    return text


def _explain(path: Path, unit: str, records: list[tuple[int, Any]]) -> None:
    """Raise the precise error (file, line/item, field) for records the fast path refused."""
    first: dict[str, int] = {}
    for pos, rec in records:
        where = f"{path}: {unit} {pos}"
        if not isinstance(rec, dict):
            raise BadInputError(f"{where}: expected an object, got {type(rec).__name__}")
        got_id, got_text = _pick(rec, ID_KEYS), _pick(rec, TEXT_KEYS)
        if got_id is None or got_text is None:
            missing, keys = ("id", ID_KEYS) if got_id is None else ("prediction", TEXT_KEYS)
            raise BadInputError(f"{where}: no {missing} field (one of {', '.join(keys)})")
        (id_key, raw_id), (text_key, value) = got_id, got_text
        key = _key(raw_id)
        if key is None:
            raise BadInputError(f"{where}: '{id_key}' must be an integer or string, got "
                                f"{json.dumps(raw_id)}")
        if not isinstance(value, str):
            raise BadInputError(f"{where}: '{text_key}' must be a string, got "
                                f"{json.dumps(value)}")
        if key in first:
            raise BadInputError(
                f"{where}: duplicate id {shown(raw_id)} (first at {unit} {first[key]})")
        first[key] = pos


def read_predictions(path: Path) -> Predictions:
    """Parse a predictions file; ids and texts are type-checked, duplicates refused; the
    samples a run recorded as failed (an ``error`` field) are listed in ``failed``."""
    data = read_bytes(path, "predictions file").removeprefix(b"\xef\xbb\xbf")
    found = _read_predictions(path, data)
    if b'"error"' not in data:
        return found
    records = (enumerate(decode_json(data, path))
               if found.unit == "item" else iter_jsonl(path, "predictions file"))
    failed = {}
    for _, rec in records:
        error = rec.get("error") if isinstance(rec, dict) else None
        got_id = _pick(rec, ID_KEYS) if isinstance(error, str) else None
        key = _key(got_id[1]) if got_id is not None else None
        if key is not None and isinstance(error, str):
            failed[key] = error
    return replace(found, failed=failed)


def _read_predictions(path: Path, data: bytes) -> Predictions:
    """``read_predictions`` without the failed samples. The common case (a valid file) is
    decoded in one call; any problem is re-read line by line to name the exact line or
    item."""
    is_list = data.lstrip(b" \t\r\n").startswith(b"[")
    if b'"logprobs"' in data:  # likelihood inference: per-option scores (infmllm_eval.likelihood)
        if is_list:
            items = decode_json(data, path)
            if not isinstance(items, list):
                raise BadInputError(f"{path}: expected a JSON list of predictions")
            return _with_scores(path, "item", list(enumerate(items)))
        return _with_scores(path, "line", list(iter_jsonl(path, "predictions file")))
    if is_list:
        records = decode_json(data, path)  # errors name the file and position
        if not isinstance(records, list):
            raise BadInputError(f"{path}: expected a JSON list of predictions")
        try:
            return Predictions(path, _fast(records), "item")
        except _Invalid:
            _explain(path, "item", list(enumerate(records)))
    else:
        try:
            with no_gc():
                found = Predictions(path, _lines(data), "line")
            check_unique_keys_jsonl(data, path, "predictions file")
            return found
        except (_Invalid, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            _explain(path, "line", list(iter_jsonl(path, "predictions file")))
    raise BadInputError(f"{path}: unreadable predictions")  # _explain raises first


def _with_scores(path: Path, unit: str, records: list[tuple[int, Any]]) -> Predictions:
    """Predictions of which some carry per-option scores (``logprobs``, ``tokens``)."""
    try:
        text = _fast([rec for _, rec in records])
    except _Invalid:
        _explain(path, unit, records)
        raise BadInputError(f"{path}: unreadable predictions") from None
    for pos, rec in records:
        if "logprobs" in rec:
            key = _key(rec[next(k for k in ID_KEYS if k in rec)])
            assert key is not None  # _fast checked it
            text[key] = scored_record({**rec, "prediction": text[key]}, f"{path}: {unit} {pos}")
    return Predictions(path, text, unit)


def read_prediction_source(path: Path, family: Family) -> Predictions:
    """A predictions file, or a folder in a benchmark's official result layout when the task
    family reads one (``reads_result_folder``, e.g. MME's folder of ``<subtask>.txt`` files)."""
    if path.is_dir():
        if not family.reads_result_folder:
            raise BadInputError(f"{path} is a folder; this task reads a predictions file "
                                "(JSONL or a JSON list)")
        return Predictions(path, family.read_result_folder(path), "folder")
    return read_predictions(path)
