"""The leaderboard: runs and published numbers in one table, columns grouped by family.

Columns come from the runs: each task's primary metric (MME: perception and cognition),
plus a submission-only task when a published number exists for it. Published numbers for
tasks no run has are listed in a note, not given empty columns. A family this module has no
header for (a plug-in, or yes_no scored as POPE) gets a group named after the family.

The best value of a column is bold in the direction its family declares: the highest, the
lowest for a lower-is-better metric, none for a metric without direction; the notes say
which columns are not "highest is best", and where a direction was assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from infmllm_eval.cards import task_cards
from infmllm_eval.metrics.mme import CATEGORY
from infmllm_eval.report.declared import HIGHER, LOWER, NO_DIRECTION, declared
from infmllm_eval.report.group_figures import GroupFigure, figures_in, group_value
from infmllm_eval.report.provenance import (
    NOTE_SUBSET,
    coverage,
    limit_of,
    provenance,
    split_sizes,
)
from infmllm_eval.report.reference import PublishedModel, ReferenceFile
from infmllm_eval.report.runs import RunResult, unique_labels, variant_text
from infmllm_eval.report.table import Cell, Column, Marks, Note, Row, Table, compose

FAMILY_ORDER = ("caption", "vqa", "gqa", "grounding", "yes_no", "multiple_choice")
FAMILY_GROUPS = {"caption": "Captioning (CIDEr)", "vqa": "VQA (accuracy)",
                 "gqa": "VQA (accuracy)", "grounding": "Grounding (Acc@0.5)",
                 "yes_no": "MME (score)", "multiple_choice": "MMBench (circular accuracy)"}
FAMILY_METRIC = {"caption": "CIDEr", "vqa": "accuracy", "gqa": "accuracy",
                 "grounding": "acc@0.5", "multiple_choice": "circular_accuracy"}
FAMILY_COLUMNS = {"yes_no": ("perception", "cognition")}
#: the metrics a header describes where it does not fit every metric of its family (a
#: yes_no task scored as POPE is no MME score; multiple choice without CircularEval is no
#: circular accuracy)
FAMILY_HEADED = {"yes_no": ("perception", "cognition", "total"),
                 "multiple_choice": ("circular_accuracy",)}
GROUP_ORDER = [*dict.fromkeys(FAMILY_GROUPS[f] for f in FAMILY_ORDER), "Yes/no (F1)",
               "Multiple choice (accuracy)"]

SUBMISSION_TEXT = "sub."
NOTE_SUBMISSION = ("sub.: test split without public answers; the run wrote the official "
                   "submission file (the score comes from the evaluation server)")
NOTE_PARTIAL = "partial result: only the samples that have a prediction were scored"
NOTE_MISSING = "some predictions are missing and count as wrong (ids in metrics.json)"
NOTE_BOLD = "Bold: the best value of each column."
NOTE_CI = ("[low, high]: 95% bootstrap interval of the primary metric (percentile, 1,000 "
           "resamples of samples, or of questions for CircularEval).")


#: the header of a family's metrics its own header does not describe (F1 of yes/no questions,
#: as POPE, and its group mean; multiple choice without CircularEval)
METRIC_GROUPS = {("yes_no", "f1"): "Yes/no (F1)", ("yes_no", "mean_f1"): "Yes/no (F1)",
                 ("multiple_choice", "accuracy"): "Multiple choice (accuracy)"}


def make_column(task: str, metric: str, family: str, better: str = HIGHER) -> Column:
    """A column; its label names the metric unless the family header already does."""
    headed = metric in FAMILY_HEADED.get(family, (metric,))
    group = FAMILY_GROUPS.get(family, family) if headed else METRIC_GROUPS.get(
        (family, metric), family)
    label = task if FAMILY_METRIC.get(family) == metric else f"{task} {metric}"
    return Column(task, metric, group, label, better=better)


def _order(column: Column) -> tuple[int, str, str, int]:
    group = GROUP_ORDER.index(column.group) if column.group in GROUP_ORDER else len(GROUP_ORDER)
    metrics = FAMILY_COLUMNS.get("yes_no", ()) if column.group == FAMILY_GROUPS["yes_no"] else ()
    rank = metrics.index(column.metric) if column.metric in metrics else len(metrics)
    return group, column.group, column.task, rank


def _measured(entry: dict[str, Any], metric: str) -> bool:
    """False for an MME category none of whose subtasks the run scored (the toy MME has no
    cognition subtask: its ``cognition 0`` is not a result)."""
    subtasks = entry.get("breakdown", {}).get("subtasks")
    if entry.get("family") != "yes_no" or not isinstance(subtasks, dict) or not subtasks:
        return True
    if metric not in set(CATEGORY.values()):
        return True
    return any(CATEGORY.get(name) == metric for name in subtasks)


def discover_columns(runs: Sequence[RunResult], models: Sequence[PublishedModel],
                     assumed: dict[str, str] | None = None) -> list[Column]:
    """The table's columns in family, then task order; ``assumed`` collects, by column key,
    why a column's direction was assumed (higher) rather than declared."""
    found: dict[str, Column] = {}
    submitted: set[str] = set()
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for run in runs:
        for task, entry in run.tasks.items():
            if "submission" in entry:
                submitted.add(task)
                continue
            family = str(entry.get("family", "other"))
            columns = FAMILY_COLUMNS.get(family, ())
            chosen = [m for m in columns if m in entry["metrics"]] or [entry["primary_metric"]]
            for metric in chosen:
                if run.value(task, metric) is not None and _measured(entry, metric):
                    entries.append((task, metric, entry))
    cards = task_cards() if submitted and models else {}  # the runs hold everything else
    for model in models:
        for result in model.results:
            if result.task in submitted and result.task in cards:
                entries.append((result.task, result.metric,
                                {"family": cards[result.task].family}))
    for task, metric, entry in entries:
        if f"{task}.{metric}" in found:
            continue
        how = declared(entry, metric)
        column = make_column(task, metric, str(entry.get("family", "other")), how.better)
        found[column.key] = column
        if how.assumed and assumed is not None:
            assumed[column.key] = how.assumed
    return sorted(found.values(), key=_order)


def group_columns(runs: Sequence[RunResult],
                  ) -> tuple[list[Column], dict[str, GroupFigure]]:
    """A column for each declared group figure a run has (see report.group_figures), in the
    direction its member metric declares; and the figures by column key."""
    columns, figures = [], {}
    for figure in figures_in(runs):
        member = next((e for r in runs if (e := r.scored(figure.members[0])) is not None), {})
        entry = {"family": figure.family}
        if "variant" in member:
            entry["variant"] = member["variant"]
        how = declared(entry, figure.metric)
        column = make_column(figure.group, figure.name, figure.family, how.better)
        columns.append(column)
        figures[column.key] = figure
    return columns, figures


def direction_notes(columns: Sequence[Column], assumed: dict[str, str]) -> list[Note]:
    """What 'bold' means here: the plain note when every column is higher-is-better as
    declared; else which columns bold their lowest value, which bold nothing, and which
    directions were assumed."""
    keys = {way: [c.key for c in columns if c.better == way] for way in (LOWER, NO_DIRECTION)}
    if not keys[LOWER] and not keys[NO_DIRECTION] and not assumed:
        return [Note("", NOTE_BOLD)]
    notes = [Note("", NOTE_BOLD if not keys[LOWER] else
                  "Bold: the best value of each column (the lowest where lower is better: "
                  f"{', '.join(keys[LOWER])}).")]
    if keys[NO_DIRECTION]:
        notes.append(Note("", f"Nothing bold in {', '.join(keys[NO_DIRECTION])}: no better "
                              "direction (a diagnostic, e.g. a yes-ratio)."))
    notes += [Note("", f"{key}: higher taken as better ({why}).")
              for key, why in assumed.items()]
    return notes


def _variants(runs: Sequence[RunResult], column: Column) -> set[str]:
    return {variant_text(e) for r in runs if (e := r.scored(column.task)) is not None}


def _run_cell(entry: dict[str, Any] | None, run: RunResult, column: Column, marks: Marks,
              uniform: bool, show_ci: bool, size: int | None) -> Cell:
    if entry is None:
        return Cell(None)
    counted = coverage(entry, size, limit_of(run))
    if "submission" in entry:
        return Cell(None, SUBMISSION_TEXT, marks=(marks.mark(NOTE_SUBMISSION),),
                    n=counted.n, of=counted.of, subset=counted.subset)
    notes = []
    variant = variant_text(entry)
    if variant and not uniform:
        notes.append(marks.mark(f"scoring variant: {variant}"))
    if entry.get("partial"):
        notes.append(marks.mark(NOTE_PARTIAL))
    elif entry.get("n_missing"):
        notes.append(marks.mark(NOTE_MISSING))
    ci = None
    if show_ci and column.metric == entry["primary_metric"]:
        found = (entry.get("ci95") or {}).get(column.metric)
        ci = (float(found[0]), float(found[1])) if found else None
    return Cell(run.value(column.task, column.metric), ci=ci, marks=tuple(notes),
                n=counted.n, of=counted.of, subset=counted.subset)


def _group_cell(run: RunResult, figure: GroupFigure) -> Cell:
    """The group's figure (only a run that scored every member in full has one)."""
    found = group_value(run, figure)
    return Cell(None) if found is None else Cell(found[0], n=found[1])


def _reference_row(model: PublishedModel, columns: Sequence[Column], marks: Marks,
                   ) -> tuple[Row | None, str]:
    """The model's row (None when no column has a number) and what it leaves out."""
    published = {(r.task, r.metric): r for r in model.results if r.task is not None}
    shown = [published.get((c.task, c.metric)) for c in columns]
    left_out = [r for r in model.results if r not in shown]
    missing = "; ".join(f"{r.benchmark} {r.split} {r.value:g}"
                        + (" (no task here)" if r.task is None else f" ({r.task}, not run)")
                        for r in left_out)
    if not any(shown):
        return None, missing
    splits = "; ".join(f"{r.task} = {r.benchmark} {r.split}" for r in shown if r is not None)
    note = marks.mark(f"{model.label}: published numbers ({model.source}); splits: {splits}")
    cells = tuple(Cell(r.value if r is not None else None) for r in shown)
    return Row(model.label, "reference", cells, (note,), model.source), missing


def build_leaderboard(runs: Sequence[RunResult], references: Sequence[ReferenceFile] = (),
                      baseline: str | None = None, show_ci: bool = False,
                      title: str = "infmllm-eval report") -> Table:
    """One table of every run (in the given order), then the published rows."""
    models = [m for ref in references for m in ref.models]
    assumed: dict[str, str] = {}
    extra, figures = group_columns(runs)
    columns = sorted(discover_columns(runs, models, assumed) + extra, key=_order)
    marks = Marks()
    uniform: dict[str, bool] = {}
    for i, column in enumerate(columns):
        variants = _variants(runs, column)
        uniform[column.key] = len(variants) <= 1
        if len(variants) == 1 and (variant := variants.pop()):
            columns[i] = replace(column, marks=(marks.mark(f"scoring variant: {variant}"),))
        if column.key in figures:
            columns[i] = replace(columns[i], marks=(*columns[i].marks,
                                                    marks.mark(figures[column.key].describe())))
    sizes = split_sizes({task for run in runs for task in run.tasks})
    rows = [Row(run.label, "run", tuple(
        _group_cell(run, figures[c.key]) if c.key in figures else
        _run_cell(run.tasks.get(c.task), run, c, marks, uniform[c.key], show_ci,
                  sizes.get(c.task)) for c in columns), source=str(run.path)) for run in runs]
    left_out: list[Note] = []
    for model in models:
        row, missing = _reference_row(model, columns, marks)
        if row is not None:
            rows.append(row)
        if missing:
            left_out.append(Note("", f"Also published for {model.label}, not in this table: "
                                     f"{missing}."))
    labels = unique_labels([r.label for r in rows])
    rows = [Row(label, r.kind, r.cells, r.marks, r.source)
            for r, label in zip(rows, labels, strict=True)]
    general = direction_notes(columns, assumed)
    if any(cell.subset for row in rows for cell in row.cells):
        general.append(Note("", NOTE_SUBSET))
    if baseline is not None:
        general.append(Note("", f"(+x / -x): difference to {baseline}."))
    if show_ci:
        general.append(Note("", NOTE_CI))
    return Table(title, tuple(columns), compose(rows, columns, baseline),
                 tuple(marks.as_notes() + general + left_out),
                 show_delta=baseline is not None, show_ci=show_ci,
                 provenance=tuple(provenance(replace(run, label=row.label), sizes)
                                  for run, row in zip(runs, rows[:len(runs)], strict=True)))
