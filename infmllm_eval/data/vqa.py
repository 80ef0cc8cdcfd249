"""VQAv2 and OK-VQA: official questions file plus (optional) annotations file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infmllm_eval.data.common import check_unique, field, image_path, top_list
from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar


def _answers(path: Path, index: int, ann: Any) -> list[str]:
    where = f"{path}: annotations[{index}]"
    raw = field(ann, "answers", list, where)
    if not raw:
        raise BadInputError(f"{where}: empty 'answers' list")
    return [field(a, "answer", str, f"{where}.answers[{j}]") for j, a in enumerate(raw)]


def _annotations(path: Path) -> dict[int, tuple[list[str], dict[str, Any]]]:
    out: dict[int, tuple[list[str], dict[str, Any]]] = {}
    for i, ann in enumerate(top_list(read_json(path, "annotations file"), "annotations", path)):
        qid = field(ann, "question_id", int, f"{path}: annotations[{i}]")
        if qid in out:
            raise BadInputError(f"{path}: duplicate question_id {qid}")
        meta = {k: ann[k] for k in ("answer_type", "question_type") if isinstance(ann.get(k), str)}
        out[qid] = (_answers(path, i, ann), meta)
    return out


def load_vqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per question; targets are the human answers (None for test splits)."""
    qpath = files["questions"]
    questions = top_list(read_json(qpath, "questions file"), "questions", qpath)
    apath = files.get("annotations")
    anns = _annotations(apath) if apath is not None else None
    pattern = str(args.get("image_pattern", "{image_id}.jpg"))
    samples = []
    for i, q in enumerate(questions):
        where = f"{qpath}: questions[{i}]"
        qid = field(q, "question_id", int, where)
        image_id = field(q, "image_id", int, where)
        text = field(q, "question", str, where)
        targets: list[str] | None = None
        meta: dict[str, Any] = {}
        if anns is not None:
            if qid not in anns:
                raise BadInputError(f"{apath}: no annotation for question_id {qid}")
            targets, meta = anns[qid]
        samples.append(Sample(
            id=qid, image=image_path(files.get("images"), pattern, image_id=image_id),
            fields={"question": text}, targets=targets, meta={"image_id": image_id, **meta},
        ))
    check_unique((s.id for s in samples), qpath, "question_id")
    return samples
