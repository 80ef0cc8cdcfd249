"""Frozen data model shared by loaders, tasks, models and the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

Scalar = str | int | float | bool


class Sample(NamedTuple):
    """One benchmark item (immutable; a NamedTuple because VQAv2 val alone makes 214k).

    ``id`` is the benchmark-native id (question_id, sent_id, ...); ``image`` is an absolute path
    (or None); ``fields`` holds what the prompt needs (question, expression, options ...);
    ``targets`` what the scorer needs (answers, box ...); ``meta`` grouping keys for reports.
    """

    id: int | str
    image: str | None
    fields: dict[str, Any]
    targets: Any
    meta: dict[str, Any]

    @property
    def key(self) -> str:
        """The id as a string: predictions written by other tools may quote numeric ids."""
        return str(self.id)


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings of a request; requests are batched only with equal configs."""

    max_new_tokens: int = 10
    min_new_tokens: int = 1
    num_beams: int = 1
    length_penalty: float = 1.0
    do_sample: bool = False
    temperature: float = 1.0


@dataclass(frozen=True)
class Request:
    """What a model adapter receives: never a task or benchmark name.

    ``family`` and ``fields`` let the model's prompt style render its own template.
    """

    key: str
    image: str | None
    family: str
    fields: dict[str, Any]
    generation: GenerationConfig


@dataclass(frozen=True)
class Response:
    """The model's raw text for one request."""

    key: str
    text: str
    tokens: int = 0  # generated tokens, when the model counts them
