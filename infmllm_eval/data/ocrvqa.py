"""OCR-VQA: the official ``dataset.json`` (image key -> {imageURL, questions[], answers[],
title, authorName, genre, split: 1 train / 2 val / 3 test}); the images are downloaded by
the user from the URLs and named ``<key><extension of the URL>`` (the official download
script's names).

One sample per question of the chosen split (loader argument ``split``: 3 = test), id
``<key>_<index of the question>``; its target is the one answer given for it.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infmllm_eval.data.common import field, image_paths
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar


def url_extension(url: str) -> str:
    """'.jpg' for 'http://images.amazon.com/images/P/1.jpg' (the file's extension, or '')."""
    return posixpath.splitext(urlsplit(url).path)[1]


def _item_samples(key: str, item: Any, where: str, image_of: Any) -> list[Sample]:
    questions = field(item, "questions", list, where)
    answers = field(item, "answers", list, where)
    if len(questions) != len(answers):
        raise BadInputError(f"{where}: {len(questions)} questions but {len(answers)} answers")
    url = field(item, "imageURL", str, where)
    genre = item.get("genre") or ""
    if not isinstance(genre, str):
        raise BadInputError(f"{where}: field 'genre' must be a string, got {shown(genre)}")
    image = image_of(key=key, ext=url_extension(url))
    samples = []
    for i, (question, answer) in enumerate(zip(questions, answers, strict=True)):
        if not isinstance(question, str) or not isinstance(answer, str) or not answer.strip():
            raise BadInputError(f"{where}: question {i} and its answer must be strings, the "
                                "answer not blank")
        samples.append(Sample(f"{key}_{i}", image, {"question": question}, answer,
                              {"image": key, "genre": genre}))
    return samples


def load_ocrvqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """The questions of the split's images, in file order."""
    path = files["dataset"]
    split = args.get("split", 3)
    if not isinstance(split, int) or isinstance(split, bool):
        raise BadInputError(f"loader_args.split {shown(split)}: expected the split number "
                            "(1 train, 2 validation, 3 test)")
    doc = read_json(path, "OCR-VQA dataset file")
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: expected an object of image key -> item")
    image_of = image_paths(files.get("images"), str(args.get("image_pattern", "{key}{ext}")),
                           path)
    samples: list[Sample] = []
    for key, item in doc.items():
        where = f"{path}: item {shown(key)}"
        if field(item, "split", int, where) == split:
            samples += _item_samples(str(key), item, where, image_of)
    if not samples:
        raise BadInputError(f"{path}: holds no questions of split {shown(split)}")
    return samples
