"""Regenerate the bundled demo: mini VQAv2 / OK-VQA / TextVQA / GQA sets in the official
layouts (under data/), small drawn images, and saved answers (under predictions/).

Run ``python -m infmllm_eval.demo.make_demo``; the output is deterministic.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
COLOURS = {"red": (220, 40, 40), "blue": (40, 70, 220), "green": (40, 170, 60),
           "yellow": (235, 210, 40), "white": (245, 245, 245), "black": (20, 20, 20)}
SHAPES = ("circle", "square", "triangle")


def _draw(path: Path, shape: str, colour: str, count: int, background: str) -> None:
    img = Image.new("RGB", (96, 72), COLOURS[background])
    pen = ImageDraw.Draw(img)
    for k in range(count):
        x, y, r = 14 + 26 * k, 36, 10
        box = (x - r, y - r, x + r, y + r)
        if shape == "circle":
            pen.ellipse(box, fill=COLOURS[colour])
        elif shape == "square":
            pen.rectangle(box, fill=COLOURS[colour])
        else:
            pen.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=COLOURS[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=85)


def _scene(rng: random.Random, image_id: int) -> dict[str, Any]:
    colour, background = rng.sample(["red", "blue", "green", "yellow", "white", "black"], 2)
    return {"image_id": image_id, "shape": rng.choice(SHAPES), "colour": colour,
            "count": rng.randint(1, 3), "background": background}


NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def _qa(scene: dict[str, Any], rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(question, answer, answer_type, question_type) about a scene."""
    other = rng.choice([s for s in SHAPES if s != scene["shape"]])
    return [
        (f"What color is the {scene['shape']}?", scene["colour"], "other", "what color is the"),
        (f"How many {scene['shape']}s are there?", str(scene["count"]), "number", "how many"),
        (f"Is there a {other} in the picture?", "no", "yes/no", "is there a"),
    ]


def _humans(answer: str, rng: random.Random) -> list[str]:
    noisy = {"no": ["no", "No", "nope"], "1": ["1", "one"], "2": ["2", "two"],
             "3": ["3", "three"]}.get(answer, [answer, answer.capitalize(), f"{answer} one"])
    return [answer if rng.random() < 0.7 else rng.choice(noisy) for _ in range(10)]


def _model_answer(answer: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return answer
    if roll < 0.7:
        return {"1": "one", "2": "two", "3": "three", "no": "No."}.get(answer, answer.title())
    return rng.choice(["yes", "2", "blue", "purple", "a circle"])


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")


def _write_preds(name: str, rows: list[tuple[Any, str]]) -> None:
    path = HERE / "predictions" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in rows),
                    encoding="utf-8")


def _coco_style(rng: random.Random, images: list[dict[str, Any]], qid0: int, folder: str,
                name: str, questions_file: str, annotations_file: str) -> None:
    questions, annotations, preds = [], [], []
    for scene in images:
        _draw(HERE / "data" / "coco" / "val2014" /
              f"COCO_val2014_{scene['image_id']:012d}.jpg", scene["shape"], scene["colour"],
              scene["count"], scene["background"])
        for question, answer, atype, qtype in _qa(scene, rng):
            qid0 += 1
            questions.append({"image_id": scene["image_id"], "question": question,
                              "question_id": qid0})
            answers = [{"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                       for j, a in enumerate(_humans(answer, rng))]
            annotations.append({"question_id": qid0, "image_id": scene["image_id"],
                                "question_type": qtype, "answer_type": atype,
                                "multiple_choice_answer": answer, "answers": answers})
            preds.append((qid0, _model_answer(answer, rng)))
    _write(HERE / "data" / folder / questions_file, {"questions": questions})
    _write(HERE / "data" / folder / annotations_file, {"annotations": annotations})
    _write_preds(name, preds)


def _textvqa(rng: random.Random) -> None:
    words = ["stop", "exit", "cafe", "open", "sale", "bus 42", "hotel", "taxi"]
    data, preds = [], []
    for k, word in enumerate(words):
        image_id = f"{k:016x}"
        img = Image.new("RGB", (96, 48), COLOURS["white"])
        ImageDraw.Draw(img).text((10, 18), word.upper(), fill=COLOURS["black"])
        path = HERE / "data" / "textvqa" / "train_images" / f"{image_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=85)
        qid = 34602 + k
        answers = [word if rng.random() < 0.8 else word.upper() for _ in range(10)]
        data.append({"question_id": qid, "question": "what does the sign say?",
                     "image_id": image_id, "answers": answers,
                     "ocr_tokens": word.upper().split()})
        preds.append((qid, _model_answer(word, rng)))
    _write(HERE / "data" / "textvqa" / "TextVQA_0.5.1_val.json",
           {"dataset_type": "val", "dataset_name": "textvqa", "data": data})
    _write_preds("textvqa_val", preds)


def _gqa(rng: random.Random) -> None:
    questions, preds = {}, []
    for k in range(6):
        scene = _scene(rng, k)
        image_id = f"n{161313 + k}"
        _draw(HERE / "data" / "gqa" / "images" / f"{image_id}.jpg", scene["shape"],
              scene["colour"], scene["count"], scene["background"])
        items = [(f"What color is the {scene['shape']}?", scene["colour"], "query", "attr"),
                 (f"Is the {scene['shape']} {scene['colour']}?", "yes", "verify", "attr")]
        for j, (question, answer, structural, semantic) in enumerate(items):
            qid = f"20{k:05d}{j}"
            questions[qid] = {"imageId": image_id, "question": question, "answer": answer,
                              "fullAnswer": f"The answer is {answer}.", "isBalanced": True,
                              "types": {"structural": structural, "semantic": semantic,
                                        "detailed": f"{semantic}{structural}"}}
            preds.append((qid, _model_answer(answer, rng)))
    _write(HERE / "data" / "gqa" / "testdev_balanced_questions.json", questions)
    _write_preds("gqa_testdev_balanced", preds)


def main() -> None:
    rng = random.Random(2311_06791)
    vqa_images = [_scene(rng, 42 + 17 * k) for k in range(8)]
    _coco_style(rng, vqa_images, 4_200_000, "vqav2", "vqav2_val",
                "v2_OpenEnded_mscoco_val2014_questions.json", "v2_mscoco_val2014_annotations.json")
    _coco_style(rng, vqa_images[:4], 5_000, "okvqa", "okvqa_val",
                "OpenEnded_mscoco_val2014_questions.json", "mscoco_val2014_annotations.json")
    _textvqa(rng)
    _gqa(rng)


if __name__ == "__main__":
    main()
