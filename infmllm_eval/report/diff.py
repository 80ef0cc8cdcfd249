"""Two runs compared sample by sample: what B fixed and broke relative to A, and a paired
bootstrap interval and p-value for the difference of the primary metric.

Fixed and broken follow the primary metric's declared direction: a per-sample score that
rises is a fix where higher is better and a break where lower is better. For a metric
without direction, rises are listed as fixed and falls as broken, and a note says so."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.declared import LOWER, NO_DIRECTION, declared
from infmllm_eval.report.runs import RunResult, brief, variant_text
from infmllm_eval.report.stats import PairedResult, paired_bootstrap, primary_units


@dataclass(frozen=True)
class Change:
    """A sample whose score differs between the runs."""

    id: str
    score_a: float
    score_b: float
    prediction_a: str | None
    prediction_b: str | None


@dataclass(frozen=True)
class TaskDiff:
    """One task: metric values, the paired test, and the changed samples.

    ``fixed``: the sample's score got better from A to B (up, or down where lower is better;
    for 0/100 scores: wrong -> right); ``broken``: it got worse."""

    task: str
    metric: str
    value_a: float | None
    value_b: float | None
    paired: PairedResult | None
    units: str
    n_common: int
    only_a: int
    only_b: int
    fixed: tuple[Change, ...]
    broken: tuple[Change, ...]
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _rows(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in entry.get("per_sample") or []}


def _changes(rows_a: dict[str, dict[str, Any]], rows_b: dict[str, dict[str, Any]],
             lower: bool = False) -> tuple[list[Change], list[Change]]:
    fixed: list[Change] = []
    broken: list[Change] = []
    for key, row_b in rows_b.items():
        row_a = rows_a.get(key)
        if row_a is None or row_a["score"] == row_b["score"]:
            continue
        change = Change(key, float(row_a["score"]), float(row_b["score"]),
                        row_a.get("prediction"), row_b.get("prediction"))
        (fixed if (change.score_b > change.score_a) != lower else broken).append(change)
    return fixed, broken


def diff_task(task: str, a: dict[str, Any], b: dict[str, Any]) -> TaskDiff:
    """Compare one task's entries (A is the reference side)."""
    metric = a["primary_metric"]
    if b["primary_metric"] != metric:
        raise BadInputError(f"task {brief(task)}: the runs have different primary metrics "
                            f"({brief(metric)} vs {brief(b['primary_metric'])})")
    notes = []
    if variant_text(a) != variant_text(b):
        notes.append(f"scoring variants differ: A {variant_text(a) or 'default'}; "
                     f"B {variant_text(b) or 'default'}")
    found = declared(a, metric)
    better = found.better
    if better == LOWER:
        notes.append(f"{metric} is lower-is-better: 'fixed' lists samples whose score fell")
    elif better == NO_DIRECTION:
        notes.append(f"{metric} has no better direction: 'fixed' lists rises, 'broken' falls")
    units_a, units_b = primary_units(a), primary_units(b)
    paired = None
    if units_a is None or units_b is None:
        notes.append(f"no paired test: {metric} cannot be rebuilt from per-sample scores "
                     "(not a mean of them, or per-sample scores absent)")
    elif units_a.kind != units_b.kind:
        notes.append(f"no paired test: A pairs by {units_a.kind}, B by {units_b.kind} "
                     f"(per-sample rows with and without {found.unit_key or 'group'!r})")
    else:
        paired = paired_bootstrap(units_a, units_b)
        if paired is None:
            notes.append("no paired test: the runs share no sample")
    rows_a, rows_b = _rows(a), _rows(b)
    fixed, broken = _changes(rows_a, rows_b, better == LOWER)
    common = len(rows_a.keys() & rows_b.keys())
    if rows_a and rows_b and (common < len(rows_a) or common < len(rows_b)):
        notes.append(f"the runs share {common} samples (A has {len(rows_a)}, B "
                     f"{len(rows_b)}): the paired test and the changes cover only those")
    value_a, value_b = a["metrics"].get(metric), b["metrics"].get(metric)
    return TaskDiff(task, metric, value_a, value_b, paired,
                    units_a.kind if units_a is not None else "", common,
                    len(rows_a) - common, len(rows_b) - common, tuple(fixed), tuple(broken),
                    tuple(notes))


def diff_runs(a: RunResult, b: RunResult, task: str | None = None) -> list[TaskDiff]:
    """Every task both runs scored (or only ``task``)."""
    if task is not None:
        for run in (a, b):
            if run.scored(task) is None:
                have = ", ".join(t for t in run.tasks if run.scored(t) is not None)
                raise BadInputError(f"--task {brief(task)}: {run.path} has no scored result "
                                    f"for it (it has: {brief(have or 'none', 200)})")
        tasks = [task]
    else:
        tasks = [t for t in a.tasks if a.scored(t) is not None and b.scored(t) is not None]
        if not tasks:
            raise BadInputError(f"{a.path} and {b.path} have no scored task in common")
    return [diff_task(t, a.tasks[t], b.tasks[t]) for t in tasks]
