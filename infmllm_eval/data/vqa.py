"""VQAv2 and OK-VQA: official questions file plus (optional) annotations file.

The files are decoded straight into typed records (only the fields scoring needs), which is
several times faster and smaller than generic JSON for VQAv2 val's 2.1 M answers.
"""

from __future__ import annotations

from functools import partial
from operator import attrgetter
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


_QUESTION_ID = attrgetter("question_id")
#: a Sample from its field tuple, without the Python-level NamedTuple __new__ (214k calls)
_sample = partial(tuple.__new__, Sample)


def _by_id(path: Path, anns: list[_Annotation]) -> dict[int, _Annotation]:
    out: dict[int, _Annotation] = {}
    for ann in anns:
        if ann.question_id in out:
            raise BadInputError(f"{path}: duplicate question_id {ann.question_id}")
        if not ann.answers:
            raise BadInputError(f"{path}: question_id {ann.question_id} has no answers")
        out[ann.question_id] = ann
    return out


def _per_question(path: Path, questions: list[_Question],
                  anns: list[_Annotation]) -> list[_Annotation]:
    """The annotation of each question, in question order; errors name the first problem."""
    ids = list(map(_QUESTION_ID, questions))
    if ids == list(map(_QUESTION_ID, anns)) and len(set(ids)) == len(ids):
        return anns  # the official files: same order, unique ids (no dictionary needed)
    by_id = _by_id(path, anns)
    ordered = []
    for qid in ids:
        ann = by_id.get(qid)
        if ann is None:
            raise BadInputError(f"{path}: no annotation for question_id {qid}")
        ordered.append(ann)
    return ordered


def _answer_lists(path: Path, anns: list[_Annotation]) -> list[list[str]]:
    """The answer strings of each annotation (none may be empty)."""
    out = [[x.answer for x in a.answers] for a in anns]
    if not all(out):
        empty = next(a for a in anns if not a.answers)
        raise BadInputError(f"{path}: question_id {empty.question_id} has no answers")
    return out


def load_vqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per question; targets are the human answers (None for test splits)."""
    qpath = files["questions"]
    questions = read_json(qpath, "questions file", _QuestionFile).questions
    apath = files.get("annotations")
    anns = None
    if apath is not None:
        anns = _per_question(apath, questions,
                             read_json(apath, "annotations file", _AnnotationFile).annotations)
    folder = files.get("images")
    image_of = image_paths(folder, str(args.get("image_pattern", "{image_id}.jpg")), qpath)
    with no_gc():  # built column by column (VQAv2 val: 214k questions)
        ids = list(map(_QUESTION_ID, questions))
        image_ids = [q.image_id for q in questions]
        images = ([None] * len(ids) if folder is None
                  else [image_of(image_id=i) for i in image_ids])
        fields = [{"question": q.question} for q in questions]
        targets: list[list[str]] | list[None]
        if anns is None or apath is None:
            targets = [None] * len(ids)
            metas = [{"image_id": i} for i in image_ids]
        else:
            targets = _answer_lists(apath, anns)
            metas = [{"image_id": i, "answer_type": a.answer_type,
                      "question_type": a.question_type}
                     for i, a in zip(image_ids, anns, strict=True)]
        samples = list(map(_sample, zip(ids, images, fields, targets, metas, strict=True)))
    check_unique(ids, qpath, "question_id")
    return samples
