"""SEED-Bench (v1): the official ``SEED-Bench.json`` (``question_type``: dimension name ->
id; ``questions[]``: question_id, question, choice_a..choice_d, answer letter, data_id (the
image file for image questions), data_type image/video, question_type_id) + the image folder.

The image questions are dimensions 1-9; a loader argument ``dimensions`` (default "1-9")
selects which. Each sample carries its dimension's name as the SEED paper gives it (the
file's own ``question_type`` map is not used) as ``category`` and as a facet
(``accuracy_scene_understanding`` ...).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from infmllm_eval.data.common import field, image_paths, top_list
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Samples, Scalar

#: the evaluation dimensions as the SEED-Bench paper (arXiv 2307.16125, Table 1) names them
DIMENSIONS = {1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Attributes",
              4: "Instance Location", 5: "Instances Counting", 6: "Spatial Relation",
              7: "Instance Interaction", 8: "Visual Reasoning", 9: "Text Understanding",
              10: "Action Recognition", 11: "Action Prediction", 12: "Procedure Understanding"}
LETTERS = ("A", "B", "C", "D")


def facet_name(dimension: str) -> str:
    """'Scene Understanding' -> 'scene_understanding'."""
    return re.sub(r"[^a-z0-9]+", "_", dimension.lower()).strip("_")


def _dimensions(spec: str) -> tuple[int, int]:
    """'1-9' → (1, 9); within SEED-Bench v1's dimensions 1-12."""
    try:
        low, _, high = spec.partition("-")
        first, last = int(low), int(high or low)
    except ValueError:
        first = last = 0
    if not 1 <= first <= last <= len(DIMENSIONS):
        raise BadInputError(f"loader_args.dimensions {shown(spec)}: expected N or N-M within "
                            f"1-{len(DIMENSIONS)}, e.g. 1-9")
    return first, last


def _sample(rec: Any, where: str, image_of: Any) -> Sample:
    qid = field(rec, "question_id", (str, int), where)
    options = [(letter, field(rec, f"choice_{letter.lower()}", str, where))
               for letter in LETTERS]
    answer = field(rec, "answer", str, where)
    if answer not in LETTERS:
        raise BadInputError(f"{where}: answer {shown(answer)} must be one of A, B, C, D")
    dimension = DIMENSIONS[rec["question_type_id"]]
    data_id = field(rec, "data_id", str, where)
    return Sample(qid, image_of(data_id=data_id),
                  {"question": field(rec, "question", str, where), "hint": "",
                   "options": options}, answer,
                  {"category": dimension, "facets": (facet_name(dimension),)})


def load_seedbench(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One sample per image question of the chosen dimensions, in file order."""
    path = files["questions"]
    doc = read_json(path, "SEED-Bench file")
    questions = top_list(doc, "questions", path)
    low, high = _dimensions(str(args.get("dimensions", "1-9")))
    image_of = image_paths(files.get("images"), str(args.get("image_pattern", "{data_id}")),
                           path)
    samples: list[Sample] = []
    outside: set[str] = set()
    first: dict[str, int] = {}
    for i, rec in enumerate(questions):
        where = f"{path}: questions[{i}]"
        type_id = field(rec, "question_type_id", int, where)
        qid = field(rec, "question_id", (str, int), where)
        if str(qid) in first:  # 101669 and "101669" are one id to a predictions file
            raise BadInputError(f"{where}: question_id {shown(qid)} is also the id of "
                                f"questions[{first[str(qid)]}]; ids must be distinct")
        first[str(qid)] = i
        if type_id not in DIMENSIONS:
            raise BadInputError(f"{where}: question_type_id {type_id} is not a SEED-Bench v1 "
                                f"dimension (1-{len(DIMENSIONS)})")
        if not low <= type_id <= high:
            outside.add(str(qid))
            continue
        if field(rec, "data_type", str, where) != "image":
            raise BadInputError(f"{where}: dimension {type_id} question with data_type "
                                f"{shown(rec['data_type'])}; only image questions are scored")
        samples.append(_sample(rec, where, image_of))
    if not samples:
        raise BadInputError(f"{path}: holds no questions of dimensions "
                            f"{shown(args.get('dimensions', '1-9'))}")
    return Samples(samples, outside, "SEED-Bench questions of other dimensions, e.g. the "
                   "video questions of dimensions 10-12")
