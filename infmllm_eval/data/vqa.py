"""VQAv2 and OK-VQA: official questions file plus (optional) annotations file.

The files are decoded straight into typed records (only the fields scoring needs), which is
several times faster and smaller than generic JSON for VQAv2 val's 2.1 M answers.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from infmllm_eval.data.common import check_unique, image_paths
from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import no_gc, read_json
from infmllm_eval.types import Sample, Scalar


class _Question(msgspec.Struct, gc=False):
    question_id: int
    image_id: int
    question: str


class _QuestionFile(msgspec.Struct, gc=False):
    questions: list[_Question]


class _Answer(msgspec.Struct, gc=False):
    answer: str


class _Annotation(msgspec.Struct, gc=False):
    question_id: int
    answers: list[_Answer]
    answer_type: str | None = None
    question_type: str | None = None


class _AnnotationFile(msgspec.Struct, gc=False):
    annotations: list[_Annotation]


def _annotations(path: Path) -> dict[int, _Annotation]:
    out: dict[int, _Annotation] = {}
    for ann in read_json(path, "annotations file", _AnnotationFile).annotations:
        if ann.question_id in out:
            raise BadInputError(f"{path}: duplicate question_id {ann.question_id}")
        if not ann.answers:
            raise BadInputError(f"{path}: question_id {ann.question_id} has no answers")
        out[ann.question_id] = ann
    return out


def load_vqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per question; targets are the human answers (None for test splits)."""
    qpath = files["questions"]
    questions = read_json(qpath, "questions file", _QuestionFile).questions
    apath = files.get("annotations")
    anns = _annotations(apath) if apath is not None else None
    image_of = image_paths(files.get("images"), str(args.get("image_pattern", "{image_id}.jpg")))
    samples: list[Sample] = []
    append = samples.append
    with no_gc():  # one pass, positional construction: this loop runs 214k times for VQAv2
        for q in questions:
            qid, image_id = q.question_id, q.image_id
            if anns is None:
                append(Sample(qid, image_of(image_id=image_id), {"question": q.question}, None,
                              {"image_id": image_id}))
                continue
            ann = anns.get(qid)
            if ann is None:
                raise BadInputError(f"{apath}: no annotation for question_id {qid}")
            meta = {"image_id": image_id, "answer_type": ann.answer_type,
                    "question_type": ann.question_type}
            append(Sample(qid, image_of(image_id=image_id), {"question": q.question},
                          [a.answer for a in ann.answers], meta))
    check_unique([s.id for s in samples], qpath, "question_id")
    return samples
