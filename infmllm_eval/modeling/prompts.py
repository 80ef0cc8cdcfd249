"""Prompt styles: how a model renders a task family's fields around its image slot.

A style is chosen by the model card (never by the task). Rendering gives the text before and
after the image; the adapter tokenizes each piece separately without special tokens and builds
``[BOS] + before + image tokens + after``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infmllm_eval.errors import BadInputError, UnknownNameError, shown
from infmllm_eval.registry import did_you_mean

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions."
)
SHORT_ANSWER = "Answer the question using a single word or phrase."
LETTER_ANSWER = "Answer with the option's letter from the given choices directly."
#: ``instruction``: a complete instruction written elsewhere (e.g. an lmms-eval task's prompt),
#: placed in the model's conversation template as it is
FAMILIES = ("caption", "vqa", "gqa", "grounding", "yes_no", "multiple_choice", "instruction")
_DROP = re.compile(r'[.!"()*#:;~]')


@dataclass(frozen=True)
class Prompt:
    """The text on each side of the image slot."""

    before: str
    after: str


def _field(fields: Mapping[str, Any], key: str, family: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str):
        raise BadInputError(f"{family} request without a text field {shown(key)}")
    return value


def _options(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    raw = fields.get("options")
    if not isinstance(raw, list) or not raw:
        raise BadInputError("multiple_choice request without options")
    return [(str(letter), str(text)) for letter, text in raw]


def infmllm_question(text: str, max_words: int = 50) -> str:
    """The original InfMLLM question cleaning: lower-case, drop ``.!"()*#:;~``, 50 words."""
    return " ".join(_DROP.sub("", text.lower()).split()[:max_words])


def _multitask(family: str, fields: Mapping[str, Any], caption: str) -> str:
    if family in ("vqa", "gqa", "yes_no"):
        return f"Question:{infmllm_question(_field(fields, 'question', family))} Short answer:"
    if family == "grounding":
        return f"<ref>{_field(fields, 'expression', family)}</ref>"
    if family == "caption":
        return caption
    if family == "instruction":
        return _field(fields, "text", family)
    options = " ".join(f"{letter}. {text}" for letter, text in _options(fields))
    question = infmllm_question(_field(fields, "question", family))
    return f"Question:{question} Options: {options} Short answer:"


def _chat_content(family: str, fields: Mapping[str, Any], caption: str) -> str:
    if family in ("vqa", "gqa", "yes_no"):
        return f"{_field(fields, 'question', family)}\n{SHORT_ANSWER}"
    if family == "grounding":
        return ("Please provide the bounding box coordinate of the region this sentence "
                f"describes: {_field(fields, 'expression', family)}")
    if family == "caption":
        return caption
    if family == "instruction":
        return _field(fields, "text", family)
    lines = [str(fields["hint"])] if fields.get("hint") else []
    lines.append(_field(fields, "question", family))
    lines += [f"{letter}. {text}" for letter, text in _options(fields)]
    return "\n".join([*lines, LETTER_ANSWER])


@dataclass(frozen=True)
class PromptStyle:
    """A named template family plus the image preprocessing that goes with it."""

    name: str
    image_transform: str  # "squash" (resize to SxS) or "expand2square" (pad, then resize)
    caption_prompt: str
    _render: Callable[[str, Mapping[str, Any], str], Prompt]

    def render(self, family: str, fields: Mapping[str, Any]) -> Prompt:
        """The prompt of one request; unknown families are an error naming the known ones."""
        if family not in FAMILIES:
            raise UnknownNameError(f"prompt style {self.name!r} has no template for family "
                                   f"{shown(family)}.{did_you_mean(family, list(FAMILIES))}")
        return self._render(family, fields, self.caption_prompt)


def _render_multitask(family: str, fields: Mapping[str, Any], caption: str) -> Prompt:
    """InfMLLM-7B: ``<image><ImageHere>{task text}``; the image sits after '<image>'."""
    return Prompt("<image>", _multitask(family, fields, caption))


def _render_chat(family: str, fields: Mapping[str, Any], caption: str) -> Prompt:
    """vicuna_v1: ``{system} USER: <image>\\n{content} ASSISTANT:``."""
    content = _chat_content(family, fields, caption)
    return Prompt(f"{VICUNA_SYSTEM} USER: ", f"\n{content} ASSISTANT:")


STYLES = {
    "multitask": PromptStyle("multitask", "squash", "A short image description:",
                             _render_multitask),
    "chat": PromptStyle("chat", "expand2square",
                        "Provide a one-sentence caption for the provided image.", _render_chat),
}


def get_style(name: str, caption_prompt: str | None = None) -> PromptStyle:
    """The style a model card names (optionally with the card's own caption prompt)."""
    if name not in STYLES:
        raise UnknownNameError(f"unknown prompt style {shown(name)}."
                               f"{did_you_mean(name, list(STYLES))} Known: {', '.join(STYLES)}")
    style = STYLES[name]
    if caption_prompt:
        style = PromptStyle(style.name, style.image_transform, caption_prompt, style._render)
    return style
