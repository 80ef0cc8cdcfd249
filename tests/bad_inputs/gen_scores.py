"""Generators for tests/bad_inputs/cases_scores.json (merged into generators.GENERATORS).

Each writes one small ground-truth or predictions file in a named variant (``kind``): a test
split without answers, CircularEval copies that contradict their base rows, refer instances
with impossible boxes, caption references that tokenize to nothing ...
"""

from __future__ import annotations

import base64
import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

HUGE = 7 * 10**4999  # 5,000 digits (made arithmetically: str() of it would be refused)


def _write_json(out: str, doc: Any) -> None:
    Path(out).write_text(json.dumps(doc), encoding="utf-8")


def scores_predictions(out: str, ids: str, prediction: str = "yes", quoted: str = "") -> None:
    """JSONL predictions: one line per comma-separated id (numbers unless ``quoted``), all
    with the same ``prediction``."""
    lines = [json.dumps({"id": i if quoted else int(i), "prediction": prediction})
             for i in ids.split(",")]
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")


def scores_textvqa(out: str, kind: str) -> None:
    """TextVQA file of two questions: ``test`` (no answers: a test split), ``mixed`` (the
    second has none), ``empty`` (the second has an empty answer list)."""
    records: list[dict[str, Any]] = [
        {"question_id": 5, "image_id": "0054c91397f2fe05", "question": "what brand is it?",
         "answers": ["nokia"] * 10, "ocr_tokens": ["NOKIA"]},
        {"question_id": 6, "image_id": "0054c91397f2fe05", "question": "what colour is it?",
         "answers": ["black"] * 10, "ocr_tokens": []},
    ]
    if kind == "test":
        for rec in records:
            del rec["answers"]
    elif kind == "mixed":
        del records[1]["answers"]
    elif kind == "empty":
        records[1]["answers"] = []
    _write_json(out, {"dataset_type": "val", "dataset_name": "textvqa", "data": records})


def scores_gqa(out: str, kind: str) -> None:
    """GQA questions: ``test`` (no answers), ``mixed`` (question 202 without its answer)."""
    doc: dict[str, dict[str, Any]] = {
        qid: {"imageId": "n1", "question": "Is the sky blue?", "answer": "yes",
              "isBalanced": True, "types": {"structural": "verify", "semantic": "attr"}}
        for qid in ("201", "202", "203")}
    if kind == "test":
        for rec in doc.values():
            del rec["answer"]
    elif kind == "mixed":
        del doc["202"]["answer"]
    _write_json(out, doc)


def _tiny_jpeg() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


_MMBENCH_HEADER = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category",
                   "l2-category", "image"]


def _mmbench_rows(kind: str) -> list[list[str]]:
    """Two questions with all their CircularEval passes (index + p * 1,000,000, options
    rotated as the official files rotate them), then the damage named by ``kind``."""
    image = _tiny_jpeg()
    q0 = ("What colour is the square?", ["red", "blue", "green", "yellow"], "A")
    q1 = ("What shape is it?", ["square", "circle"], "A")
    rows: list[list[str]] = []
    for group, (question, texts, answer) in enumerate((q0, q1)):
        n = len(texts)
        for p in range(n):
            moved = [texts[(i + p) % n] for i in range(n)] + ["nan"] * (4 - n)
            right = "ABCD"[("ABCD".index(answer) - p) % n]
            rows.append([str(group + p * 1_000_000), question, "nan", *moved, right,
                         "color_recognition", "finegrained_perception (instance-level)",
                         image if p == 0 else str(group)])
    by_index = {row[0]: row for row in rows}
    if kind == "other_answer":  # pass 1 of question 0: B (green); its options put red at D
        by_index["1000000"][7] = "B"
    elif kind == "other_question":
        by_index["2000000"][1] = "What colour is the circle?"
    elif kind == "other_options":
        by_index["1000000"][3] = "purple"
    elif kind == "no_base":  # a copy of question 5, which the file does not have
        copy = list(by_index["1000001"])
        copy[0], copy[-1] = "1000005", image
        rows.append(copy)
    elif kind == "pass_beyond":  # question 1 has two options: passes 0 and 1 only
        copy = list(by_index["1000001"])
        copy[0] = "2000001"
        rows.append(copy)
    elif kind == "some_questions":  # question 1 keeps no copy at all
        rows.remove(by_index["1000001"])
    elif kind == "missing_pass":
        rows.remove(by_index["3000000"])
    return rows


def scores_mmbench(out: str, kind: str = "valid", part: str = "tsv",
                   prediction: str = "A") -> None:
    """``part`` tsv: the MMBench TSV of variant ``kind``; preds: a JSONL answering every row
    of that TSV with ``prediction``."""
    rows = _mmbench_rows(kind)
    if part == "preds":
        scores_predictions(out, ",".join(row[0] for row in rows), prediction)
        return
    text = "\n".join("\t".join(row) for row in [_MMBENCH_HEADER, *rows]) + "\n"
    Path(out).write_text(text, encoding="utf-8")


def scores_instances(out: str, kind: str) -> None:
    """The refcoco instances of tests/bad_inputs/_valid with annotation 10 (the val ref's)
    or its image damaged as ``kind`` says."""
    image = {"id": 100, "file_name": "COCO_train2014_000000000100.jpg", "width": 200,
             "height": 100}
    ann = {"id": 10, "image_id": 100, "bbox": [10, 10, 50, 40], "category_id": 1}
    damage: dict[str, tuple[dict[str, Any], str, Any]] = {
        "zero_width_image": (image, "width", 0),
        "negative_height_image": (image, "height", -100),
        "zero_width_box": (ann, "bbox", [10, 10, 0, 40]),
        "negative_height_box": (ann, "bbox", [10, 10, 50, -40]),
        "negative_x_box": (ann, "bbox", [-5, 10, 50, 40]),
    }
    record, key, value = damage[kind]
    record[key] = value
    other = {"id": 11, "image_id": 100, "bbox": [100, 20, 60, 70], "category_id": 1}
    _write_json(out, {"images": [image], "annotations": [ann, other]})


def scores_refs_pickle(out: str, kind: str) -> None:
    """A refs pickle (as the refer toolkit writes it) whose val ref carries a 5,000-digit
    ``sent_id`` or ``ann_id``."""
    refs: list[dict[str, Any]] = [
        {"ref_id": 1, "ann_id": 10, "image_id": 100, "split": "val", "sent_ids": [7],
         "sentences": [{"sent_id": 7, "sent": "man on the left", "raw": "Man on the left."}]},
    ]
    if kind == "huge_sent_id":
        refs[0]["sentences"][0]["sent_id"] = HUGE
    elif kind == "huge_ann_id":
        refs[0]["ann_id"] = HUGE
    Path(out).write_bytes(pickle.dumps(refs, protocol=2))


def scores_big_id(out: str, kind: str) -> None:
    """A file whose id is a 5,000-digit number (written as text: str() of such an int is
    refused by Python): ``vqa_questions``, ``textvqa``, ``predictions`` (JSONL),
    ``predictions_list`` (a JSON list, GQA's questionId), ``mmbench`` (the TSV index)."""
    digits = "7" * 5000
    if kind == "vqa_questions":
        text = f'{{"questions": [{{"question_id": {digits}, "image_id": 1, "question": "q?"}}]}}'
    elif kind == "textvqa":
        text = (f'{{"data": [{{"question_id": {digits}, "image_id": "a", "question": "q?", '
                '"answers": ["x"]}]}')
    elif kind == "predictions":
        text = f'{{"id": 1, "prediction": "yes"}}\n{{"id": {digits}, "prediction": "no"}}\n'
    elif kind == "predictions_list":
        text = f'[{{"questionId": {digits}, "prediction": "yes"}}]'
    else:
        rows = _mmbench_rows("valid")
        rows[0][0] = digits
        text = "\n".join("\t".join(row) for row in [_MMBENCH_HEADER, *rows]) + "\n"
    Path(out).write_text(text, encoding="utf-8")


def scores_mme_release(out: str, kind: str = "two_stems") -> None:
    """An MME release folder ``out`` whose 'existence' subtask holds 0001.jpg AND 0001.png
    next to 0001.txt (which image the questions are about is undecidable)."""
    folder = Path(out) / "existence"
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(folder / "0001.jpg")
    Image.new("RGB", (8, 8), (30, 30, 200)).save(folder / "0001.png")
    (folder / "0001.txt").write_text(
        "Is there a red square?\tYes\nIs there a blue square?\tNo\n", encoding="utf-8")


def scores_mme_results(out: str, responses: str, images: str = "1,1,2,2") -> None:
    """An MME result folder ``out`` with color.txt: two images, two questions each (answers
    Yes, No, Yes, No); ``responses`` holds the four responses separated by '|' (written as
    given: leading spaces and all); ``images`` the image number of each line."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    answers = ("Yes", "No", "Yes", "No")
    lines = [f"000{image}.jpg\tIs there a red square? Please answer yes or no.\t"
             f"{answer}\t{response}" for image, answer, response
             in zip(images.split(","), answers, responses.split("|"), strict=True)]
    (folder / "color.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def scores_karpathy(out: str, refs: str) -> None:
    """A Karpathy COCO file: one test image per '|'-separated group of references ('~'
    separates the references of one image); cocoid 1, 2, ..."""
    images = [{"filepath": "val2014", "filename": f"COCO_val2014_{i:012d}.jpg", "cocoid": i,
               "imgid": i, "split": "test", "sentids": [],
               "sentences": [{"raw": raw, "tokens": []} for raw in group.split("~")]}
              for i, group in enumerate(refs.split("|"), 1)]
    _write_json(out, {"dataset": "coco", "images": images})


def scores_nocaps(out: str, kind: str = "domain_punctuation") -> None:
    """NoCaps captions: images 0 and 1 in-domain with real captions, image 2 alone in
    out-domain with captions of punctuation only (its domain cannot be scored)."""
    images = [{"id": i, "file_name": f"{i}.jpg", "domain": domain}
              for i, domain in enumerate(("in-domain", "in-domain", "out-domain"))]
    captions = {0: ["a red square on a table", "a red box"], 1: ["a blue circle", "a ball"],
                2: ["...", " ? ! ", ", ; :"]}
    annotations = [{"image_id": i, "id": 10 * i + k, "caption": c}
                   for i, caps in captions.items() for k, c in enumerate(caps)]
    _write_json(out, {"images": images, "annotations": annotations})


GENERATORS: dict[str, Callable[..., None]] = {f.__name__: f for f in (
    scores_predictions, scores_textvqa, scores_gqa, scores_mmbench, scores_instances,
    scores_refs_pickle, scores_big_id, scores_mme_release, scores_mme_results, scores_karpathy,
    scores_nocaps)}
