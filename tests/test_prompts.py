"""Prompt styles: the original templates, and golden snapshots of every family x style.

Regenerate the snapshots after an intended change with ``UPDATE_GOLDEN=1 pytest
tests/test_prompts.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from infmllm_eval.errors import BadInputError, UnknownNameError
from infmllm_eval.modeling.prompts import VICUNA_SYSTEM, get_style, infmllm_question
from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER, load_tokenizer
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "prompts.json"
FIELDS: dict[str, dict[str, Any]] = {
    "caption": {},
    "vqa": {"question": 'What is the man "holding" (in his hand)?'},
    "gqa": {"question": "Is the cup to the left of the plate?"},
    "grounding": {"expression": "the man in the red shirt"},
    "yes_no": {"question": "Is there a dog in this image? Please answer yes or no."},
    "multiple_choice": {"question": "Which shape is red?", "hint": "Look at the left side.",
                        "options": [["A", "circle"], ["B", "square"], ["C", "triangle"]]},
    "instruction": {"text": "What is in the image?\nAnswer the question using a single word "
                            "or phrase."},
}


def snapshot() -> dict[str, Any]:
    tokenizer = load_tokenizer(TINY_TOKENIZER)
    out: dict[str, Any] = {}
    for style in ("multitask", "chat"):
        for family in FIELDS:
            prompt = get_style(style).render(FIELDS[family])
            out[f"{style}/{family}"] = {
                "before": prompt.before, "after": prompt.after,
                "before_ids": tokenizer.encode(prompt.before),
                "after_ids": tokenizer.encode(prompt.after),
            }
    return out


def test_golden_snapshots() -> None:
    current = snapshot()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(current, indent=1, ensure_ascii=False) + "\n")
    assert current == json.loads(GOLDEN.read_text())


def test_multitask_templates_follow_the_original() -> None:
    style = get_style("multitask")
    vqa = style.render(FIELDS["vqa"])
    assert vqa.before == "<image>"
    assert vqa.after == "Question:what is the man holding in his hand? Short answer:"
    assert style.render(FIELDS["grounding"]).after == \
        "<ref>the man in the red shirt</ref>"
    assert style.image_transform == "squash"
    assert infmllm_question(" ".join(["word"] * 60)).count("word") == 50


def test_chat_templates_follow_vicuna_v1() -> None:
    style = get_style("chat")
    vqa = style.render(FIELDS["vqa"])
    assert vqa.before == VICUNA_SYSTEM + " USER: "
    assert vqa.after == ('\nWhat is the man "holding" (in his hand)?\n'
                         "Answer the question using a single word or phrase. ASSISTANT:")
    mc = style.render(FIELDS["multiple_choice"]).after
    assert mc == ("\nLook at the left side.\nWhich shape is red?\nA. circle\nB. square\n"
                  "C. triangle\nAnswer with the option's letter from the given choices directly."
                  " ASSISTANT:")
    no_hint = style.render({**FIELDS["multiple_choice"], "hint": ""}).after
    assert no_hint.startswith("\nWhich shape is red?")
    assert style.image_transform == "expand2square"


def test_bad_requests() -> None:
    with pytest.raises(UnknownNameError, match="unknown prompt style 'chatt'"):
        get_style("chatt")
    with pytest.raises(BadInputError, match="carries none of text, options"):
        get_style("chat").render({"statement": "a plug-in family's field"})
    with pytest.raises(BadInputError, match="without a text field 'question'"):
        get_style("multitask").render({"question": None})
    with pytest.raises(BadInputError, match="without options"):
        get_style("chat").render({"question": "q", "options": []})
    assert get_style("multitask", "Describe:").render({}).after == "Describe:"
