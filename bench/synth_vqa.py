"""Deterministic synthetic VQAv2-val-format data for scoring benchmarks.

Writes ``questions.json``, ``annotations.json`` (official VQAv2 shapes, 10 answers a question) and
``predictions.jsonl`` (``{"id": question_id, "prediction": text}`` a line), streaming item by item.
Answers mix yes/no, numbers and number words, colours, objects and multi-word phrases with
occasional case, punctuation, article and whitespace noise; about 60 % of predictions are right.

    python bench/synth_vqa.py OUT_DIR --n 214354 --seed 0
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

COLORS = ("red", "blue", "green", "white", "black", "yellow", "brown", "orange", "pink",
          "gray", "purple", "silver", "tan", "gold", "beige")  # fmt: skip
OBJECTS = ("dog", "cat", "man", "woman", "car", "bus", "train", "pizza", "frisbee", "kite",
           "umbrella", "clock", "horse", "elephant", "giraffe", "zebra", "skateboard", "surfboard",
           "bench", "table", "chair", "laptop", "phone", "banana", "apple", "sandwich", "cake",
           "boat", "plane", "bike", "motorcycle", "truck", "sheep", "cow", "bird", "bear", "vase",
           "bowl", "cup", "bottle", "knife", "fork", "spoon", "tie", "hat", "glasses", "bed",
           "couch", "toilet", "sink", "grass", "water", "snow", "sky", "tree",
           "building")  # fmt: skip
PHRASES = ("fire hydrant", "black and white", "tennis racket", "t-shirt", "hot dog", "stop sign",
           "baseball bat", "teddy bear", "cell phone", "traffic light", "playing tennis",
           "skiing", "surfing", "eating", "sitting", "standing", "on table", "in water",
           "don't know", "nothing", "left", "right", "daytime", "night", "kitchen", "beach",
           "living room", "street", "parking lot", "1:30", "3.5", "1,000", "10:10")  # fmt: skip
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten")  # fmt: skip
TYPES = (("yes/no", 0.38), ("number", 0.12), ("other", 0.50))


def _other_answer(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.30:
        return rng.choice(COLORS)
    if r < 0.65:
        return rng.choice(OBJECTS)
    if r < 0.85:
        return rng.choice(PHRASES)
    if r < 0.93:  # long tail of rarer strings
        return f"{rng.choice(COLORS)} and {rng.choice(COLORS)}"
    return f"{rng.choice(COLORS)} {rng.choice(OBJECTS)}"


def _answer(rng: random.Random, answer_type: str) -> str:
    if answer_type == "yes/no":
        return "yes" if rng.random() < 0.55 else "no"
    if answer_type == "number":
        return str(min(int(rng.expovariate(0.35)), 40))
    return _other_answer(rng)


def _noisy(rng: random.Random, text: str, rate: float) -> str:
    """Surface variants a human or a model writes: case, period, article, number word, spaces."""
    if rng.random() >= rate:
        return text
    r = rng.random()
    if r < 0.25:
        return text.capitalize()
    if r < 0.40:
        return text + "."
    if r < 0.55 and text.isdigit() and int(text) <= 10:
        return NUMBER_WORDS[int(text)]
    if r < 0.70 and not text.isdigit() and text not in ("yes", "no"):
        return rng.choice(("a ", "the ", "The ")) + text
    if r < 0.80:
        return f" {text}\n"
    if r < 0.90:
        return text.upper()
    return text + rng.choice(("!", "?", ","))


def _question(rng: random.Random, answer_type: str) -> tuple[str, str]:
    obj = rng.choice(OBJECTS)
    if answer_type == "yes/no":
        return "is the", f"Is the {obj} {rng.choice(COLORS)}?"
    if answer_type == "number":
        return "how many", f"How many {obj}s are there?"
    if rng.random() < 0.4:
        return "what color is the", f"What color is the {obj}?"
    return "what is the", f"What is the {obj} doing?"


def _human_answers(rng: random.Random, answer_type: str, truth: str) -> list[str]:
    agree = 10 if rng.random() < 0.4 else rng.randint(3, 9)
    alternative = _answer(rng, answer_type)
    answers = [truth] * agree
    while len(answers) < 10:
        answers.append(alternative if rng.random() < 0.6 else _answer(rng, answer_type))
    rng.shuffle(answers)
    return [_noisy(rng, a, 0.06) for a in answers]


def write_synthetic_vqa(out_dir: Path, n_questions: int, seed: int = 0) -> dict[str, Path]:
    """Write the three files under ``out_dir``; return their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "questions": out_dir / "questions.json",
        "annotations": out_dir / "annotations.json",
        "predictions": out_dir / "predictions.jsonl",
    }
    rng = random.Random(seed)
    type_names = [t for t, _ in TYPES]
    type_weights = [w for _, w in TYPES]
    with (
        paths["questions"].open("w", encoding="utf-8") as fq,
        paths["annotations"].open("w", encoding="utf-8") as fa,
        paths["predictions"].open("w", encoding="utf-8") as fp,
    ):
        fq.write('{"info": {"description": "synthetic"}, "task_type": "Open-Ended", '
                 '"data_type": "mscoco", "data_subtype": "val2014", "license": {}, '
                 '"questions": [\n')  # fmt: skip
        fa.write('{"info": {"description": "synthetic"}, "data_type": "mscoco", '
                 '"data_subtype": "val2014", "license": {}, "annotations": [\n')  # fmt: skip
        for index in range(n_questions):
            image_id = 100_000 + index // 3
            question_id = image_id * 1000 + index % 3
            answer_type = rng.choices(type_names, type_weights)[0]
            question_type, question = _question(rng, answer_type)
            truth = _answer(rng, answer_type)
            answers = _human_answers(rng, answer_type, truth)
            correct = rng.random() < 0.6
            prediction = _noisy(rng, truth if correct else _answer(rng, answer_type), 0.15)
            sep = ",\n" if index else ""
            question_item = {"image_id": image_id, "question": question, "question_id": question_id}
            answer_dicts = [
                {"answer": a, "answer_confidence": rng.choice(("yes", "maybe")), "answer_id": i + 1}
                for i, a in enumerate(answers)
            ]
            annotation = {
                "question_id": question_id,
                "image_id": image_id,
                "question_type": question_type,
                "answer_type": answer_type,
                "multiple_choice_answer": Counter(answers).most_common(1)[0][0],
                "answers": answer_dicts,
            }
            fq.write(sep + json.dumps(question_item))
            fa.write(sep + json.dumps(annotation))
            fp.write(json.dumps({"id": question_id, "prediction": prediction}) + "\n")
        fq.write("\n]}\n")
        fa.write("\n]}\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n", type=int, default=214_354, help="number of questions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, path in write_synthetic_vqa(args.out_dir, args.n, args.seed).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
