"""Regression gate: a run's tracked metrics against a baseline, with tolerances in points and
an optional significance rule; and the baseline file written from a run.

Tracked: every scored task's primary metric in the baseline, the metrics the baseline's
``tolerances`` name, and those given with ``--metric``. Tolerance of a metric: ``--metric``,
else the baseline's ``tolerances``, else ``--max-drop``.

Which way a metric is better is what its family declares (``MetricSpec.better``, read from
the baseline entry's family and variant), and the verdict names the rule it applied:

- higher is better: fails when the metric drops by more than its tolerance, or (with
  ``alpha``) when a drop of the primary metric is significant by the paired bootstrap
  (p < alpha) even within tolerance;
- lower is better (an error rate): the same with a rise; the verdict ends "(lower is
  better)";
- no direction (a yes-ratio, a count): a drift check, failing when the metric moves by more
  than its tolerance either way; no significance test (a significant move is no regression);
- not declared (a plug-in family not installed here, a metric its family does not declare,
  results without a family): higher is taken as better, and the verdict says so and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.report.declared import HIGHER, LOWER, NO_DIRECTION, Declared, declared
from infmllm_eval.report.runs import BASELINE_FORMAT, RunResult, brief, variant_text
from infmllm_eval.report.stats import paired_bootstrap, primary_units
from infmllm_eval.report.untrack import untrack

DEFAULT_MAX_DROP = 1.0
COMPARED = ("n_samples", "n_scored", "partial")


@dataclass(frozen=True)
class Check:
    """One tracked metric: values, tolerance, paired p-value (when tested), verdict, and
    the direction judged by (higher, lower or none)."""

    name: str
    baseline: float
    current: float
    tolerance: float
    p_value: float | None
    failed: bool
    reason: str
    better: str = HIGHER

    @property
    def delta(self) -> float:
        """Run minus baseline, in the metric's points."""
        return self.current - self.baseline


@dataclass(frozen=True)
class GateResult:
    """Every check of one gate."""

    baseline: str
    run: str
    alpha: float | None
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(c.failed for c in self.checks)


def split_name(name: str) -> tuple[str, str]:
    """``task.metric`` -> (task, metric); metric names may hold dots (acc@0.5)."""
    task, dot, metric = name.partition(".")
    if not dot or not task or not metric:
        raise BadInputError(f"{shown(name)}: expected TASK.METRIC, e.g. vqav2_val.accuracy")
    return task, metric


def parse_tolerances(pairs: Sequence[str]) -> dict[str, float]:
    """``task.metric=POINTS`` options -> {name: points}."""
    out: dict[str, float] = {}
    for pair in pairs:
        name, eq, points = pair.rpartition("=")
        try:
            value = float(points)
        except ValueError:
            value = -1.0
        if not eq or value < 0 or value != value:
            raise BadInputError(f"--metric {pair}: expected TASK.METRIC=POINTS with POINTS >= 0")
        split_name(name)
        out[name] = value
    return out


def tracked(baseline: RunResult, extra: Mapping[str, float]) -> list[str]:
    """The metrics a gate checks, in baseline order."""
    for task in baseline.tasks:
        if "." in task or not task:
            raise BadInputError(f"{baseline.path}: task name {shown(task)} cannot be tracked "
                                "(TASK.METRIC names need a task name without '.')")
    names = [f"{t}.{e['primary_metric']}" for t, e in baseline.tasks.items()
             if baseline.scored(t) is not None and f"{t}.{e['primary_metric']}"
             not in baseline.untracked]
    return list(dict.fromkeys([*names, *baseline.tolerances, *extra]))


def _check_comparable(task: str, base: dict[str, Any], run: dict[str, Any],
                      base_path: str, run_path: str) -> None:
    if "family" in base and "family" in run and base["family"] != run["family"]:
        raise BadInputError(
            f"{brief(task)}: scored by different families ({base_path}: "
            f"{brief(str(base['family']))}; {run_path}: {brief(str(run['family']))}); "
            "numbers are not comparable: remake the baseline with this task card")
    if base["primary_metric"] != run["primary_metric"]:
        raise BadInputError(
            f"{brief(task)}: a different primary metric ({base_path}: "
            f"{brief(base['primary_metric'])}; {run_path}: {brief(run['primary_metric'])}); "
            "numbers are not comparable: remake the baseline with this task card")
    if variant_text(base) != variant_text(run):
        raise BadInputError(
            f"{brief(task)}: scored with a different variant ({base_path}: "
            f"{brief(variant_text(base) or 'default')}; {run_path}: "
            f"{brief(variant_text(run) or 'default')});"
            " numbers are not comparable: rescore with the same --option values")
    for key in COMPARED:
        if base.get(key) != run.get(key):
            raise BadInputError(
                f"{brief(task)}: {key} differs ({base_path}: {base.get(key)}; {run_path}: "
                f"{run.get(key)}); gate runs over the same samples (same --limit, no partial)")


def _check_same_samples(task: str, base: dict[str, Any], run: dict[str, Any],
                        base_path: str, run_path: str) -> None:
    """Both per-sample lists (when both have one) hold the same sample ids: a paired test
    over the few rows they share would judge the whole run by them."""
    rows_base, rows_run = base.get("per_sample") or [], run.get("per_sample") or []
    if not rows_base or not rows_run:
        return
    ids_base = {str(r["id"]) for r in rows_base}
    ids_run = {str(r["id"]) for r in rows_run}
    if ids_base != ids_run:
        common = len(ids_base & ids_run)
        only = next(iter(sorted(ids_base - ids_run) or sorted(ids_run - ids_base)))
        raise BadInputError(
            f"{brief(task)}: the per-sample ids differ ({base_path}: {len(ids_base)}; {run_path}: "
            f"{len(ids_run)}; {common} in common; e.g. id {shown(only)} is in one only); gate "
            "compares runs over the same samples: score both on the same data")


def _p_value(task: str, base: dict[str, Any], run: dict[str, Any], base_path: str,
             run_path: str) -> float | None:
    units_base, units_run = primary_units(base), primary_units(run)
    for units, entry, path in ((units_base, base, base_path), (units_run, run, run_path)):
        if units is None and entry.get("per_sample") and (units_base or units_run):
            metric = entry["primary_metric"]
            raise BadInputError(
                f"{brief(task)}: the per-sample scores in {path} do not reproduce its "
                f"{brief(metric)} ({entry['metrics'].get(metric)}) while the other side's do: "
                "the file was edited or cut; regenerate it")
    if units_base is None or units_run is None:
        return None
    if units_base.kind != units_run.kind:
        key = declared(base, base["primary_metric"]).unit_key or "group"
        raise BadInputError(
            f"{brief(task)}: {base_path} pairs by {units_base.kind} but {run_path} by "
            f"{units_run.kind} (per-sample rows with and without {key!r}); regenerate the "
            "baseline from a run of this version")
    paired = paired_bootstrap(units_base, units_run)
    return paired.p_value if paired is not None else None


def _verdict(before: float, after: float, tolerance: float, p: float | None,
             alpha: float | None, testable: bool, found: Declared) -> tuple[bool, str]:
    """Failed or not, and why, by the rule of the metric's direction."""
    if found.better == NO_DIRECTION:
        return _drift(after - before, tolerance, alpha is not None and testable)
    lower = found.better == LOWER
    word, rule = ("rise", " (lower is better)") if lower else ("drop", "")
    if found.assumed:
        rule = f" (higher taken as better: {found.assumed})"
    worse = after - before if lower else before - after
    if worse > tolerance + 1e-9:
        return True, f"{word} {worse:.2f} > tolerance {tolerance:.2f}{rule}"
    if alpha is not None and p is not None and worse > 0 and p < alpha:
        return True, f"significant {word}: p = {p:.4f} < {alpha:g}{rule}"
    reason = f"no {word}" if worse <= 0 else f"{word} {worse:.2f} within tolerance {tolerance:.2f}"
    if alpha is not None and testable and p is None:
        reason += " (no paired test: per-sample scores absent)"
    return False, reason + rule


def _drift(delta: float, tolerance: float, asked: bool) -> tuple[bool, str]:
    """A metric without a better direction fails when it moves too far either way."""
    rule = " (no better direction: a move either way counts)"
    if asked:
        rule += "; no significance test without a direction"
    moved = abs(delta)
    if moved > tolerance + 1e-9:
        return True, f"moved {delta:+.2f}, more than tolerance {tolerance:.2f}{rule}"
    if moved == 0:
        return False, f"unchanged{rule}"
    return False, f"moved {delta:+.2f}, within tolerance {tolerance:.2f}{rule}"


def _values(result: RunResult, names: Sequence[str]) -> tuple[dict[str, float], list[str]]:
    """The values found, and the names without one."""
    found = {n: result.value(*split_name(n)) for n in names}
    return ({n: v for n, v in found.items() if v is not None},
            [n for n, v in found.items() if v is None])


def run_gate(baseline: RunResult, run: RunResult, max_drop: float = DEFAULT_MAX_DROP,
             tolerances: Mapping[str, float] | None = None,
             alpha: float | None = None, untracked: Sequence[str] = ()) -> GateResult:
    """Check every tracked metric but the ``untracked`` ones (TASK or TASK.METRIC); bad or
    incomparable input is a BadInputError."""
    extra = dict(tolerances or {})
    names = tracked(baseline, extra)
    if not names:
        raise BadInputError(
            f"{baseline.path}: the baseline tracks no metric (no scored task"
            f"{': only submission entries' if baseline.tasks else ''}, no tolerances): a gate "
            "with 0 checks would always pass; make it with `infmllm-eval baseline RUN` from a "
            "run with scored tasks")
    names = untrack(names, untracked, f"the baseline {baseline.path}", list(extra))
    if not names:
        raise BadInputError("--untrack leaves no tracked metric: a gate with 0 checks would "
                            "always pass")
    before, absent = _values(baseline, names)
    if absent:
        raise BadInputError(f"{baseline.path}: the baseline has no value for "
                            f"{brief(', '.join(absent), 200)}")
    after, missing = _values(run, names)
    if missing:
        raise BadInputError(f"{run.path}: no result for {brief(', '.join(missing), 200)}, "
                            f"tracked by the baseline {baseline.path}; run the task(s) or "
                            "leave them out with --untrack TASK[.METRIC]")
    checks = []
    for name in names:
        task, metric = split_name(name)
        base_entry, run_entry = baseline.tasks[task], run.tasks[task]
        _check_comparable(task, base_entry, run_entry, str(baseline.path), str(run.path))
        _check_same_samples(task, base_entry, run_entry, str(baseline.path), str(run.path))
        tolerance = extra.get(name, baseline.tolerances.get(name, max_drop))
        testable = metric == base_entry["primary_metric"]
        found = declared(base_entry, metric)
        if found.assumed and base_entry.get("family"):  # a guess could pass a regression
            raise BadInputError(
                f"{brief(name)}: {found.assumed}, so the gate cannot tell whether a rise or a "
                "drop is worse; install the plug-in that declares it, or leave it out with "
                f"--untrack {brief(name)}")
        p = (_p_value(task, base_entry, run_entry, str(baseline.path), str(run.path))
             if alpha is not None and testable and found.better != NO_DIRECTION else None)
        failed, reason = _verdict(before[name], after[name], tolerance, p, alpha, testable,
                                  found)
        checks.append(Check(name, before[name], after[name], tolerance, p, failed, reason,
                            found.better))
    return GateResult(str(baseline.path), str(run.path), alpha, tuple(checks))


def _baseline_entry(entry: dict[str, Any], per_sample: bool) -> dict[str, Any]:
    keys = ("family", "primary_metric", "metrics", "variant", "n_samples", "n_scored",
            "n_missing", "partial", "ci95")
    out = {k: entry[k] for k in keys if k in entry}
    if per_sample and entry.get("per_sample"):
        out["per_sample"] = [{k: r[k] for k in ("id", "score", "group") if k in r}
                             for r in entry["per_sample"]]
    return out


def baseline_document(run: RunResult, tolerances: Mapping[str, float] | None = None,
                      per_sample: bool = True, untracked: Sequence[str] = (),
                      ) -> dict[str, Any]:
    """A baseline file's content: the run's scored tasks (metrics, variant, counts, and the
    per-sample scores a significance test needs) plus tolerances in points. ``untracked``
    (TASK or TASK.METRIC) leaves tracked metrics out: a task none of whose metrics is still
    tracked is left out, a primary metric of a task kept is listed under 'untracked'."""
    tasks = {t: _baseline_entry(e, per_sample) for t, e in run.tasks.items()
             if run.scored(t) is not None}
    if not tasks:
        raise BadInputError(f"{run.path}: no scored task to make a baseline from")
    for name in tolerances or {}:
        task, metric = split_name(name)
        if run.value(task, metric) is None:
            raise BadInputError(f"--metric {name}: {run.path} has no value for it")
    names = list(dict.fromkeys([*(f"{t}.{e['primary_metric']}" for t, e in tasks.items()),
                                *(tolerances or {})]))
    kept = untrack(names, untracked, f"the run {run.path}", list(tolerances or {}))
    if not kept:
        raise BadInputError("--untrack leaves no tracked metric: a baseline without one "
                            "cannot gate anything")
    left_out = [n for n in names if n not in kept]
    tasks = {t: e for t, e in tasks.items() if any(n.partition(".")[0] == t for n in kept)}
    document = {"format": BASELINE_FORMAT, "version": 1,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source": str(run.path), "run_id": run.run_id, "model": run.model,
                "tolerances": dict(tolerances or {}), "tasks": tasks}
    if any(n.partition(".")[0] in tasks for n in left_out):
        document["untracked"] = [n for n in left_out if n.partition(".")[0] in tasks]
    return document
