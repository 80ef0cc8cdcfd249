"""Results read back for reports, diffs and gates: run directories, their metrics.json, the
metrics JSON that ``score`` writes, and baseline files (a metrics.json subset, see
results/baselines/README.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError, shown
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
    untracked: tuple[str, ...] = ()  # baselines only: TASK.METRIC names left out
    created: str | None = None  # run.json's (a baseline's) date
    config: Mapping[str, Any] = field(default_factory=dict)  # run.json's config

    def scored(self, task: str) -> dict[str, Any] | None:
        """The task's entry when it has metrics (not a submission-only entry)."""
        entry = self.tasks.get(task)
        return entry if entry is not None and "submission" not in entry else None

    def value(self, task: str, metric: str) -> float | None:
        """A metric's value, or None when the task, the metric or a finite value is absent."""
        entry = self.scored(task)
        if entry is None:
            return None
        return finite(entry["metrics"].get(metric))


def is_number(value: Any) -> bool:
    """A JSON number (bool excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def brief(text: str, limit: int = 80) -> str:
    """A name from a file (task, metric, variant) cut for a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, NaN, infinite, or an integer too
    large for a float: JSON allows 400-digit integers)."""
    if not is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


#: no metric, interval or per-sample score of this harness comes near this (MME's total is
#: at most 2,800, CIDEr a few hundred): larger values are damage, and charts cannot draw them
LIMIT = 1e9


def plausible(value: Any) -> bool:
    """A finite number within ±LIMIT."""
    number = finite(value)
    return number is not None and -LIMIT <= number <= LIMIT


def variant_text(entry: Mapping[str, Any]) -> str:
    """The scoring variant as ``k=v, …`` without options left at 'none'."""
    return ", ".join(f"{k}={v}" for k, v in sorted(entry.get("variant", {}).items())
                     if v != "none")


_COUNTS = ("n_samples", "n_scored", "n_missing", "parse_failures")
_SCALAR = (str, int, float, bool, type(None))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 53


_ID_LIMIT = 1 << 128


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)
                                       and -_ID_LIMIT < value < _ID_LIMIT))


def _check_counts(where: str, entry: dict[str, Any]) -> None:
    for key in _COUNTS:
        if key in entry and not _is_count(entry[key]):
            raise BadInputError(f"{where}: {key!r} must be a count (an integer >= 0), got "
                                f"{shown(entry[key])}")
    if "partial" in entry and not isinstance(entry["partial"], bool):
        raise BadInputError(f"{where}: 'partial' must be true or false, got "
                            f"{shown(entry['partial'])}")
    if entry.get("n_scored", 0) > entry.get("n_samples", entry.get("n_scored", 0)):
        raise BadInputError(f"{where}: n_scored ({entry['n_scored']}) is larger than "
                            f"n_samples ({entry['n_samples']})")
    variant = entry.get("variant", {})
    if not isinstance(variant, dict) or not all(isinstance(v, _SCALAR)
                                                for v in variant.values()):
        raise BadInputError(f"{where}: 'variant' must map option names to values, got "
                            f"{shown(variant)}")


def _check_extras(where: str, entry: dict[str, Any]) -> None:
    """The fields a report reads besides the metrics: intervals and breakdowns."""
    ci = entry.get("ci95", {})
    if not isinstance(ci, dict) or not all(
            v is None or (isinstance(v, list) and len(v) == 2
                          and all(plausible(x) for x in v)) for v in ci.values()):
        raise BadInputError(f"{where}: 'ci95' must map metric names to [low, high] (numbers "
                            f"within ±{LIMIT:g}) or null, got {shown(ci)}")
    breakdown = entry.get("breakdown", {})
    if not isinstance(breakdown, dict):
        raise BadInputError(f"{where}: 'breakdown' must be an object, got {shown(breakdown)}")
    subtasks = breakdown.get("subtasks", {})
    if not isinstance(subtasks, dict) or not all(
            isinstance(v, dict) and ("score" not in v or plausible(v["score"]))
            for v in subtasks.values()):
        raise BadInputError(f"{where}: 'breakdown.subtasks' must map subtask names to "
                            f"objects with a numeric 'score' (within ±{LIMIT:g})")
    category = breakdown.get("category", {})
    if not isinstance(category, dict) or not all(
            v is None or plausible(v) for v in category.values()):
        raise BadInputError(f"{where}: 'breakdown.category' must map categories to numbers "
                            f"(within ±{LIMIT:g}) or null")


def _good_row(row: Any) -> bool:
    """{id, score[, group, prediction]}: an int or str id (and group), a finite score, a
    string or null prediction (a fast path for the common float score and int/str id)."""
    if type(row) is not dict:
        return False
    score, ident = row.get("score"), row.get("id")
    if not (type(score) is float and -LIMIT <= score <= LIMIT) and not plausible(score):
        return False
    if not (type(ident) is str or (type(ident) is int and -_ID_LIMIT < ident < _ID_LIMIT)):
        return False
    if len(row) == 2 or (len(row) == 3 and "prediction" in row
                         and (type(row["prediction"]) is str or row["prediction"] is None)):
        return True
    return ("group" not in row or _is_id(row["group"])) and (
        "prediction" not in row or row["prediction"] is None
        or isinstance(row["prediction"], str))


def _check_rows(where: str, entry: dict[str, Any]) -> None:
    """per_sample: {id, score[, group, prediction]} rows, one per scored sample, unique ids
    (a list cut short or with repeated ids would pair the wrong samples in diff and gate)."""
    rows = entry.get("per_sample", [])
    if not isinstance(rows, list):
        raise BadInputError(f"{where}: 'per_sample' must be a list of {{id, score, …}}")
    for index, row in enumerate(rows):
        if not _good_row(row):
            raise BadInputError(
                f"{where}: 'per_sample' must be a list of {{id, score, …}} with an integer "
                f"or string id and a finite score (within ±{LIMIT:g}); row {index + 1} is "
                f"{shown(row)}")
    keys = [str(row["id"]) for row in rows]
    if len(set(keys)) != len(keys):
        seen: dict[str, int] = {}
        for index, key in enumerate(keys):
            if key in seen:
                raise BadInputError(
                    f"{where}: per-sample id {shown(rows[index]['id'])} appears twice (rows "
                    f"{seen[key] + 1} and {index + 1}); a paired comparison needs one row per "
                    "sample: regenerate the file (`infmllm-eval score`, or `baseline` from the "
                    "run)")
            seen[key] = index
    scored = entry.get("n_scored")
    if rows and scored is not None and len(rows) != scored:
        raise BadInputError(
            f"{where}: 'per_sample' has {len(rows)} rows but n_scored is {scored} (cut short "
            "or padded?); regenerate the file (`infmllm-eval score`, or `baseline` from the "
            "run)")


def _check_entry(path: Path, task: Any, entry: Any) -> None:
    where = f"{path}: task {shown(task)}"
    if not isinstance(task, str) or not isinstance(entry, dict):
        raise BadInputError(f"{where}: expected a task name and an object")
    _check_counts(where, entry)
    if "submission" in entry:
        if not isinstance(entry["submission"], str):
            raise BadInputError(f"{where}: 'submission' must be the submission file's path")
        return
    if not isinstance(entry.get("primary_metric"), str) or not entry["primary_metric"]:
        raise BadInputError(f"{where}: no 'primary_metric' (is this {WHAT}?)")
    if "family" in entry and not isinstance(entry["family"], str):
        raise BadInputError(f"{where}: 'family' must be a string")
    metrics = entry.get("metrics")
    if not isinstance(metrics, dict):
        raise BadInputError(f"{where}: 'metrics' must map metric names to numbers")
    for name, value in metrics.items():
        if value is not None and not plausible(value):
            raise BadInputError(f"{where}: 'metrics' must map metric names to finite "
                                f"numbers (within ±{LIMIT:g}) or null; {shown(name)} is "
                                f"{shown(value)}")
    _check_extras(where, entry)
    _check_rows(where, entry)


def _tolerances(path: Path, raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and "." in k and finite(v) is not None and v >= 0
            for k, v in raw.items()):
        raise BadInputError(f"{path}: 'tolerances' must map 'task.metric' to points >= 0")
    return {k: float(v) for k, v in raw.items()}


def _untracked(path: Path, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(k, str) and "." in k for k in raw):
        raise BadInputError(f"{path}: 'untracked' must list 'task.metric' names")
    return tuple(raw)


def _read(path: Path) -> tuple[Path, Any]:
    """The results file of ``path`` and its JSON; only regular files are read (a FIFO or a
    device such as /dev/zero would block or never end)."""
    file = path / "metrics.json" if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise BadInputError(f"{path}: not a run directory (no metrics.json); expected {WHAT}")
    if file.exists() and not file.is_file():
        raise BadInputError(f"{file}: not a regular file; expected {WHAT}")
    return file, read_json(file, "results file")


def _run_json(file: Path) -> dict[str, Any]:
    """The run.json next to a run's metrics.json, or {}: it only adds provenance to a
    report, so one that is absent, damaged or not a regular file is left out."""
    found = file.parent / "run.json"
    if file.name != "metrics.json" or not found.is_file():
        return {}
    try:
        data = read_json(found, "run.json")
    except BadInputError:
        return {}
    return data if isinstance(data, dict) else {}


def load_run(path: Path) -> RunResult:
    """Read one results source; every malformed input is a BadInputError naming the file."""
    file, data = _read(path)
    if not isinstance(data, dict):
        raise BadInputError(f"{file}: expected a JSON object: {WHAT}")
    stem = (path.name if path.is_dir() else
            file.name.removesuffix(".json").removesuffix(".metrics"))
    if data.get("format") == BASELINE_FORMAT and data.get("version", 1) != 1:
        raise BadInputError(f"{file}: baseline version {shown(data.get('version'))} is not "
                            "supported (this infmllm-eval reads version 1); remake it with "
                            "`infmllm-eval baseline`")
    if "tasks" in data and not isinstance(data["tasks"], dict):
        raise BadInputError(f"{file}: 'tasks' must map task names to results, got "
                            f"{shown(data['tasks'])}")
    if isinstance(data.get("tasks"), dict):
        tasks = data["tasks"]
        model = data.get("model") if isinstance(data.get("model"), str) else None
        run_id = data.get("run_id") if isinstance(data.get("run_id"), str) else None
        tolerances = _tolerances(file, data.get("tolerances", {}))
        untracked = _untracked(file, data.get("untracked", []))
        if data.get("format") == BASELINE_FORMAT:
            label = f"baseline {model or stem}"
        else:
            label = model or run_id or stem
    elif isinstance(data.get("task"), str):
        tasks, model, run_id, tolerances = {data["task"]: data}, None, None, {}
        untracked = ()
        label = stem
    else:
        raise BadInputError(f"{file}: neither 'tasks' nor 'task' found; expected {WHAT}")
    for task, entry in tasks.items():
        _check_entry(file, task, entry)
    info = _run_json(file)
    created = info.get("created", data.get("created"))
    config = info.get("config")
    return RunResult(label, path, model, tasks, run_id, tolerances, untracked,
                     created if isinstance(created, str) else None,
                     config if isinstance(config, dict) else {})


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
    return [replace(r, label=label) for r, label in zip(runs, unique_labels(named), strict=True)]
