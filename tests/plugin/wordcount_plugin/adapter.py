"""A model that counts the words its prompt style puts after the '?' (plus ``bias``)."""

from __future__ import annotations

from collections.abc import Mapping

from infmllm_eval.adapters import ModelAdapter
from infmllm_eval.cards import ModelCard
from infmllm_eval.modeling.prompts import get_style
from infmllm_eval.types import Request, Response


class WordCounter(ModelAdapter):
    """Answers each request with a word count; ``bias`` is added (a worse model)."""

    def __init__(self, card: ModelCard, options: Mapping[str, str]) -> None:
        self.name = card.name
        self.style = get_style(card.prompt_style)
        self.bias = int(options.get("bias", "0"))

    def generate(self, requests: list[Request]) -> list[Response]:
        out = []
        for req in requests:
            text = self.style.render(req.fields).after.partition("?")[2]
            out.append(Response(req.key, str(len(text.split()) + self.bias)))
        return out
