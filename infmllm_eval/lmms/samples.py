"""lmms-eval ``--log_samples`` files → our predictions JSONL (plain JSON parsing: no lmms-eval).

lmms-eval writes ``<output_path>/…/<date>_samples_<task>.jsonl``, one object per doc:
``doc_id`` (the row's position in the task's dataset split), ``target``, ``filtered_resps``
(what the task scored: the answer after the task's filters), ``resps`` (the raw responses,
left out when equal to ``filtered_resps``), the task's per-sample metrics (VQA tasks add a
``submission`` record with the ``question_id``; OK-VQA names it in ``image``: ``<id>.jpg``),
``input`` (the prompt) and, up to lmms-eval 0.3, the ``doc`` itself. Since 0.7 a single
response is written unwrapped (``"filtered_resps": "text"``), before as ``["text"]``.

The question id is taken from ``doc.question_id``, then ``submission.question_id``, then
``submission.image``; a file that carries none (e.g. lmms-eval ≥ 0.4 on ``vqav2_val``) is
mapped through the local lmms-lab dataset the run read: its row ``doc_id`` holds the id.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import iter_jsonl, write_atomic

RESPONSES = {"filtered": "filtered_resps", "raw": "resps"}
_IMAGE_ID = re.compile(r"^(\d+)\.[A-Za-z]+$")


@dataclass
class Imported:
    """Predictions in our format plus where each question id came from."""

    records: list[dict[str, Any]]
    id_sources: Counter[str] = field(default_factory=Counter)
    lmms_task: str = ""


def lmms_task_name(path: Path) -> str:
    """The lmms-eval task named by a samples file name (``…_samples_<task>.jsonl``)."""
    stem = path.name.removesuffix(".jsonl")
    return stem.split("_samples_", 1)[1] if "_samples_" in stem else ""


def _single_text(value: Any, where: str, key: str) -> str:
    """The one response of a doc, written as "text", ["text"] or [["text"]]."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        raise BadInputError(f"{where}: '{key}' holds {len(value)} responses for one doc "
                            "(a log-likelihood, multiple-choice or repeated task?); only "
                            "generate_until tasks with one answer per doc can be imported")
    raise BadInputError(f"{where}: '{key}' must be the response text, got {shown(value)}")


def _id_value(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(1 << 128) < value < 1 << 128 else None  # no 400-digit question ids
    if isinstance(value, str) and value.strip():
        return value
    return None


def _recorded_id(rec: dict[str, Any]) -> tuple[int | str | None, str]:
    """(question id, where it was found) from the sample itself, or (None, "")."""
    doc = rec.get("doc")
    if isinstance(doc, dict) and "question_id" in doc:
        return _id_value(doc["question_id"]), "doc"
    sub = rec.get("submission")
    if isinstance(sub, dict):
        if "question_id" in sub:
            return _id_value(sub["question_id"]), "submission"
        image = sub.get("image")
        match = _IMAGE_ID.match(image) if isinstance(image, str) else None
        if match:
            return int(match.group(1)), "submission"
    return None, ""


def _question_id(rec: dict[str, Any], doc_id: int, where: str,
                 dataset_ids: Sequence[Any] | None) -> tuple[int | str, str]:
    qid, source = _recorded_id(rec)
    if source and qid is None:
        raise BadInputError(f"{where}: the question_id in '{source}' must be an integer or "
                            "string (an integer of at most 128 bits, a non-empty string)")
    if dataset_ids is not None:
        if doc_id >= len(dataset_ids):
            raise BadInputError(f"{where}: doc_id {shown(doc_id)} is beyond the --dataset split "
                                f"({len(dataset_ids)} rows): not the dataset this run read")
        mapped = _id_value(dataset_ids[doc_id])
        if qid is not None and str(mapped) != str(qid):
            raise BadInputError(f"{where}: doc_id {shown(doc_id)} is question_id {shown(qid)} "
                                f"in the samples but {shown(mapped)} in --dataset: not the "
                                "dataset (or split) this run read")
        if qid is None:
            if mapped is None:
                raise BadInputError(f"{where}: --dataset row {shown(doc_id)} has no usable "
                                    "question_id")
            return mapped, "dataset"
    if qid is None:
        raise BadInputError(
            f"{where}: doc_id {shown(doc_id)} carries no question_id (lmms-eval >= 0.4 leaves "
            "the doc out of the samples file, and this task records no submission): pass --dataset "
            "PATH, the local lmms-lab dataset the run read, to map doc_id to question_id")
    return qid, source


def convert_samples(path: Path, response: str = "filtered",
                    dataset_ids: Sequence[Any] | None = None) -> Imported:
    """Read an lmms-eval samples file: one prediction per doc, keyed by question id."""
    if response not in RESPONSES:
        raise BadInputError(f"--response {shown(response)}: expected filtered or raw")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; pass the samples file "
                            "(<output_path>/…/<date>_samples_<task>.jsonl)")
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise BadInputError(f"{path}: not a regular file; pass the samples file "
                            "(<output_path>/…/<date>_samples_<task>.jsonl)")
    out = Imported([], Counter(), lmms_task_name(path))
    first: dict[int | str, int] = {}
    for lineno, rec in iter_jsonl(path, "lmms-eval samples file"):
        where = f"{path}: line {lineno}"
        if not isinstance(rec, dict):
            raise BadInputError(f"{where}: expected an lmms-eval sample object, got "
                                f"{type(rec).__name__}")
        doc_id = rec.get("doc_id")
        if "filtered_resps" not in rec or isinstance(doc_id, bool) or not isinstance(doc_id, int):
            raise BadInputError(f"{where}: not an lmms-eval --log_samples record (expected "
                                "an integer 'doc_id' and 'filtered_resps')")
        if doc_id < 0:  # a row position: -1 would map to the dataset's last row
            raise BadInputError(f"{where}: doc_id {shown(doc_id)} is negative; doc_id is the "
                                "row's position in the dataset split (0, 1, …)")
        key = RESPONSES[response]
        if key not in rec:  # lmms-eval drops resps when they equal filtered_resps
            key = "filtered_resps"
        text = _single_text(rec[key], where, key)
        qid, source = _question_id(rec, doc_id, where, dataset_ids)
        if qid in first:
            raise BadInputError(f"{where}: question_id {shown(qid)} again (first on line "
                                f"{first[qid]}); a samples file holds one task and one filter")
        first[qid] = lineno
        out.records.append({"id": qid, "prediction": text, "lmms_doc_id": doc_id})
        out.id_sources[source] += 1
    if not out.records:
        raise BadInputError(f"{path}: no samples in the file")
    return out


#: characters that line-based readers (Python's str.splitlines among them) take as line
#: breaks but JSON leaves unescaped with ensure_ascii=False: written as \uXXXX escapes so
#: that only "\n" separates records
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def jsonl_line(record: Any) -> str:
    """One JSONL record: UTF-8 text as it is, but no character a reader could split on."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS)


def write_predictions(path: Path, records: list[dict[str, Any]]) -> None:
    """Our predictions JSONL (what `score` reads), written atomically."""
    lines = [jsonl_line(r) for r in records]
    write_atomic(path, "\n".join(lines) + "\n")


def default_output(samples: Path) -> Path:
    """``X_samples_T.jsonl`` → ``X_samples_T.predictions.jsonl`` next to it."""
    if not samples.name or samples.is_dir():
        raise BadInputError(f"{samples} is a folder; pass the samples file "
                            "(<output_path>/…/<date>_samples_<task>.jsonl)")
    return samples.with_name(samples.name.removesuffix(".jsonl") + ".predictions.jsonl")
