"""POPE: the official question files ``coco_pope_{random,popular,adversarial}.json`` (JSON
lines: ``question_id``, ``image`` = a COCO val2014 file name, ``text``, ``label`` yes/no)."""

from __future__ import annotations

from pathlib import Path

from infmllm_eval.data.common import check_unique, field, image_paths
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import iter_jsonl
from infmllm_eval.types import Sample, Scalar


def load_pope(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One sample per line; the label must be yes or no (POPE's evaluate.py counts anything
    else as neither, which would silently change precision and recall)."""
    path = files["questions"]
    image_of = image_paths(files.get("images"), "{image}", path)
    samples = []
    for lineno, rec in iter_jsonl(path, "POPE questions file"):
        where = f"{path}: line {lineno}"
        qid = field(rec, "question_id", (int, str), where)
        image = field(rec, "image", str, where)
        label = field(rec, "label", str, where)
        if label not in ("yes", "no"):
            raise BadInputError(f"{where}: label {shown(label)} must be yes or no")
        samples.append(Sample(qid, image_of(image=image),
                              {"question": field(rec, "text", str, where)}, label,
                              {"image": image}))
    if not samples:
        raise BadInputError(f"{path}: holds no questions")
    check_unique([s.id for s in samples], path, "question_id")
    return samples
