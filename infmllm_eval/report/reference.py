"""Published numbers (``results/reference/<name>.json``) as reference rows of a report.

Each number names the benchmark and split as the paper gives them, its source, and the task
and metric of this harness it corresponds to; numbers without a task here (``task: null``)
are kept in the file and listed in the report's notes rather than shown as columns. A task
may also be a group with a declared figure (``pope`` with metric ``mean_f1``: see
report.group_figures).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from infmllm_eval.cards import builtin_card_root, task_cards
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.report.group_figures import group_figures
from infmllm_eval.report.runs import LIMIT, brief, plausible


class PublishedResult(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One published number."""

    benchmark: str
    split: str
    metric: str
    value: float
    source: str
    task: str | None = None
    note: str = ""


class PublishedModel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A reference row: one model's published numbers."""

    label: str
    source: str
    results: list[PublishedResult]
    note: str = ""


class ReferenceFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A file of published numbers."""

    name: str
    description: str
    models: list[PublishedModel]


def reference_dir() -> Path:
    """Where named reference files live: results/reference of the checkout or install."""
    return builtin_card_root() / "results" / "reference"


def _check(path: Path, ref: ReferenceFile) -> None:
    cards, figures = task_cards(), group_figures()
    for model in ref.models:
        seen: set[tuple[str, str]] = set()
        for result in model.results:
            where = f"{path}: {brief(model.label)}, {brief(result.benchmark)} {brief(result.split)}"
            if not plausible(result.value):
                raise BadInputError(f"{where}: value {shown(result.value)} is not a score "
                                    f"(a finite number within ±{LIMIT:g})")
            if result.task is None:
                continue
            figure = figures.get(result.task)
            if figure is not None and result.metric != figure.name:
                raise BadInputError(f"{where}: group {shown(result.task)} reports "
                                    f"{figure.name}, not {shown(result.metric)}")
            if result.task not in cards and figure is None:
                raise BadInputError(f"{where}: unknown task {shown(result.task)}")
            if (result.task, result.metric) in seen:
                raise BadInputError(f"{where}: {result.task}.{result.metric} given twice")
            seen.add((result.task, result.metric))


def load_reference(name_or_path: str) -> ReferenceFile:
    """A reference by name (``infmllm-paper``) or path; tasks are checked against the cards."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.exists():
        path = candidate
    else:
        path = reference_dir() / f"{name_or_path}.json"
        if not path.is_file():
            known = sorted(p.stem for p in reference_dir().glob("*.json"))
            raise BadInputError(f"--reference {name_or_path}: no such reference file or name "
                                f"(known: {', '.join(known) or 'none'})")
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO would block
        raise BadInputError(f"--reference {path}: not a regular file")
    ref: ReferenceFile = read_json(path, "reference file", kind=ReferenceFile)
    _check(path, ref)
    return ref
