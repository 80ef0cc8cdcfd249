"""Write the toy benchmarks in the official file formats of the real ones.

    python -m tools.toy.build [--out infmllm_eval/toy/data] [--split test|train]

Layout under ``--out`` (the data root of the ``toy_*`` cards)::

    caption/dataset_toy.json + caption/images/     Karpathy JSON, 5 raw references an image
    vqa/questions.json, vqa/annotations.json + vqa/images/   VQA v2 style, 10 answers each
    refer/refs(umd).p, refer/instances.json + refer/images/  refer toolkit pickle + COCO boxes
    mme/MME_Benchmark/{color,count}/{images,questions_answers_YN}/  yes/no pairs
    mmbench/toy_mmbench.tsv                        MMBench TSV, base64 PNGs, circular passes

Everything is a function of the seeds (the test split uses seeds from :data:`TEST_SEEDS`,
the train split from 0, the trainer's range), so two builds write the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import pickle
import random
from pathlib import Path
from typing import Any

from infmllm_eval.metrics.choice import CIRCULAR_STRIDE, rotations
from infmllm_eval.toy import DATA_ROOT
from tools.toy import questions as q
from tools.toy.world import SIZE, TRAIN_SEEDS, Scene, make_scene

DATA = DATA_ROOT
TEST_SEEDS = TRAIN_SEEDS  # the trainer draws its scenes below this
# images (or questions) per split: caption images, VQA images (3 questions each), grounding
# objects (2 expressions each), MME images per subtask (2 questions each), MMBench questions
SIZES = {"test": {"caption": 100, "vqa": 100, "refer": 100, "mme": 40, "mmbench": 60},
         "train": {"caption": 500, "vqa": 500, "refer": 500, "mme": 200, "mmbench": 300}}
TASK_OFFSET = {"caption": 0, "vqa": 10_000, "refer": 20_000, "mme": 30_000, "mmbench": 40_000}
MME_SUBTASKS = ("color", "count")


def _seeds(split: str, task: str, n: int) -> list[int]:
    base = (TEST_SEEDS if split == "test" else 0) + TASK_OFFSET[task]
    return [base + i for i in range(n)]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _json(path: Path, doc: Any) -> None:
    _write(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def _image(folder: Path, name: str, scene: Scene) -> None:
    _write(folder / name, scene.png())


def write_caption(out: Path, split: str, seeds: list[int]) -> None:
    """Karpathy-style ``dataset_toy.json``: images[{filename, cocoid, imgid, split,
    sentences[{raw, tokens, imgid, sentid}]}]."""
    images, sentid = [], 0
    for imgid, seed in enumerate(seeds):
        scene, name = make_scene(seed), f"toy_{seed}.png"
        _image(out / "caption" / "images", name, scene)
        sentences = []
        for raw in q.captions(scene):
            tokens = raw.lower().replace(".", "").replace(":", "").replace(",", "").split()
            sentences.append({"raw": raw, "tokens": tokens, "imgid": imgid, "sentid": sentid})
            sentid += 1
        images.append({"filepath": "images", "filename": name, "cocoid": seed, "imgid": imgid,
                       "split": split, "sentids": [s["sentid"] for s in sentences],
                       "sentences": sentences})
    _json(out / "caption" / "dataset_toy.json", {"dataset": "toy", "images": images})


def write_vqa(out: Path, split: str, seeds: list[int]) -> None:
    """VQA v2 questions and annotations files (three questions an image, ten answers each)."""
    questions, annotations = [], []
    for seed in seeds:
        scene, rng = make_scene(seed), random.Random(seed)
        _image(out / "vqa" / "images", f"toy_{seed}.png", scene)
        for k, item in enumerate(q.vqa_items(scene, rng)):
            qid = seed * 10 + k
            questions.append({"image_id": seed, "question": item.question, "question_id": qid})
            answers = [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                       for i, a in enumerate(item.answers)]
            annotations.append({"question_id": qid, "image_id": seed, "answers": answers,
                                "multiple_choice_answer": item.answer,
                                "question_type": item.question_type,
                                "answer_type": item.answer_type})
    info = {"description": "toy VQA (infmllm-eval)", "version": "1.0"}
    _json(out / "vqa" / "questions.json", {"info": info, "task_type": "Open-Ended",
                                           "data_type": "toy", "data_subtype": split,
                                           "questions": questions})
    _json(out / "vqa" / "annotations.json", {"info": info, "data_type": "toy",
                                             "data_subtype": split, "annotations": annotations})


def write_refer(out: Path, split: str, seeds: list[int]) -> None:
    """refer toolkit files: ``refs(umd).p`` (protocol-2 pickle) and COCO ``instances.json``;
    one ref per object of the chosen shape, two expressions each."""
    images, anns, refs = [], [], []
    categories = {"circle": 1, "square": 2, "triangle": 3}
    for seed in seeds:
        scene, rng = make_scene(seed), random.Random(seed)
        name = f"toy_{seed}.png"
        _image(out / "refer" / "images", name, scene)
        images.append({"id": seed, "file_name": name, "width": SIZE, "height": SIZE})
        index = rng.randrange(len(scene.shapes))
        for k, shape in enumerate(scene.shapes):
            x0, y0, x1, y1 = shape.box
            anns.append({"id": seed * 10 + k, "image_id": seed, "category_id":
                         categories[shape.kind], "bbox": [x0, y0, x1 - x0, y1 - y0],
                         "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
        shape = scene.shapes[index]
        sentences = []
        for j, sent in enumerate(q.expressions(shape, scene, rng)):
            sentences.append({"sent_id": seed * 10 + j, "sent": sent, "raw": sent.capitalize(),
                              "tokens": sent.split()})
        refs.append({"ref_id": seed, "ann_id": seed * 10 + index, "image_id": seed,
                     "split": split, "category_id": categories[shape.kind], "file_name": name,
                     "sent_ids": [s["sent_id"] for s in sentences], "sentences": sentences})
    _write(out / "refer" / "refs(umd).p", pickle.dumps(refs, protocol=2))
    _json(out / "refer" / "instances.json", {
        "images": images, "annotations": anns,
        "categories": [{"id": i, "name": n, "supercategory": "shape"}
                       for n, i in categories.items()]})


def write_mme(out: Path, split: str, seeds: list[int]) -> None:
    """MME release layout (SPLIT style): per subtask ``images/<stem>.png`` and
    ``questions_answers_YN/<stem>.txt`` with two ``question<TAB>Yes|No`` lines."""
    root = out / "mme" / "MME_Benchmark"
    for offset, subtask in enumerate(MME_SUBTASKS):
        for seed in seeds:
            seed += offset * 1000
            scene, rng = make_scene(seed), random.Random(seed)
            stem = f"toy_{seed}"
            _image(root / subtask / "images", f"{stem}.png", scene)
            lines = "".join(f"{question}\t{answer}\n"
                            for question, answer in q.mme_pair(scene, rng, subtask))
            _write(root / subtask / "questions_answers_YN" / f"{stem}.txt", lines.encode())


def write_mmbench(out: Path, split: str, seeds: list[int]) -> None:
    """MMBench TSV with the CircularEval passes as rows of their own (index + p * 1,000,000,
    options rotated, image cell = the index of the row holding the image)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["index", "question", "hint", "A", "B", "C", "D", "answer", "category",
                     "l2-category", "split", "image"])
    rows: list[list[Any]] = []
    for index, seed in enumerate(seeds):
        scene, rng = make_scene(seed), random.Random(seed)
        item = q.choice_item(scene, rng)
        image = base64.b64encode(scene.png()).decode()
        passes: list[tuple[list[tuple[str, str]], str | None]] = [
            (list(item.options), item.answer), *rotations(item.options, item.answer)]
        for p, (options, answer) in enumerate(passes):
            rows.append([index + p * CIRCULAR_STRIDE, item.question, "nan",
                         *[text for _, text in options], answer, item.category, "perception",
                         split, image if p == 0 else str(index)])
    rows.sort(key=lambda row: int(row[0]))
    writer.writerows(rows)
    _write(out / "mmbench" / "toy_mmbench.tsv", buffer.getvalue().encode())


WRITERS = {"caption": write_caption, "vqa": write_vqa, "refer": write_refer, "mme": write_mme,
           "mmbench": write_mmbench}


def build(out: Path = DATA, split: str = "test") -> Path:
    """Write every toy benchmark of ``split`` under ``out``; returns ``out``."""
    if split not in SIZES:
        raise ValueError(f"unknown toy split {split!r}; expected one of {', '.join(SIZES)}")
    for task, writer in WRITERS.items():
        writer(out, split, _seeds(split, task, SIZES[split][task]))
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[--out DIR] [--split test|train]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument("--split", default="test", choices=sorted(SIZES))
    args = parser.parse_args(argv)
    print(build(args.out, args.split))


if __name__ == "__main__":
    main()
