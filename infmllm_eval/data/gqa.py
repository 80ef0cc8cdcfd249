"""GQA: ``{split}_balanced_questions.json``, a dict question id -> record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infmllm_eval.data.common import field, image_paths
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar


def load_gqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """Balanced questions only (the official accuracy is over them); binary/open from types."""
    path = files["questions"]
    doc = read_json(path, "GQA questions file")
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: expected an object mapping question id -> question")
    image_of = image_paths(files.get("images"), str(args.get("image_pattern", "{image_id}.jpg")),
                           path)
    samples = []
    # test/challenge files have no 'answer' at all; a file where only some questions have one
    # is broken (such a question would silently count as wrong)
    with_answers = any(isinstance(rec, dict) and "answer" in rec for rec in doc.values())
    for qid, rec in doc.items():
        where = f"{path}: question {shown(qid)}"
        if not isinstance(rec, dict):
            raise BadInputError(f"{where}: expected an object, got {type(rec).__name__}")
        balanced = rec.get("isBalanced", True)
        if not isinstance(balanced, bool):  # the official eval tests it for truth: 0, null
            raise BadInputError(f"{where}: 'isBalanced' must be true or false, got "
                                f"{shown(balanced)}")
        if not balanced:
            continue
        if with_answers and "answer" not in rec:
            raise BadInputError(f"{where}: no 'answer' while other questions have one; fix "
                                "the file (every question needs its answer)")
        image_id = field(rec, "imageId", str, where)
        raw_types = rec.get("types")
        types: dict[str, Any] = raw_types if isinstance(raw_types, dict) else {}
        structural = str(types.get("structural", ""))
        samples.append(Sample(
            id=qid, image=image_of(image_id=image_id),
            fields={"question": field(rec, "question", str, where)},
            targets=field(rec, "answer", str, where) if "answer" in rec else None,
            meta={"image_id": image_id, "structural": structural,
                  "semantic": str(types.get("semantic", "")),
                  "answer_type": "open" if structural == "query" else "binary"},
        ))
    return samples
