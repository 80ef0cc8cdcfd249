"""Prompt styles: how a model renders a task family's fields around its image slot.

A style is chosen by the model card (never by the task). Rendering gives the text before and
after the image; the adapter tokenizes each piece separately without special tokens and builds
``[BOS] + before + image tokens + after``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.registry import PluginError, Registry

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions."
)
SHORT_ANSWER = "Answer the question using a single word or phrase."
LETTER_ANSWER = "Answer with the option's letter from the given choices directly."
#: what a request may carry, in the order that picks its template: ``text`` (a complete
#: instruction written elsewhere, e.g. an lmms-eval task's prompt, placed in the model's
#: conversation as it is), ``options`` (multiple choice: ``question``, ``hint``, ``options``),
#: ``expression`` (grounding), ``question`` (a short answer); a request with none of them asks
#: for a caption. A family with other fields needs a prompt style that knows them.
KINDS = ("text", "options", "expression", "question")
_DROP = re.compile(r'[.!"()*#:;~]')


@dataclass(frozen=True)
class Prompt:
    """The text on each side of the image slot."""

    before: str
    after: str


def request_kind(fields: Mapping[str, Any]) -> str:
    """The template a request needs: the first of :data:`KINDS` it carries, or
    ``caption`` when it carries no fields."""
    kind = next((k for k in KINDS if k in fields), None)
    if kind is None:
        if fields:
            raise BadInputError(f"a request with fields {shown(sorted(fields))} carries none of "
                                f"{', '.join(KINDS)}: the model's prompt style has no template "
                                "for it (a plug-in family needs a prompt style that knows its "
                                "fields)")
        return "caption"
    return kind


def _field(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str):
        raise BadInputError(f"request without a text field {shown(key)}")
    return value


def _options(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    raw = fields.get("options")
    if not isinstance(raw, list) or not raw:
        raise BadInputError("multiple-choice request without options")
    return [(str(letter), str(text)) for letter, text in raw]


def infmllm_question(text: str, max_words: int = 50) -> str:
    """The original InfMLLM question cleaning: lower-case, drop ``.!"()*#:;~``, 50 words."""
    return " ".join(_DROP.sub("", text.lower()).split()[:max_words])


def _multitask(fields: Mapping[str, Any], caption: str) -> str:
    kind = request_kind(fields)
    if kind == "question":
        return f"Question:{infmllm_question(_field(fields, 'question'))} Short answer:"
    if kind == "expression":
        return f"<ref>{_field(fields, 'expression')}</ref>"
    if kind == "caption":
        return caption
    if kind == "text":
        return _field(fields, "text")
    options = " ".join(f"{letter}. {text}" for letter, text in _options(fields))
    question = infmllm_question(_field(fields, "question"))
    return f"Question:{question} Options: {options} Short answer:"


def _chat_content(fields: Mapping[str, Any], caption: str) -> str:
    kind = request_kind(fields)
    if kind == "question":
        return f"{_field(fields, 'question')}\n{SHORT_ANSWER}"
    if kind == "expression":
        return ("Please provide the bounding box coordinate of the region this sentence "
                f"describes: {_field(fields, 'expression')}")
    if kind == "caption":
        return caption
    if kind == "text":
        return _field(fields, "text")
    lines = [str(fields["hint"])] if fields.get("hint") else []
    lines.append(_field(fields, "question"))
    lines += [f"{letter}. {text}" for letter, text in _options(fields)]
    return "\n".join([*lines, LETTER_ANSWER])


@dataclass(frozen=True)
class PromptStyle:
    """A named template plus the image preprocessing that goes with it. ``template`` maps a
    request's fields and the caption instruction to the text around the image slot."""

    name: str
    image_transform: str  # "squash" (resize to SxS) or "expand2square" (pad, then resize)
    caption_prompt: str
    template: Callable[[Mapping[str, Any], str], Prompt]

    def render(self, fields: Mapping[str, Any]) -> Prompt:
        """The prompt of one request, chosen by the fields it carries (see :data:`KINDS`)."""
        return self.template(fields, self.caption_prompt)


def _render_multitask(fields: Mapping[str, Any], caption: str) -> Prompt:
    """InfMLLM-7B: ``<image><ImageHere>{task text}``; the image sits after '<image>'."""
    return Prompt("<image>", _multitask(fields, caption))


def _render_chat(fields: Mapping[str, Any], caption: str) -> Prompt:
    """vicuna_v1: ``{system} USER: <image>\\n{content} ASSISTANT:``."""
    content = _chat_content(fields, caption)
    return Prompt(f"{VICUNA_SYSTEM} USER: ", f"\n{content} ASSISTANT:")


#: other packages add styles through the ``infmllm_eval.prompt_styles`` entry-point group
PROMPT_STYLES: Registry[PromptStyle] = Registry("prompt style", "infmllm_eval.prompt_styles")
PROMPT_STYLES.add("multitask", PromptStyle("multitask", "squash", "A short image description:",
                                           _render_multitask))
PROMPT_STYLES.add("chat", PromptStyle(
    "chat", "expand2square", "Provide a one-sentence caption for the provided image.",
    _render_chat))


def get_style(name: str, caption_prompt: str | None = None) -> PromptStyle:
    """The style a model card names (optionally with the card's own caption prompt)."""
    style = PROMPT_STYLES.get(name)
    if not isinstance(style, PromptStyle):
        raise PluginError(f"prompt style {name!r} is a {type(style).__name__}, not a "
                          "PromptStyle (see infmllm_eval.modeling.prompts)")
    if caption_prompt:
        style = dataclasses.replace(style, caption_prompt=caption_prompt)
    return style
