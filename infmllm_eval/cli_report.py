"""The ``report``, ``diff``, ``gate`` and ``baseline`` commands (added to the CLI by
:func:`register`): thin wrappers around :mod:`infmllm_eval.report`."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from infmllm_eval.errors import EXIT_GATE_FAILED, BadInputError
from infmllm_eval.ui import err, out

if TYPE_CHECKING:
    from infmllm_eval.report.diff import TaskDiff
    from infmllm_eval.report.gate import GateResult
    from infmllm_eval.report.reference import ReferenceFile
    from infmllm_eval.report.runs import RunResult

RESULTS_HELP = ("a run directory, its metrics.json, a metrics JSON written by `score`, or a "
                "baseline JSON")
Tolerances = Annotated[list[str] | None, typer.Option(
    "--metric", metavar="TASK.METRIC=POINTS",
    help="Track this metric with this tolerance in points (overrides the baseline's and "
    "--max-drop), e.g. mme.perception=20; repeatable.")]

Untrack = Annotated[list[str] | None, typer.Option(
    "--untrack", metavar="TASK[.METRIC]",
    help="Leave out a tracked task (all its metrics) or one metric, e.g. mme or "
    "mme.cognition; repeatable. A name that tracks nothing is an error.")]


class ReportFormat(str, Enum):
    """Output formats of `report`."""

    md = "md"
    csv = "csv"
    latex = "latex"
    html = "html"


def _results_file(path: Path) -> Path:
    from infmllm_eval.outputs import usable_paths

    usable_paths(("results", path))  # a name too long for the OS: one line, not a traceback
    return path / "metrics.json" if path.is_dir() else path


def _check_output(output: Path | None, option: str, inputs: list[tuple[str, Path]]) -> None:
    """Refuse an output path that is one of the files the command reads, or any file of a
    run directory read (its journal, run.json, summary.md: the user's run, not only the
    metrics.json read here)."""
    if output is None:
        return
    from infmllm_eval.outputs import refuse_overwrite, usable_paths

    usable_paths((option, output))
    runs = [("the run directory", path.parent) for _, path in inputs
            if path.name == "metrics.json" and (path.parent / "run.json").is_file()]
    refuse_overwrite(output, option, inputs + runs, f"choose another {option}")


def _reference_inputs(names: list[str]) -> list[tuple[str, Path]]:
    from infmllm_eval.outputs import usable_paths
    from infmllm_eval.report.reference import reference_dir

    found = []
    for name in names:
        path = Path(name)
        usable_paths(("--reference", path))
        if not (path.suffix == ".json" or path.exists()):
            path = reference_dir() / f"{name}.json"
        found.append(("the --reference file", path))
    return found


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from infmllm_eval.jsonio import write_atomic

    write_atomic(output, text)
    err.print(f"wrote {escape(str(output))}")


def _same_file(a: Path, b: Path) -> bool:
    def norm(p: Path) -> Path:
        return (p / "metrics.json" if p.is_dir() else p).resolve()

    return norm(a) == norm(b)


def _resolve_baseline(spec: str, runs: list[RunResult], refs: list[ReferenceFile],
                      ) -> tuple[str, list[RunResult]]:
    """The baseline row's label, adding the baseline run as a row when it is not one."""
    from infmllm_eval.report.runs import load_run, unique_labels

    path = Path(spec)
    if path.exists():
        for run in runs:
            if _same_file(run.path, path):
                return run.label, runs
        extra = load_run(path)
        label = unique_labels([f"{extra.label} (baseline)"], [r.label for r in runs])[0]
        return label, [*runs, replace(extra, label=label)]
    labels = [m.label for ref in refs for m in ref.models] + [r.label for r in runs]
    if spec in labels:
        return spec, runs
    raise BadInputError(f"--baseline {spec}: neither an existing results path nor a row "
                        f"label (rows: {', '.join(labels)})")


def report(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUN", help=f"Results, one row each in this order: {RESULTS_HELP}.",
        show_default=False)],
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--format", "-f", help="Output format \\[default: from the --output suffix "
        "(.md .csv .tex .html), else md].", show_default=False)] = None,
    reference: Annotated[list[str] | None, typer.Option(
        "--reference", metavar="NAME|FILE", help="Published numbers as extra rows: a name "
        "under results/reference (infmllm-paper) or a JSON file; repeatable.")] = None,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", metavar="RUN|ROW", help="Show each value's difference to this run "
        "(one of RUN… or another) or to a row by its label, e.g. 'InfMLLM-7B (paper)'.")]
    = None,
    ci: Annotated[bool, typer.Option(
        "--ci/--no-ci", help="Show the bootstrap 95% interval of each primary metric.")]
    = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write \\[default: standard output].",
        show_default=False)] = None,
    title: Annotated[str, typer.Option("--title", help="Title of the HTML page.")]
    = "infmllm-eval report",
) -> None:
    """One leaderboard table of runs (and published numbers): columns grouped by family,
    best value per column in bold (the lowest where the family declares lower is better,
    none where it declares no direction), variants and caveats as footnotes."""
    from infmllm_eval.report.reference import load_reference
    from infmllm_eval.report.render import format_for, render_report
    from infmllm_eval.report.runs import load_runs

    inputs = [("the results file", _results_file(r)) for r in runs]
    if baseline is not None and Path(baseline).exists():
        inputs.append(("the --baseline results file", _results_file(Path(baseline))))
    _check_output(output, "--output", inputs + _reference_inputs(reference or []))
    results = load_runs(runs)
    refs = [load_reference(name) for name in reference or []]
    label = None
    if baseline is not None:
        label, results = _resolve_baseline(baseline, results, refs)
    kind = format_for(fmt.value if fmt is not None else None, output)
    _write(render_report(results, kind, refs, label, ci, title), output)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _diff_table(diffs: list[TaskDiff]) -> object:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    table = Table(title="B − A per task (paired over the common samples)", box=SIMPLE_HEAD)
    table.add_column("task / metric", overflow="fold")
    for col in ("A", "B", "Δ [95% CI]", "p", "fixed / broken"):
        table.add_column(col, justify="right")
    for d in diffs:
        p = d.paired
        delta = p.delta if p is not None else (
            d.value_b - d.value_a if d.value_a is not None and d.value_b is not None else None)
        interval = f" [{p.ci95[0]:+.1f}, {p.ci95[1]:+.1f}]" if p and p.ci95 else ""
        table.add_row(f"{escape(d.task)}\n[dim]{escape(d.metric)}[/]", _num(d.value_a),
                      _num(d.value_b), ("–" if delta is None else f"{delta:+.2f}") + interval,
                      f"{p.p_value:.4f}" if p and p.p_value is not None else "–",
                      f"{len(d.fixed)} / {len(d.broken)}")
    return table


def _show_changes(d: TaskDiff, show: int) -> None:
    for name, items in (("fixed", d.fixed), ("broken", d.broken)):
        if not items or show == 0:
            continue
        out.print(f"[bold]{escape(d.task)}[/]: {name} ({min(show, len(items))} of {len(items)})")
        for c in items[:show]:
            out.print(f"  {escape(c.id)}: {c.score_a:g} → {c.score_b:g}  "
                      f"{escape(repr(c.prediction_a))} → {escape(repr(c.prediction_b))}",
                      soft_wrap=True)


def diff(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help=f"The reference side: "
                                          f"{RESULTS_HELP}.", show_default=False)],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="The side compared with "
                                          "RUN_A.", show_default=False)],
    task: Annotated[str | None, typer.Option(
        "--task", help="Only this task \\[default: every task both have].")] = None,
    show: Annotated[int, typer.Option(
        "--show", min=0, help="Changed samples listed per task and direction.")] = 10,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write everything (all changed samples) as JSON here.")] = None,
) -> None:
    """Per-sample changes between two runs (fixed / broken) and a paired bootstrap
    interval and p-value for the difference of each primary metric."""
    from infmllm_eval.report.diff import diff_runs
    from infmllm_eval.report.runs import load_run

    _check_output(output, "--output", [("the results file RUN_A", _results_file(run_a)),
                                       ("the results file RUN_B", _results_file(run_b))])
    diffs = diff_runs(load_run(run_a), load_run(run_b), task)
    out.print(_diff_table(diffs))
    for d in diffs:
        for note in d.notes:
            err.print(f"[yellow]note:[/] {escape(d.task)}: {escape(note)}")
        _show_changes(d, show)
    if output is not None:
        payload = {"a": str(run_a), "b": str(run_b), "tasks": [d.as_dict() for d in diffs]}
        _write(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", output)


def _gate_table(result: GateResult) -> object:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    table = Table(title=f"Gate: {escape(result.run)} vs {escape(result.baseline)}",
                  box=SIMPLE_HEAD)
    table.add_column("check", no_wrap=True)
    for col in ("baseline", "run", "Δ", "tol.", "p"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("verdict")
    for c in result.checks:
        verdict = "[red]FAIL[/]" if c.failed else "[green]pass[/]"
        table.add_row(escape(c.name), f"{c.baseline:.2f}", f"{c.current:.2f}",
                      f"{c.delta:+.2f}", f"{c.tolerance:.2f}",
                      "–" if c.p_value is None else f"{c.p_value:.4f}",
                      f"{verdict}: {escape(c.reason)}")
    return table


def gate(
    run: Annotated[Path, typer.Argument(metavar="RUN", help=f"The run to check: "
                                        f"{RESULTS_HELP}.", show_default=False)],
    baseline: Annotated[Path, typer.Option(
        "--baseline", metavar="FILE|RUN", help="Baseline JSON (results/baselines/, made by "
        "`baseline`) or any results a RUN can be.", show_default=False)],
    max_drop: Annotated[float, typer.Option(
        "--max-drop", metavar="POINTS", min=0.0, help="Tolerated worsening of a tracked "
        "metric, in its own points, where neither --metric nor the baseline sets one: a "
        "drop, a rise where its family declares lower is better, a move either way where "
        "it declares no direction.")] = 1.0,
    metric: Tolerances = None,
    significance: Annotated[float | None, typer.Option(
        "--significance", metavar="ALPHA", min=0.0, max=1.0, help="Also fail a worsening "
        "of a primary metric (a drop; a rise where lower is better) whose paired bootstrap "
        "p-value is below ALPHA, even within tolerance.")] = None,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE", help="Write the checks as JUnit XML for CI.")] = None,
    untrack: Untrack = None,
) -> None:
    """Exit 1 when a tracked metric of RUN worsens beyond its tolerance against the baseline
    (or significantly, with --significance); prints every check. Exit 2 on bad input.
    Worse is what the metric's family declares: a drop; a rise where lower is better; a
    move either way where it has no direction; a metric no installed family declares is
    refused (exit 2)."""
    from infmllm_eval.report.gate import parse_tolerances, run_gate
    from infmllm_eval.report.junit import junit_xml
    from infmllm_eval.report.runs import load_run

    _check_output(junit, "--junit", [("the --baseline file", _results_file(baseline)),
                                     ("the results file RUN", _results_file(run))])
    result = run_gate(load_run(baseline), load_run(run), max_drop,
                      parse_tolerances(metric or []), significance, untrack or [])
    out.print(_gate_table(result))
    if junit is not None:
        from infmllm_eval.jsonio import write_atomic

        write_atomic(junit, junit_xml(result).decode("utf-8"))
        err.print(f"wrote {escape(str(junit))}")
    failed = sum(c.failed for c in result.checks)
    if failed:
        err.print(f"[red]gate failed:[/] {failed} of {len(result.checks)} checks")
        raise typer.Exit(EXIT_GATE_FAILED)
    out.print(f"gate passed: {len(result.checks)} checks")


def baseline(
    run: Annotated[Path, typer.Argument(metavar="RUN", help=f"The run to freeze: "
                                        f"{RESULTS_HELP}.", show_default=False)],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Baseline JSON to write, e.g. results/baselines/NAME.json.",
        show_default=False)],
    metric: Tolerances = None,
    per_sample: Annotated[bool, typer.Option(
        "--per-sample/--no-per-sample", help="Keep per-sample scores (needed by gate "
        "--significance; larger file).")] = True,
    untrack: Untrack = None,
) -> None:
    """Write a baseline file for `gate` from a run: metrics, variants, counts, per-sample
    scores and tolerances (format: results/baselines/README.md)."""
    from infmllm_eval.jsonio import write_json
    from infmllm_eval.report.gate import baseline_document, parse_tolerances
    from infmllm_eval.report.runs import load_run

    _check_output(output, "--output", [("the results file RUN", _results_file(run))])
    document = baseline_document(load_run(run), parse_tolerances(metric or []), per_sample,
                                 untrack or [])
    write_json(output, document)
    err.print(f"wrote {escape(str(output))}: {len(document['tasks'])} task(s)")


def register(app: typer.Typer) -> None:
    """Add report, diff, gate and baseline to ``app``."""
    app.command("report")(report)
    app.command("diff")(diff)
    app.command("gate")(gate)
    app.command("baseline")(baseline)
