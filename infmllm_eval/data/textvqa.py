"""TextVQA: ``TextVQA_0.5.1_{split}.json`` with ``{"data": [...]}`` records."""

from __future__ import annotations

from pathlib import Path

from infmllm_eval.data.common import check_unique, field, image_paths, top_list
from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar

#: human answers per question in every TextVQA split with answers
TEXTVQA_ANSWERS = 10


def load_textvqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per question; OCR tokens are kept in the fields for prompts that use them."""
    path = files["annotations"]
    records = top_list(read_json(path, "TextVQA file"), "data", path)
    image_of = image_paths(files.get("images"), str(args.get("image_pattern", "{image_id}.jpg")),
                           path)
    samples = []
    # a test split has no 'answers' at all; a file where only some records have them is broken
    with_answers = any(isinstance(rec, dict) and rec.get("answers") is not None
                       for rec in records)
    for i, rec in enumerate(records):
        where = f"{path}: data[{i}]"
        qid = field(rec, "question_id", int, where)
        image_id = field(rec, "image_id", str, where)
        answers = rec.get("answers")
        if answers is None and with_answers:
            raise BadInputError(f"{where} (question_id {qid}): no 'answers' while other "
                                "records have them; fix the file")
        if answers is not None:
            answers = field(rec, "answers", list, where)
            if not answers:
                raise BadInputError(f"{where} (question_id {qid}): 'answers' is empty; "
                                    "every question needs its human answers")
            if len(answers) != TEXTVQA_ANSWERS:
                # the official evaluator asserts ten; with fewer, the leave-one-out formula
                # scores even an answer every annotator gave below 100 (one answer: 0)
                raise BadInputError(f"{where} (question_id {qid}): {len(answers)} answers, "
                                    f"TextVQA has {TEXTVQA_ANSWERS} per question (the official "
                                    "evaluator asserts it); fix the file")
            for j, a in enumerate(answers):
                if not isinstance(a, str):
                    field({"answer": a}, "answer", str, f"{where}.answers[{j}]")
        tokens = rec.get("ocr_tokens", [])
        samples.append(Sample(
            id=qid, image=image_of(image_id=image_id),
            fields={"question": field(rec, "question", str, where),
                    "ocr_tokens": tokens if isinstance(tokens, list) else []},
            targets=answers, meta={"image_id": image_id},
        ))
    check_unique([s.id for s in samples], path, "question_id")
    return samples
