"""Results read back for reports, diffs and gates: run directories, their metrics.json, the
metrics JSON that ``score`` writes, and baseline files (a metrics.json subset, see
results/baselines/README.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import read_json

BASELINE_FORMAT = "infmllm-eval-baseline"
WHAT = ("a run directory, its metrics.json, a metrics JSON written by `score`, or a baseline "
        "JSON")


@dataclass(frozen=True)
class RunResult:
    """One set of results: task name -> metrics.json entry (as written by the harness)."""

    label: str
    path: Path
    model: str | None
    tasks: Mapping[str, dict[str, Any]]
    run_id: str | None = None
    tolerances: Mapping[str, float] = field(default_factory=dict)  # baselines only

    def scored(self, task: str) -> dict[str, Any] | None:
        """The task's entry when it has metrics (not a submission-only entry)."""
        entry = self.tasks.get(task)
        return entry if entry is not None and "submission" not in entry else None

    def value(self, task: str, metric: str) -> float | None:
        """A metric's value, or None when the task, the metric or a finite value is absent."""
        entry = self.scored(task)
        if entry is None:
            return None
        found = entry["metrics"].get(metric)
        return float(found) if is_number(found) and math.isfinite(found) else None


def is_number(value: Any) -> bool:
    """A JSON number (bool excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def variant_text(entry: Mapping[str, Any]) -> str:
    """The scoring variant as ``k=v, …`` without options left at 'none'."""
    return ", ".join(f"{k}={v}" for k, v in sorted(entry.get("variant", {}).items())
                     if v != "none")


def _check_entry(path: Path, task: Any, entry: Any) -> None:
    where = f"{path}: task {task!r}"
    if not isinstance(task, str) or not isinstance(entry, dict):
        raise BadInputError(f"{where}: expected a task name and an object")
    if "submission" in entry:
        return
    if not isinstance(entry.get("primary_metric"), str):
        raise BadInputError(f"{where}: no 'primary_metric' (is this {WHAT}?)")
    metrics = entry.get("metrics")
    if not isinstance(metrics, dict) or not all(
            v is None or is_number(v) for v in metrics.values()):
        raise BadInputError(f"{where}: 'metrics' must map metric names to numbers")
    rows = entry.get("per_sample", [])
    if not isinstance(rows, list) or not all(
            isinstance(r, dict) and "id" in r and is_number(r.get("score")) for r in rows):
        raise BadInputError(f"{where}: 'per_sample' must be a list of {{id, score, …}}")


def _tolerances(path: Path, raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and "." in k and is_number(v) and v >= 0 for k, v in raw.items()):
        raise BadInputError(f"{path}: 'tolerances' must map 'task.metric' to points >= 0")
    return {k: float(v) for k, v in raw.items()}


def load_run(path: Path) -> RunResult:
    """Read one results source; every malformed input is a BadInputError naming the file."""
    file = path / "metrics.json" if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise BadInputError(f"{path}: not a run directory (no metrics.json); expected {WHAT}")
    data = read_json(file, "results file")
    if not isinstance(data, dict):
        raise BadInputError(f"{file}: expected a JSON object: {WHAT}")
    stem = (path.name if path.is_dir() else
            file.name.removesuffix(".json").removesuffix(".metrics"))
    if isinstance(data.get("tasks"), dict):
        tasks = data["tasks"]
        model = data.get("model") if isinstance(data.get("model"), str) else None
        run_id = data.get("run_id") if isinstance(data.get("run_id"), str) else None
        tolerances = _tolerances(file, data.get("tolerances", {}))
        if data.get("format") == BASELINE_FORMAT:
            label = f"baseline {model or stem}"
        else:
            label = model or run_id or stem
    elif isinstance(data.get("task"), str):
        tasks, model, run_id, tolerances = {data["task"]: data}, None, None, {}
        label = stem
    else:
        raise BadInputError(f"{file}: neither 'tasks' nor 'task' found; expected {WHAT}")
    for task, entry in tasks.items():
        _check_entry(file, task, entry)
    return RunResult(label, path, model, tasks, run_id, tolerances)


def unique_labels(labels: Sequence[str], extra: Iterable[str] = ()) -> list[str]:
    """Labels made unique by numbering repeats (``name #2``); ``extra`` labels are taken."""
    taken = set(extra)
    out: list[str] = []
    for label in labels:
        name, count = label, 1
        while name in taken:
            count += 1
            name = f"{label} #{count}"
        taken.add(name)
        out.append(name)
    return out


def load_runs(paths: Sequence[Path]) -> list[RunResult]:
    """Several sources; runs that share a model name are told apart by their run id."""
    runs = [load_run(p) for p in paths]
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
    named = [f"{r.label} ({r.run_id or r.path.name})" if counts[r.label] > 1 else r.label
             for r in runs]
    return [RunResult(label, r.path, r.model, r.tasks, r.run_id, r.tolerances)
            for r, label in zip(runs, unique_labels(named), strict=True)]
