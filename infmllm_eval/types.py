"""Frozen data model shared by loaders, tasks, models and the engine."""

from __future__ import annotations

import math
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


class Samples(list[Sample]):
    """A loader's samples, plus the ids of the benchmark file's items that are not this task's
    (``outside``, described by ``outside_what``: SEED-Bench's video questions for the image
    task). ``score`` ignores predictions for those ids with a note instead of refusing the
    benchmark's own result files; an id in no file is still refused."""

    def __init__(self, samples: list[Sample], outside: set[str] | frozenset[str] = frozenset(),
                 outside_what: str = "") -> None:
        super().__init__(samples)
        self.outside = frozenset(outside)
        self.outside_what = outside_what


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings of a request; requests are batched only with equal configs."""

    max_new_tokens: int = 10
    min_new_tokens: int = 1
    num_beams: int = 1
    length_penalty: float = 1.0
    do_sample: bool = False
    temperature: float = 1.0

    def problem(self) -> str:
        """What makes these settings unusable ('' when none): lengths and beams out of range,
        non-finite numbers, a temperature that is negative, or zero while sampling (a negative
        length_penalty is legal: it favours short beams)."""
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            return f"max_new_tokens={self.max_new_tokens}: expected 1 to {MAX_NEW_TOKENS}"
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            return (f"min_new_tokens={self.min_new_tokens}: expected 0 to max_new_tokens "
                    f"({self.max_new_tokens})")
        if not 1 <= self.num_beams <= MAX_BEAMS:
            return f"num_beams={self.num_beams}: expected 1 to {MAX_BEAMS}"
        for name in ("length_penalty", "temperature"):
            if not math.isfinite(getattr(self, name)):
                return f"{name}={getattr(self, name)}: expected a finite number"
        if self.temperature < 0:
            return f"temperature={self.temperature}: expected a number >= 0"
        if self.do_sample and self.temperature == 0:
            return ("temperature=0 with do_sample=true: sampling needs a temperature > 0 "
                    "(or do_sample=false for greedy decoding)")
        if self.do_sample and not MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE:
            return (f"temperature={self.temperature} with do_sample=true: expected "
                    f"{MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g} (beyond, the scaled logits "
                    "overflow; do_sample=false decodes greedily)")
        if abs(self.length_penalty) > MAX_LENGTH_PENALTY:
            return (f"length_penalty={self.length_penalty}: expected -{MAX_LENGTH_PENALTY} to "
                    f"{MAX_LENGTH_PENALTY} (beam scores divide by length ** length_penalty, "
                    "which overflows beyond)")
        return ""


MAX_NEW_TOKENS = 1 << 20  # far beyond any context window: a typo, not a setting
MAX_BEAMS = 1024
# sampling divides float32 logits by the temperature: inf/NaN probabilities outside these
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-6, 1e6
# (MAX_NEW_TOKENS + 1) ** 32 < 2 ** 641: finite whatever the length
MAX_LENGTH_PENALTY = 32


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
    #: likelihood inference: the candidate continuations to score after the rendered prompt
    #: (empty: a text generation request)
    continuations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Response:
    """The model's raw text for one request."""

    key: str
    text: str
    tokens: int = 0  # generated tokens, when the model counts them
    #: the answer to a likelihood request: one per continuation, in order
    likelihoods: tuple[Likelihood, ...] = ()


class Likelihood(NamedTuple):
    """A continuation's score: summed log-probability (natural log) of its tokens given the
    prompt, its token count, and whether greedy decoding would have produced every one of
    its tokens (lmms-eval's ``is_greedy``)."""

    logprob: float
    tokens: int
    greedy: bool = False


class ScoredText(str):
    """A prediction of likelihood inference: the text is the best candidate's (by summed
    log-probability), ``logprobs`` and ``tokens`` hold every candidate's score, in the
    order of the sample's options. A ``str``, so every reader of predictions keeps working."""

    logprobs: tuple[float, ...]
    tokens: tuple[int, ...]

    def __new__(cls, text: str, logprobs: tuple[float, ...],
                tokens: tuple[int, ...]) -> ScoredText:
        made = super().__new__(cls, text)
        made.logprobs, made.tokens = tuple(logprobs), tuple(tokens)
        return made

    def __getnewargs__(self) -> tuple[str, tuple[float, ...], tuple[int, ...]]:  # type: ignore[override]
        """Copies and pickles keep the scores (``str`` would rebuild it from the text only)."""
        return str(self), self.logprobs, self.tokens

    def same_scores(self, other: str) -> bool:
        """Whether ``other`` is this prediction with the same scores."""
        return (isinstance(other, ScoredText) and str(other) == str(self)
                and other.logprobs == self.logprobs and other.tokens == self.tokens)
