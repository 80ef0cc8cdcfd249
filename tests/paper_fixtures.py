"""Hand-made data in the official file formats of ScienceQA, SEED-Bench and OCR-VQA, laid
out as the task cards expect under a data root (tiny images)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image


def image(path: Path, colour: tuple[int, int, int] = (200, 40, 40)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), colour).save(path)


def problem(question: str, choices: list[str], answer: int, *, hint: str = "",
            image_name: str | None = "image.png", subject: str = "natural science",
            grade: str = "grade3", split: str = "test") -> dict[str, object]:
    """A problems.json entry (the official fields; lecture/solution kept short)."""
    return {"question": question, "choices": choices, "answer": answer, "hint": hint,
            "image": image_name, "task": "closed choice", "grade": grade,
            "subject": subject, "topic": "physics", "category": "Velocity",
            "skill": "x", "lecture": "", "solution": "", "split": split}


SQA_PROBLEMS = {
    "1": problem("Which is a mammal?", ["cat", "trout"], 0, hint="Look closely."),
    "2": problem("Which city is the capital?", ["Paris", "Lyon", "Nice"], 2,
                 subject="social science", grade="grade8"),
    "3": problem("Which word is a noun?", ["run", "table"], 1, image_name=None,
                 subject="language science"),
    "4": problem("Which is hotter?", ["ice", "fire", "snow", "rain", "fog"], 1,
                 subject="natural science", grade="grade11", hint="Think."),
    "5": problem("Which is a train problem?", ["a", "b"], 0, split="train"),
}


def make_scienceqa(root: Path) -> Path:
    folder = root / "scienceqa"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problems.json").write_text(json.dumps(SQA_PROBLEMS))
    (folder / "pid_splits.json").write_text(json.dumps(
        {"train": ["5"], "val": [], "test": ["1", "2", "3", "4"]}))
    for pid, prob in SQA_PROBLEMS.items():
        if prob["image"] and prob["split"] == "test":
            image(folder / "images" / "test" / pid / "image.png")
    return folder


SEED_TYPES = {"Scene Understanding": 1, "Instance Identity": 2, "Instance Attributes": 3,
              "Instance Location": 4, "Instances Counting": 5, "Spatial Relation": 6,
              "Instance Interaction": 7, "Visual Reasoning": 8, "Text Understanding": 9,
              "Action Recognition": 10, "Action Prediction": 11,
              "Procedure Understanding": 12}


def seed_question(qid: str, type_id: int, answer: str, data_id: str,
                  data_type: str = "image") -> dict[str, object]:
    return {"question_id": qid, "question": f"Question {qid}?", "choice_a": "red",
            "choice_b": "green", "choice_c": "blue", "choice_d": "black", "answer": answer,
            "data_id": data_id, "data_type": data_type, "question_type_id": type_id}


SEED_QUESTIONS = [
    seed_question("101669", 1, "A", "1454426_2591111986.jpg"),
    seed_question("101670", 1, "B", "1454426_2591111986.jpg"),
    seed_question("201", 5, "C", "2207_3011.jpg"),
    seed_question("901", 9, "D", "sub/9001.png"),
    seed_question("v1", 10, "A", "v1.mp4", "video"),
]


def make_seed(root: Path) -> Path:
    folder = root / "seed_bench"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SEED-Bench.json").write_text(json.dumps(
        {"question_type": SEED_TYPES, "questions": SEED_QUESTIONS}))
    for q in SEED_QUESTIONS:
        if q["data_type"] == "image":
            image(folder / "SEED-Bench-image" / str(q["data_id"]))
    return folder


OCRVQA = {
    "1000": {"imageURL": "http://images.amazon.com/images/P/1000.jpg", "title": "A Book",
             "authorName": "Ann Author", "genre": "Travel", "split": 3,
             "questions": ["Who wrote this book?", "What is the title of this book?"],
             "answers": ["Ann Author", "A Book"]},
    "2000": {"imageURL": "http://images.amazon.com/images/P/2000.jpg", "title": "B Book",
             "authorName": "Bob", "genre": "Law", "split": 1,
             "questions": ["Who wrote this book?"], "answers": ["Bob"]},
    "3000": {"imageURL": "http://images.amazon.com/images/P/3000.gif", "title": "C",
             "authorName": "Cy", "genre": "Art", "split": 3,
             "questions": ["Is this a comedy book?"], "answers": ["No"]},
}


def make_ocrvqa(root: Path, missing: tuple[str, ...] = ()) -> Path:
    folder = root / "ocrvqa"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps(OCRVQA))
    for key, item in OCRVQA.items():
        if key not in missing:
            suffix = str(item["imageURL"]).rsplit(".", 1)[-1]
            image(folder / "images" / f"{key}.{suffix}")
    return folder
