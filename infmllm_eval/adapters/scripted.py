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
    otherwise an unknown key is an error naming it. ``per_task`` (a folder of
    ``<task>.jsonl`` files, such as a run's predictions/) maps a task name to its own
    answers: during that task (``start_task``) only they are used, since the ids of
    different tasks may coincide. A task without a file of its own is answered from
    ``answers`` (the ids all files agree on) only when no file is named after a task: else
    another task's answer could be taken for an id that happens to be the same.
    """

    def __init__(self, answers: Mapping[str, str], default: str | None = None,
                 source: str = "", delay: float = 0.0,
                 per_task: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.name = "scripted"
        self.delay = delay
        self.answers = dict(answers)
        self.per_task = {task: dict(texts) for task, texts in (per_task or {}).items()}
        self.default = default
        self.source = source
        self.calls: list[int] = []
        self._task_answers = self.answers
        self._where = source or "answers"
        self._conflicting = {k for texts in self.per_task.values() for k in texts} - set(
            self.answers)  # ids the files answer differently (left out of ``answers``)

    def start_task(self, name: str) -> None:
        """Answer from the file ``<name>.jsonl`` when the folder has one."""
        from infmllm_eval.cards import task_cards

        own = self.per_task.get(name)
        where = self.source or "answers"
        others = sorted(set(self.per_task) & set(task_cards()) - {name})
        if own is not None:
            self._task_answers, self._where = own, f"{name}.jsonl of {where}"
        elif others:  # task-named files, none for this task: none of them answers it
            self._task_answers = {}
            self._where = f"{where} (it holds {', '.join(others)}.jsonl, no {name}.jsonl)"
        else:
            self._task_answers, self._where = self.answers, where

    def generate(self, requests: list[Request]) -> list[Response]:
        self.calls.append(len(requests))
        if self.delay:
            time.sleep(self.delay)
        out = []
        for req in requests:
            text = self._task_answers.get(req.key, self.default)
            if text is None:
                why = (", whose files answer it differently and none is named after this task"
                       if self._task_answers is self.answers and req.key in self._conflicting
                       else "")
                raise BadInputError(
                    f"scripted model: no saved answer for id {shown(req.key)} in "
                    f"{self._where}{why} (set --model-option default=TEXT to answer unknown ids)"
                )
            out.append(Response(req.key, text))
        return out

    def provenance(self) -> dict[str, Any]:
        saved: Any = sorted(self.answers.items())
        if self._conflicting:  # the union does not say everything: hash each file's answers
            saved = sorted((task, sorted(texts.items())) for task, texts in self.per_task.items())
        digest = hashlib.sha256(repr(saved).encode()).hexdigest()
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
    or a folder of ``*.jsonl`` files such as a run's predictions/: a task with a file
    ``<task>.jsonl`` there is answered from it alone), ``default`` (the answer
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
    per_task: dict[str, dict[str, str]] = {}
    if options.get("answers"):
        source = Path(options["answers"])
        conflicts: set[str] = set()
        for file in _answer_files(source):
            texts = read_predictions(file).text
            if source.is_dir():
                per_task[file.stem] = texts
            for key, text in texts.items():
                if answers.get(key, text) != text:
                    conflicts.add(key)
                answers[key] = text
        for key in conflicts:  # ids of different tasks: only a task's own file answers them
            del answers[key]
    elif "default" not in options:
        raise BadInputError(f"model {card.name}: set --model-option answers=FILE_OR_DIR "
                            "(or default=TEXT)")
    return ScriptedAdapter(answers, options.get("default"), options.get("answers", ""), delay,
                           per_task)

