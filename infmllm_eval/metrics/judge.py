"""Optional judges for multiple-choice answers the extraction rules leave unresolved.

Off by default. A judge is a plug-in (this package ships none and never opens a network
connection itself): register a factory with :func:`register_judge`, or publish one under the
``infmllm_eval.judges`` entry-point group, then pick it with ``--option judge=NAME``. Every
verdict is cached in ``$INFMLLM_EVAL_JUDGE_CACHE/<name>.json`` (default
``~/.cache/infmllm-eval/judges``), keyed by a hash of the judge's name and version and of the
question, options and answer, so a re-score never asks twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from infmllm_eval.errors import InfmllmEvalError
from infmllm_eval.jsonio import read_json, write_json
from infmllm_eval.registry import Registry

ENTRY_POINT_GROUP = "infmllm_eval.judges"
CACHE_ENV = "INFMLLM_EVAL_JUDGE_CACHE"


class Judge(Protocol):
    """Picks the option an answer means; ``version`` pins the model/prompt (cache key)."""

    name: str
    version: str

    def resolve(self, question: str, options: Sequence[tuple[str, str]],
                answer: str) -> str | None:
        """The option letter, or None when the answer picks none."""
        ...


JudgeFactory = Callable[[], Judge]
JUDGES: Registry[JudgeFactory] = Registry("judge", ENTRY_POINT_GROUP)


class JudgeError(InfmllmEvalError):
    """A judge plug-in failed."""


def register_judge(name: str, factory: JudgeFactory) -> None:
    """Make ``factory`` available as ``--option judge=NAME`` (replacing one of that name)."""
    JUDGES.remove(name)
    JUDGES.add(name, factory)


def unregister_judge(name: str) -> None:
    """Forget a judge registered with :func:`register_judge`."""
    JUDGES.remove(name)


def judge_names() -> tuple[str, ...]:
    """Registered and installed (entry point) judge names, sorted."""
    JUDGES.refresh()  # a judge may have been installed since
    return tuple(JUDGES.names())


def create_judge(name: str) -> Judge:
    """A new judge by name."""
    return JUDGES.get(name)()


def cache_dir() -> Path:
    """$INFMLLM_EVAL_JUDGE_CACHE, else the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infmllm-eval" / "judges"


def cache_key(judge: Judge, question: str, options: Sequence[tuple[str, str]],
              answer: str) -> str:
    """sha256 of everything a verdict depends on."""
    payload = [judge.name, judge.version, question, [list(o) for o in options], answer]
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedJudge:
    """A judge whose verdicts are kept in a JSON file ``{key: letter or null}``."""

    def __init__(self, judge: Judge, path: Path) -> None:
        self.judge, self.path = judge, path
        self.calls = 0
        self._cache: dict[str, str | None] = (
            read_json(path, "judge cache", dict[str, str | None]) if path.exists() else {})
        self._changed = False

    def resolve(self, question: str, options: Sequence[tuple[str, str]],
                answer: str) -> str | None:
        """The cached verdict, else the judge's (then cached); only a valid letter counts."""
        key = cache_key(self.judge, question, options, answer)
        if key not in self._cache:
            try:
                verdict = self.judge.resolve(question, options, answer)
            except Exception as exc:  # a plug-in may fail in any way: say which one
                raise JudgeError(f"judge {self.judge.name!r} failed: {exc}") from exc
            self._cache[key] = verdict if isinstance(verdict, str) else None
            self.calls += 1
            self._changed = True
        found = (self._cache[key] or "").strip().upper()
        return found if found in {letter for letter, _ in options} else None

    def save(self) -> None:
        """Write the cache when it gained verdicts."""
        if self._changed:
            write_json(self.path, self._cache)
            self._changed = False


def open_judge(name: str) -> CachedJudge | None:
    """The cached judge an option value names; None for "none"."""
    if name == "none":
        return None
    judge = create_judge(name)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return CachedJudge(judge, cache_dir() / f"{safe}.json")
