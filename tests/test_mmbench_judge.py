"""The optional judge plug-in: off by default, only for answers the rules leave unresolved,
verdicts cached in a JSON file keyed by a hash of the inputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from infmllm_eval.families.multiple_choice import MULTIPLE_CHOICE
from infmllm_eval.metrics.judge import (
    CACHE_ENV,
    JudgeError,
    cache_key,
    register_judge,
    unregister_judge,
)
from infmllm_eval.types import Sample
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
OPTIONS = [["A", "Circle"], ["B", "Octagon"], ["C", "Triangle"], ["D", "Rectangle"]]


class FakeJudge:
    """Answers "B" for texts mentioning eight sides; records what it was asked."""

    name = "fake"
    version = "1"

    def __init__(self, asked: list[str], fail: bool = False) -> None:
        self.asked, self.fail = asked, fail

    def resolve(self, question: str, options: Sequence[tuple[str, str]],
                answer: str) -> str | None:
        self.asked.append(answer)
        if self.fail:
            raise RuntimeError("service unavailable")
        if "eight" in answer:
            return "B"
        return "Z" if "zed" in answer else None


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    calls: list[str] = []
    register_judge("fake", lambda: FakeJudge(calls))
    register_judge("broken", lambda: FakeJudge(calls, fail=True))
    yield calls
    unregister_judge("fake")
    unregister_judge("broken")


def _samples() -> list[Sample]:
    return [Sample(i, None, {"question": "Shape?", "hint": "", "options": OPTIONS}, "B",
                   {"group": i, "pass": 0, "category": "c", "l2-category": "l"})
            for i in range(4)]


PREDICTIONS = {"0": "B", "1": "It has eight sides.", "2": "Hard to say.", "3": "zed"}


def test_judge_is_off_by_default(asked: list[str]) -> None:
    assert {o.name: o.default for o in MULTIPLE_CHOICE.options}["judge"] == "none"
    result = MULTIPLE_CHOICE.score(_samples(), PREDICTIONS, {"judge": "none"})
    assert result.parse_failures == 3 and asked == []
    assert result.metrics["circular_accuracy"] == 25.0


def test_judge_resolves_only_what_the_rules_cannot_and_is_cached(asked: list[str],
                                                                 tmp_path: Path) -> None:
    result = MULTIPLE_CHOICE.score(_samples(), PREDICTIONS, {"judge": "fake"})
    assert asked == ["It has eight sides.", "Hard to say.", "zed"]
    assert result.metrics["circular_accuracy"] == 50.0
    assert result.parse_failures == 2  # the judge's None and its invalid letter "Z"
    assert result.breakdown["counts"]["judge"] == 1
    assert result.per_sample[1].extra == {"choice": "B", "resolved_by": "judge", "group": 1,
                                          "pass": 0}
    cache = json.loads((tmp_path / "cache" / "fake.json").read_text())
    key = cache_key(FakeJudge([]), "Shape?", [(a, b) for a, b in OPTIONS],
                    "It has eight sides.")
    assert len(cache) == 3 and cache[key] == "B"
    again = MULTIPLE_CHOICE.score(_samples(), PREDICTIONS, {"judge": "fake"})
    assert len(asked) == 3  # every verdict came from the cache
    assert again.metrics == result.metrics


def test_judge_option_through_the_cli(cli: Cli, asked: list[str], tmp_path: Path) -> None:
    tsv = tmp_path / "t.tsv"
    tsv.write_text("index\tquestion\tA\tB\tanswer\timage\n"
                   "5\tShape?\tCircle\tOctagon\tB\tQUJD\n"
                   "1000005\tShape?\tOctagon\tCircle\tA\t5\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 5, "prediction": "eight sides"}\n'
                     '{"id": 1000005, "prediction": "A"}\n')
    args = ["score", "--task", "mmbench_dev_en", "--file", f"tsv={tsv}", "--predictions",
            str(preds), "--output", str(tmp_path / "m.json")]
    res = cli(*args, "--option", "judge=fake")
    assert res.code == 0, res.err
    got = json.loads((tmp_path / "m.json").read_text())
    assert got["variant"] == {"judge": "fake"}
    assert got["metrics"]["circular_accuracy"] == 100.0
    assert got["per_sample"][0]["resolved_by"] == "judge"
    res = cli(*args, "--option", "judge=oracle")
    assert res.code == 2 and "judge='oracle' is not one of none, broken, fake" in res.err


def test_failing_judge_names_itself(asked: list[str]) -> None:
    with pytest.raises(JudgeError, match="judge 'fake' failed: service unavailable"):
        MULTIPLE_CHOICE.score(_samples(), PREDICTIONS, {"judge": "broken"})
