"""A model that replays saved answers: for tests, and for re-running saved outputs."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infmllm_eval.adapters import ModelAdapter
from infmllm_eval.cards import ModelCard
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.predictions import read_predictions
from infmllm_eval.types import Request, Response

MAX_DELAY = 3600.0  # seconds per call: a test stand-in for a slow model, not a sleep forever


class ScriptedAdapter(ModelAdapter):
    """Answers each request with the text saved for its id.

    ``answers`` maps sample keys to texts; ``default`` (when not None) answers unknown keys,
    otherwise an unknown key is an error naming it.
    """

    def __init__(self, answers: Mapping[str, str], default: str | None = None,
                 source: str = "", delay: float = 0.0) -> None:
        self.name = "scripted"
        self.delay = delay
        self.answers = dict(answers)
        self.default = default
        self.source = source
        self.calls: list[int] = []

    def generate(self, requests: list[Request]) -> list[Response]:
        self.calls.append(len(requests))
        if self.delay:
            time.sleep(self.delay)
        out = []
        for req in requests:
            text = self.answers.get(req.key, self.default)
            if text is None:
                raise BadInputError(
                    f"scripted model: no saved answer for id {shown(req.key)} in "
                    f"{self.source or 'answers'}"
                    " (set --model-option default=TEXT to answer unknown ids)"
                )
            out.append(Response(req.key, text))
        return out

    def provenance(self) -> dict[str, Any]:
        digest = hashlib.sha256(repr(sorted(self.answers.items())).encode()).hexdigest()
        return {"adapter": "scripted", "answers": self.source, "answers_sha256": digest}

    def seed(self, value: int) -> None:
        """Saved answers never depend on a seed."""

    @classmethod
    def from_card(cls, card: ModelCard, options: Mapping[str, str]) -> ScriptedAdapter:
        """See :func:`create`."""
        return create(card, options)


def _answer_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise BadInputError(f"scripted model: no .jsonl predictions files in {path}")
        return files
    return [path]


def create(card: ModelCard, options: Mapping[str, str]) -> ScriptedAdapter:
    """The adapter of a ``scripted`` model card. Options: ``answers`` (a predictions file,
    or a folder of ``*.jsonl`` files such as a run's predictions/), ``default`` (the answer
    for ids not found), ``delay`` (seconds per call, to stand in for a slow model in
    tests)."""
    unknown = set(options) - {"answers", "default", "delay"}
    if unknown:
        raise BadInputError(f"model {card.name}: unknown option(s) {', '.join(sorted(unknown))} "
                            "(options: answers, default, delay)")
    try:
        delay = float(options.get("delay", "0"))
    except ValueError:
        delay = -1.0
    if not 0 <= delay <= MAX_DELAY:  # also NaN
        raise BadInputError(f"model {card.name}: --model-option delay="
                            f"{shown(options.get('delay'))}: delay must be a number of seconds "
                            f"from 0 to {MAX_DELAY}")
    answers: dict[str, str] = {}
    if options.get("answers"):
        for file in _answer_files(Path(options["answers"])):
            for key, text in read_predictions(file).text.items():
                if answers.get(key, text) != text:
                    raise BadInputError(f"scripted model: id {shown(key)} has different answers in "
                                        f"several files of {options['answers']}")
                answers[key] = text
    elif "default" not in options:
        raise BadInputError(f"model {card.name}: set --model-option answers=FILE_OR_DIR "
                            "(or default=TEXT)")
    return ScriptedAdapter(answers, options.get("default"), options.get("answers", ""), delay)
