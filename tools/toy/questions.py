"""What the toy benchmarks ask about a scene, and the right answers.

Each function takes a scene and a seeded ``random.Random`` and returns plain data; the
benchmark writer puts it in the official file formats, the trainer turns it into
(family, request fields, answer) examples. Answers are written the way a model should say
them (lower case, digits for counts, option letters for multiple choice, unit boxes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tools.toy.world import COLORS, KINDS, Scene, Shape

OPTION_LETTERS = "ABCD"


@dataclass(frozen=True)
class VqaItem:
    """A question, its answer and the ten human answers of the annotation file."""

    question: str
    answer: str
    answers: tuple[str, ...]
    question_type: str
    answer_type: str


@dataclass(frozen=True)
class ChoiceItem:
    """A four-option question (MMBench style): options in letter order, the right letter."""

    question: str
    options: tuple[tuple[str, str], ...]
    answer: str
    category: str


def captions(scene: Scene) -> list[str]:
    """Five reference captions; the first, lower-cased without its period, is the one the
    toy model is trained to say."""
    bg, items, count = scene.background, scene.shape_list(), scene.count_phrase()
    raw = [f"{items} on a {bg} background", f"a {bg} background with {items}",
           f"{count} on a {bg} background", f"a picture of {items}",
           f"{count}: {items}"]
    return [text[0].upper() + text[1:] + "." for text in raw]


def caption_answer(scene: Scene) -> str:
    """The caption the model is trained to produce."""
    return captions(scene)[0].rstrip(".").lower()


def _human_answers(answer: str, rng: random.Random, variant: str | None) -> tuple[str, ...]:
    """Ten answers: mostly the right one, sometimes a spelling variant of it."""
    return tuple(variant if variant and rng.random() < 0.2 else answer for _ in range(10))


def color_question(kind: str) -> str:
    """The question for the colour of the shape of ``kind`` (VQA, MMBench, training)."""
    return f"What color is the {kind}?"


def shape_question(color: str) -> str:
    """The question for the kind of the shape of ``color`` (VQA, MMBench, training)."""
    return f"What shape is the {color} object?"


def is_there_question(color: str, kind: str) -> str:
    """The VQA question whether a ``color`` ``kind`` is in the image."""
    return f"Is there a {color} {kind}?"


def vqa_items(scene: Scene, rng: random.Random, k: int = 3) -> list[VqaItem]:
    """``k`` different questions about the scene."""
    shape = rng.choice(scene.shapes)
    n = len(scene.shapes)
    absent = rng.choice([c for c in sorted(COLORS) if c not in {s.color for s in scene.shapes}])
    present = rng.random() < 0.5
    color = shape.color if present else absent
    pool = [
        ("what color", color_question(shape.kind), shape.color, None, "other"),
        ("what shape", shape_question(shape.color), shape.kind, None, "other"),
        ("how many", "How many shapes are there?", str(n), ("one", "two", "three")[n - 1],
         "number"),
        ("what color", "What color is the background?", scene.background, None, "other"),
        ("is there", is_there_question(color, shape.kind), "yes" if present else "no", None,
         "yes/no"),
    ]
    chosen = rng.sample(pool, k)
    return [VqaItem(q, a, _human_answers(a, rng, v), qt, at) for qt, q, a, v, at in chosen]


def expressions(shape: Shape, scene: Scene, rng: random.Random, k: int = 2) -> list[str]:
    """``k`` different referring expressions (lower case, as RefCOCO's ``sent``)."""
    pool = [f"the {shape.color} {shape.kind}", f"{shape.color} {shape.kind}",
            f"the {shape.kind}", f"the {shape.color} one", f"{shape.color} shape"]
    return rng.sample(pool, k)


def mme_pair(scene: Scene, rng: random.Random, subtask: str) -> list[tuple[str, str]]:
    """Two yes/no questions about one image, one answered Yes and one No (random order)."""
    suffix = " Please answer yes or no."
    if subtask == "color":
        shape = rng.choice(scene.shapes)
        wrong = rng.choice([c for c in sorted(COLORS) if c != shape.color])
        pair = [(f"Is there a {shape.color} {shape.kind} in the image?{suffix}", "Yes"),
                (f"Is there a {wrong} {shape.kind} in the image?{suffix}", "No")]
    elif subtask == "count":
        n = len(scene.shapes)
        other = rng.choice([m for m in (1, 2, 3, 4) if m != n])
        pair = [(f"Is the number of shapes in the image {n}?{suffix}", "Yes"),
                (f"Is the number of shapes in the image {other}?{suffix}", "No")]
    else:
        raise ValueError(f"unknown toy MME subtask {subtask!r}")
    rng.shuffle(pair)
    return pair


def choice_item(scene: Scene, rng: random.Random) -> ChoiceItem:
    """One four-option question: the colour of a shape, the shape of a colour, or the count."""
    shape = rng.choice(scene.shapes)
    category = rng.choice(("color", "shape", "count"))
    if category == "color":
        question = color_question(shape.kind)
        right = shape.color
        texts = [right, *rng.sample([c for c in sorted(COLORS) if c != right], 3)]
    elif category == "shape":
        question = shape_question(shape.color)
        right = shape.kind
        texts = [right, *[k for k in (*KINDS, "star") if k != right]]
    else:
        question = "How many shapes are in the image?"
        right = str(len(scene.shapes))
        texts = [right, *[str(m) for m in (1, 2, 3, 4) if m != len(scene.shapes)]]
    rng.shuffle(texts)
    options = tuple(zip(OPTION_LETTERS, texts, strict=True))
    return ChoiceItem(question, options, OPTION_LETTERS[texts.index(right)], category)
