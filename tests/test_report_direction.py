"""Reports, diffs and gates read which way a metric is better, and how its units form, from
the family's declaration: a test family declares a lower-is-better metric (an error rate),
one without direction (a yes-ratio) and units of several rows; a family that is not
installed falls back to higher-is-better, said in the output."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.errors import BadInputError
from infmllm_eval.families import FAMILIES
from infmllm_eval.families.base import Family, FamilyScores, MetricSpec
from infmllm_eval.report.diff import diff_task
from infmllm_eval.report.gate import run_gate
from infmllm_eval.report.leaderboard import build_leaderboard
from infmllm_eval.report.render_text import render_markdown
from infmllm_eval.report.runs import RunResult
from infmllm_eval.report.stats import primary_units
from infmllm_eval.types import Sample
from tests.test_report_fixtures import entry

NAME = "test_direction"
N = 2000


class DirectionFamily(Family):
    """Scores nothing: only its declarations are read."""

    name = NAME
    metrics = (MetricSpec("error_rate", better="lower", help="% of answers wrong"),
               MetricSpec("accuracy", help="% of answers right"),
               MetricSpec("yes_ratio", better="none", aggregate="ratio", help="% yes"),
               MetricSpec("f1", aggregate="ratio", help="F1 of yes"))
    primary_metric = "error_rate"
    unit_key = "item"

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {}

    def score(self, samples: list[Sample], predictions: Mapping[str, str | None],
              options: Mapping[str, str]) -> FamilyScores:
        raise NotImplementedError


@pytest.fixture(autouse=True)
def family() -> Iterator[None]:
    FAMILIES.add(NAME, DirectionFamily())
    yield
    FAMILIES.remove(NAME)


def errors(wrong: int, extra: int = 0, family: str = NAME, primary: str = "error_rate",
           metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """N samples, ``wrong`` of them wrong (score 100 = an error), then ``extra`` more."""
    scores = [100.0] * (wrong + extra) + [0.0] * (N - wrong - extra)
    return entry(family, primary, scores, metrics=metrics)


def result(tmp_path: Path, name: str, task_entry: dict[str, Any],
           tolerances: dict[str, float] | None = None) -> RunResult:
    return RunResult(name, tmp_path / name, "m", {"t": task_entry}, None, tolerances or {})


def check(tmp_path: Path, base: dict[str, Any], run: dict[str, Any],
          alpha: float | None = None, **tolerances: float) -> tuple[bool, str]:
    tracked = {f"t.{k}": v for k, v in tolerances.items()}
    found = run_gate(result(tmp_path, "base", base, tracked), result(tmp_path, "run", run),
                     max_drop=1.0, alpha=alpha)
    named = {c.name: c for c in found.checks}
    last = named[next(reversed(tracked))] if tracked else named["t.error_rate"]
    return last.failed, last.reason


def test_a_lower_is_better_metric_fails_when_it_rises(tmp_path: Path) -> None:
    base = errors(200)  # 10.00
    failed, reason = check(tmp_path, base, errors(200, 40))  # 12.00: worse
    assert failed and reason == "rise 2.00 > tolerance 1.00 (lower is better)"
    failed, reason = check(tmp_path, base, errors(140))  # 7.00: better by 3 points
    assert not failed and reason == "no rise (lower is better)"
    failed, reason = check(tmp_path, base, errors(200, 10))  # 10.50
    assert not failed and reason == "rise 0.50 within tolerance 1.00 (lower is better)"


def test_a_higher_is_better_metric_of_the_same_family_keeps_the_drop_rule(
        tmp_path: Path) -> None:
    base = errors(200, metrics={"accuracy": 90.0})
    failed, reason = check(tmp_path, base, errors(200, metrics={"accuracy": 87.0}),
                           accuracy=1.0)
    assert failed and reason == "drop 3.00 > tolerance 1.00"
    failed, reason = check(tmp_path, base, errors(200, metrics={"accuracy": 93.0}),
                           accuracy=1.0)
    assert not failed and reason == "no drop"


def test_significance_tests_a_rise_where_lower_is_better(tmp_path: Path) -> None:
    base = errors(200)
    failed, reason = check(tmp_path, base, errors(200, 10), alpha=0.05)  # +0.5, all losses
    assert failed and reason.startswith("significant rise: p = ")
    assert reason.endswith("(lower is better)")
    failed, reason = check(tmp_path, base, errors(190), alpha=0.05)  # -0.5: all gains
    assert not failed and reason == "no rise (lower is better)"


@pytest.mark.parametrize("after, failed, reason", [
    (52.0, True, "moved +2.00, more than tolerance 1.00"),
    (48.0, True, "moved -2.00, more than tolerance 1.00"),
    (50.5, False, "moved +0.50, within tolerance 1.00"),
    (50.0, False, "unchanged"),
])
def test_a_metric_without_direction_fails_when_it_moves_either_way(
        tmp_path: Path, after: float, failed: bool, reason: str) -> None:
    base = errors(200, metrics={"yes_ratio": 50.0})
    got = check(tmp_path, base, errors(200, metrics={"yes_ratio": after}), yes_ratio=1.0)
    assert got == (failed, reason + " (no better direction: a move either way counts)")


def test_a_primary_metric_without_direction_gets_no_significance_test(tmp_path: Path) -> None:
    base = errors(200, primary="yes_ratio")
    run = errors(200, 10, primary="yes_ratio")
    found = run_gate(result(tmp_path, "b", base), result(tmp_path, "r", run), alpha=0.05)
    (only,) = found.checks
    assert only.better == "none" and only.p_value is None and not only.failed
    assert only.reason.endswith("; no significance test without a direction")


def test_a_metric_no_installed_family_declares_is_refused(tmp_path: Path) -> None:
    """Taking an undeclared metric as higher-is-better would pass a lower-is-better
    regression (the hostile review's finding): the gate refuses to guess."""
    base, run = errors(200, family="not_here"), errors(140, family="not_here")
    with pytest.raises(BadInputError, match="family 'not_here' is not installed, so the gate "
                                            "cannot tell whether a rise or a drop is worse"):
        check(tmp_path, base, run)
    undeclared = errors(200, metrics={"bleu": 30.0})
    with pytest.raises(BadInputError, match=f"the {NAME} family does not declare 'bleu'"):
        check(tmp_path, undeclared, errors(200, metrics={"bleu": 31.0}), bleu=1.0)


def test_runs_of_different_families_are_not_compared(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="scored by different families"):
        check(tmp_path, errors(200), errors(200, family="not_here"))


def test_units_follow_the_declared_unit_key_and_aggregate() -> None:
    rows = errors(0)
    for i, row in enumerate(rows["per_sample"]):
        row["item"] = i // 2  # two rows per unit; the mean of minima is 0 as recorded
    units = primary_units(rows)
    assert units is not None and units.kind == "question" and len(units.ids) == N // 2
    rows["per_sample"][0].pop("item")  # some rows with the field, some without: damage
    assert primary_units(rows) is None
    ratio = errors(200, primary="f1")  # the mean of its rows is the value, but it is a ratio
    assert primary_units(ratio) is None
    guessed = errors(200, family="not_here")  # unknown: samples, only when the mean matches
    for row in guessed["per_sample"]:
        row["group"] = 0
    found = primary_units(guessed)
    assert found is not None and found.kind == "sample"


def test_diff_calls_a_falling_error_fixed() -> None:
    found = diff_task("t", errors(200), errors(190))
    assert len(found.fixed) == 10 and not found.broken
    assert all(c.score_b < c.score_a for c in found.fixed)
    assert any("lower-is-better" in note for note in found.notes)


def test_leaderboard_bolds_the_lowest_where_lower_is_better(tmp_path: Path) -> None:
    runs = [RunResult(name, tmp_path / name, name, {
        "errors": errors(wrong, metrics={"yes_ratio": ratio}),
        "ratio": errors(wrong, primary="yes_ratio", metrics={"yes_ratio": ratio}),
        "my_vqa": entry("vqa", "accuracy", [100.0] * wrong + [0.0] * (N - wrong)),  # full: no card
        "plugin": entry("unknown_plugin", "score", [1.0, 2.0 + wrong])})
        for name, wrong, ratio in (("a", 200, 40.0), ("b", 100, 60.0), ("c", 300, 50.0))]
    table = build_leaderboard(runs)
    columns = {c.key: c for c in table.columns}
    assert columns["errors.error_rate"].better == "lower"
    assert columns["ratio.yes_ratio"].better == "none"
    assert columns["plugin.score"].group == "unknown_plugin"  # a column, not an error
    assert columns["plugin.score"].label == "plugin score"
    bold = {c.key: [r.label for r in table.rows if r.cells[i].bold]
            for i, c in enumerate(table.columns)}
    assert bold == {"errors.error_rate": ["b"], "ratio.yes_ratio": [],
                    "my_vqa.accuracy": ["c"], "plugin.score": ["c"]}
    text = render_markdown(table)
    assert "| b | 5.00 | **5.00** | 60.00 | 51.50 |" in text  # b's error rate: the lowest
    assert ("- Bold: the best value of each column (the lowest where lower is better: "
            "errors.error_rate).") in text
    assert "- Nothing bold in ratio.yes_ratio: no better direction" in text
    assert ("- plugin.score: higher taken as better (family 'unknown_plugin' is not "
            "installed).") in text


def test_a_yes_no_task_without_mme_scores_gets_its_primary_column(tmp_path: Path) -> None:
    pope = entry("yes_no", "accuracy", [100.0, 0.0, 100.0, 100.0], variant={"aggregate": "pope"},
                 metrics={"f1": 80.0})
    table = build_leaderboard([RunResult("a", tmp_path / "a", "a", {"pope": pope})])
    (column,) = table.columns
    assert (column.key, column.group, column.label) == ("pope.accuracy", "yes_no",
                                                        "pope accuracy")


def test_html_chart_axes_say_lower_is_better(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from infmllm_eval.report import html

    units: dict[str, str] = {}

    def chart(title: str, categories: Any, series: Any, unit: str, horizontal: bool = False,
              ) -> bytes:
        units[title] = unit
        return b"png"

    monkeypatch.setattr(html, "bar_chart", chart)
    runs = [RunResult(n, tmp_path / n, n, {"errors": errors(w), "vqav2_val": entry(
        "vqa", "accuracy", [100.0, 0.0])}) for n, w in (("a", 10), ("b", 20))]
    html.render_html(build_leaderboard(runs), runs)
    assert units == {"VQA (accuracy)": "accuracy", NAME: "value, lower is better"}
