"""Model adapters: the one protocol the engine drives, and lazy lookup by a card's ``adapter``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Protocol

from infmllm_eval.cards import ModelCard
from infmllm_eval.errors import UnknownNameError, shown
from infmllm_eval.registry import did_you_mean
from infmllm_eval.types import Request, Response


class ModelAdapter(Protocol):
    """Turns requests into responses, one per request and in the same order."""

    name: str

    def generate(self, requests: list[Request]) -> list[Response]:
        ...

    def provenance(self) -> dict[str, str]:
        """What identifies the model's outputs (checkpoint hash, dtype ...) for run.json."""
        ...


AdapterFactory = Callable[[ModelCard, Mapping[str, str]], ModelAdapter]

# adapter name -> "module:factory"
ADAPTERS: dict[str, str] = {
    "scripted": "infmllm_eval.adapters.scripted:create",
    "infmllm": "infmllm_eval.adapters.infmllm:create",
}


def create_adapter(card: ModelCard, options: Mapping[str, str]) -> ModelAdapter:
    """Build the adapter a model card names, with the card's options overridden by the user's."""
    if card.adapter not in ADAPTERS:
        raise UnknownNameError(
            f"{card.path}: unknown adapter {shown(card.adapter)}."
            f"{did_you_mean(card.adapter, sorted(ADAPTERS))}"
        )
    module, func = ADAPTERS[card.adapter].split(":")
    factory: AdapterFactory = getattr(importlib.import_module(module), func)
    merged = {k: str(v) for k, v in card.options.items()} | dict(options)
    return factory(card, merged)
