"""Per-benchmark detail tables from the runs' breakdowns: MME subtask scores and MMBench
circular accuracy per category (shown in the HTML report, each with its chart)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from infmllm_eval.metrics.mme import CATEGORY, SUBTASKS
from infmllm_eval.report.provenance import coverage, limit_of, split_sizes
from infmllm_eval.report.runs import RunResult, is_number
from infmllm_eval.report.table import Cell, Column, Note, Row, Table, compose

Extract = Callable[[dict[str, Any]], dict[str, float]]


def _mme_scores(entry: dict[str, Any]) -> dict[str, float]:
    subtasks = (entry.get("breakdown") or {}).get("subtasks") or {}
    return {name: float(found["score"]) for name, found in subtasks.items()
            if isinstance(found, dict) and is_number(found.get("score"))}


def _categories(entry: dict[str, Any]) -> dict[str, float]:
    if "circular_accuracy" not in (entry.get("metrics") or {}):
        return {}  # scored without CircularEval (circular=off): not this table's figures
    found = (entry.get("breakdown") or {}).get("category") or {}
    return {str(k): float(v) for k, v in found.items() if is_number(v)}


def _detail(runs: Sequence[RunResult], family: str, extract: Extract, order: Sequence[str],
            group: Callable[[str], str], title: str, notes: Sequence[str]) -> Table | None:
    """Rows: (run, task) pairs of ``family``; columns: the union of the extracted names."""
    pairs = [(run, task, extract(entry)) for run in runs for task, entry in run.tasks.items()
             if "submission" not in entry and entry.get("family") == family]
    pairs = [p for p in pairs if p[2]]
    if not pairs:
        return None
    names = sorted({n for _, _, values in pairs for n in values},
                   key=lambda n: (order.index(n) if n in order else len(order), n))
    columns = [Column(title, name, group(name), name) for name in names]
    several = len({task for _, task, _ in pairs}) > 1
    sizes = split_sizes({task for _, task, _ in pairs})
    rows = []
    for run, task, values in pairs:
        found = coverage(run.tasks[task], sizes.get(task), limit_of(run))
        label = f"{run.label} · {task}" if several else run.label
        counted = Cell(None, n=found.n, of=found.of, subset=found.subset).coverage()
        label += f" ({counted})" if counted else ""  # the row says n of N, not every cell
        cells = tuple(Cell(values.get(name), subset=found.subset) for name in names)
        rows.append(Row(label, "run", cells, source=str(run.path)))
    return Table(title, tuple(columns), compose(rows, columns),
                 tuple(Note("", n) for n in notes))


def mme_table(runs: Sequence[RunResult]) -> Table | None:
    """MME: each subtask's score (acc + acc+, max 200) under perception / cognition."""
    return _detail(runs, "yes_no", _mme_scores, SUBTASKS,
                   lambda name: CATEGORY.get(name, "other").capitalize(), "MME subtasks",
                   ["Score per subtask = accuracy + accuracy+ (max 200).",
                    "Bold: the best value of each column."])


def mmbench_table(runs: Sequence[RunResult]) -> Table | None:
    """MMBench: circular accuracy per category."""
    return _detail(runs, "multiple_choice", _categories, (), lambda _: "Category",
                   "MMBench categories",
                   ["Circular accuracy per category (%), CircularEval over the passes.",
                    "Bold: the best value of each column."])
