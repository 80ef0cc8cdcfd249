"""The ``infmllm-eval`` command line: thin wrappers that parse, call the library and print."""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from infmllm_eval import __version__
from infmllm_eval.cli_lmms import register as register_import_commands
from infmllm_eval.cli_report import register as register_report_commands
from infmllm_eval.cli_weights import register as register_weights_commands
from infmllm_eval.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    BadInputError,
    InfmllmEvalError,
    one_line,
)
from infmllm_eval.ui import err, metrics_table, out, print_json, print_rows

EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as the shell reports a command whose pipe closed

app = typer.Typer(
    help="Evaluate InfMLLM and similar multimodal LLMs on standard vision-language benchmarks.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
list_app = typer.Typer(help="List the registered tasks, models or plug-ins.", no_args_is_help=True)
data_app = typer.Typer(help="Inspect benchmark data on disk.", no_args_is_help=True)
app.add_typer(list_app, name="list")
app.add_typer(data_app, name="data")
register_report_commands(app)
register_import_commands(app)
register_weights_commands(app)

Threads = Annotated[int | None, typer.Option(
    "--threads", min=1, show_default=False, help="CPU threads of the model (torch) \\[default: "
    "$OMP_NUM_THREADS, else the usable CPUs the load average leaves free, 1 to 4]; recorded "
    "in run.json, does not change "
    "the answers (a resumed run may use another count).")]
DataRoot = Annotated[Path | None, typer.Option(
    "--data-root", metavar="DIR", help="Folder holding the benchmark files named in the task "
    "cards \\[default: $INFMLLM_EVAL_DATA or ./data].", show_default=False)]
Files = Annotated[list[str] | None, typer.Option(
    "--file", metavar="KEY=PATH",
    help="Use PATH for a card's file KEY instead of DATA_ROOT/<card path>: KEY=PATH, "
    "or TASK.KEY=PATH with several tasks (keys: `list tasks --details`).")]
Options = Annotated[list[str] | None, typer.Option(
    "--option", metavar="KEY=VALUE",
    help="Scoring option key=value, e.g. normalization=official-current "
    "(per family: `list tasks --details`).")]
Json = Annotated[bool, typer.Option(
    "--json", help="Print JSON (a list of objects with stable keys) instead of a table. "
    "Without it, a pipe or a file gets tab-separated rows.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"infmllm-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of errors.")]
    = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Evaluate InfMLLM and similar multimodal LLMs; scores agree with the official scorers."""


def _root_dir(data_root: Path | None) -> Path:
    from infmllm_eval.taskspec import default_data_root

    return data_root if data_root is not None else default_data_root()


@list_app.command("tasks")
def list_tasks(
    details: Annotated[bool, typer.Option("--details", help="Also show each task's files, "
                                          "groups and scoring options.")] = False,
    data_root: DataRoot = None,
    as_json: Json = False,
) -> None:
    """Table of tasks: family, split, size, primary metric and whether its data is found."""
    from infmllm_eval.listing import task_records, task_rows

    if as_json:
        print_json(task_records(_root_dir(data_root)))
    else:
        print_rows("Tasks", task_rows(_root_dir(data_root), details), vertical=details)


@list_app.command("models")
def list_models(as_json: Json = False) -> None:
    """Table of model cards: adapter, prompt style and description."""
    from infmllm_eval.listing import model_records, model_rows

    print_json(model_records()) if as_json else print_rows("Models", model_rows())


@list_app.command("plugins")
def list_plugins(as_json: Json = False) -> None:
    """Every task family, loader, model adapter, prompt style, post-processor and judge, and
    where it comes from (built in, or an installed package's entry point)."""
    from infmllm_eval.listing import plugin_rows

    print_json(plugin_rows()) if as_json else print_rows("Plug-ins", plugin_rows())


@data_app.command("check")
def data_check(
    data_root: DataRoot = None,
    tasks: Annotated[list[str] | None, typer.Option(
        "--tasks", help="Tasks or groups, comma-separated \\[default: all].")] = None,
    files: Files = None,
    images: Annotated[bool, typer.Option(
        "--images/--no-images", help="Also check that every sample's image exists.")] = True,
    as_json: Json = False,
) -> None:
    """Per task: which files are found or missing (with the expected path), the sample
    count against the card's expected size and, when incomplete, where to get the data (the
    card's source). Exits 2 when something is missing."""
    from infmllm_eval.listing import check_data

    rows, records, ok = check_data(_root_dir(data_root), tasks or [], files or [], images)
    print_json(records) if as_json else print_rows("Data check", rows)
    if not ok:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def score(
    task: Annotated[str, typer.Option("--task", help="The task the predictions are for.")],
    predictions: Annotated[Path, typer.Option(
        "--predictions", help="JSONL ({\"id\", \"prediction\"} per line) or an official JSON "
        "result list ([{\"question_id\", \"answer\"}] ...).")],
    data_root: DataRoot = None,
    files: Files = None,
    options: Options = None,
    output: Annotated[Path | None, typer.Option(
        "--output", help="Metrics JSON to write \\[default: ./<predictions stem>.metrics.json "
        "in the current folder; ./<stem>.submission.json for test splits].")] = None,
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", help="Score only the ids that have a prediction and label the "
        "result partial (default: missing predictions count as wrong).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the metrics entry as JSON (\"wrote PATH\" goes to stderr).")]
    = False,
) -> None:
    """Score predictions produced anywhere, exactly like the official scorer."""
    from infmllm_eval.commands import score_file

    entry, path = score_file(task, predictions, _root_dir(data_root), files or [],
                             options or [], output, allow_partial)
    _warn_missing(task, entry, allow_partial)
    if as_json:
        print_json(entry)
        err.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
        return
    out.print(metrics_table({task: entry}))
    out.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)  # never wrapped


@app.command()
def run(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(
        "--model", help="Model card name (`list models`).")] = None,
    tasks: Annotated[list[str] | None, typer.Option(
        "--tasks", help="Tasks or groups, comma-separated, e.g. refcoco,vqav2.")] = None,
    data_root: DataRoot = None,
    batch_size: Annotated[str | None, typer.Option(
        "--batch-size", show_default=False, help="Requests per model call, or 'auto': start at "
        "64 and halve (keeping the batch) whenever the GPU runs out of memory \\[default: 8; "
        "with --resume: the run's].")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                                              help="Only the first N samples per task.")] = None,
    output_dir: Annotated[Path, typer.Option(
        "--output-dir", help="Folder that receives the run directory.")] = Path("results/runs"),
    run_name: Annotated[str | None, typer.Option(
        "--run-name", help="Run directory name \\[default: <model>-<hash of the configuration>, "
        "so rerunning the same command resumes it].")] = None,
    new_run: Annotated[bool, typer.Option(
        "--new-run", help="Start a fresh, timestamped run directory instead of resuming.")]
    = False,
    resume: Annotated[Path | None, typer.Option(
        "--resume", metavar="RUN_DIR", help="Resume RUN_DIR with the configuration in its "
        "run.json (finished samples are skipped).")] = None,
    on_image_error: Annotated[str | None, typer.Option(
        "--on-image-error", show_default=False, help="fail: stop at the first unreadable "
        "image, naming the sample; skip: record the sample as failed (scored wrong, listed in "
        "metrics.json) and go on \\[default: fail; with --resume: the run's].")] = None,
    options: Options = None,
    model_options: Annotated[list[str] | None, typer.Option(
        "--model-option", metavar="KEY=VALUE",
        help="Model setting key=value, e.g. answers=FILE for the scripted model.")] = None,
    files: Files = None,
    generation: Annotated[list[str] | None, typer.Option(
        "--generation", metavar="KEY=VALUE",
        help="Decoding override for every task, e.g. num_beams=1 or max_new_tokens=32 "
        "(defaults: the task card's original settings, then the model card's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling generator, for "
                                      "tasks that sample (--generation do_sample=true); "
                                      "recorded in run.json.")] = 0,
    threads: Threads = None,
) -> None:
    """Run a model on tasks: predictions are journaled as they arrive (a crash loses nothing:
    rerun the same command to resume), then scored."""
    from infmllm_eval.commands import resume_command, run_command

    if resume is not None:
        _refuse_with_resume(ctx)
        run_dir, metrics = resume_command(resume, batch_size, on_image_error, threads)
    elif model is None or not tasks:
        raise BadInputError("run needs --model and --tasks (or --resume RUN_DIR)")
    else:
        run_dir, metrics = run_command(
            model, tasks, _root_dir(data_root), batch_size or "8", limit, output_dir, run_name,
            options or [], model_options or [], files or [], seed, generation or [], new_run,
            on_image_error or "fail", threads=threads)
    if metrics.get("rank"):  # a rank other than 0 of a distributed run: rank 0 reports
        return
    for name, entry in metrics["tasks"].items():
        _warn_missing(name, entry, False)
    out.print(metrics_table(metrics["tasks"], title=f"Run {run_dir.name}"))
    out.print(f"run directory: {run_dir}", soft_wrap=True, markup=False, highlight=False)
    bundled = {n: e["data_source"] for n, e in metrics["tasks"].items() if "data_source" in e}
    for source in sorted(set(bundled.values())):
        names = ", ".join(n for n, s in bundled.items() if s == source)
        err.print(f"note: {escape(names)}: the data root holds none of their files; used "
                  f"{escape(source)}", highlight=False, soft_wrap=True)
    _exit_if_partial(run_dir, metrics)


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option(
        "--output-dir", help="Folder that receives the run directory.")] = Path("results/runs"),
    replay: Annotated[bool, typer.Option(
        "--replay", help="Replay the bundled saved answers on the mini VQAv2 / OK-VQA / "
        "TextVQA / GQA sets instead of running the toy model.")] = False,
    threads: Threads = None,
) -> None:
    """Run the embedded default: the shipped trained infmllm-tiny-toy on the five toy
    benchmarks (captioning, VQA, grounding, MME, MMBench; the bundled generated data) through
    the real run loop and scorers, then print the leaderboard."""
    from infmllm_eval.commands import demo_command
    from infmllm_eval.report.render import render_report
    from infmllm_eval.report.runs import load_run

    run_dir, metrics = demo_command(output_dir, replay, threads)
    what = "replayed answers" if replay else "infmllm-tiny-toy on the toy benchmarks"
    out.print(metrics_table(metrics["tasks"], title=f"Demo ({what})"))
    if not replay:
        out.print(render_report([load_run(run_dir)], "md"), markup=False, highlight=False,
                  soft_wrap=True)
    out.print(f"run directory: {run_dir}", soft_wrap=True, markup=False, highlight=False)
    _exit_if_partial(run_dir, metrics)


def _exit_if_partial(run_dir: Path, metrics: dict[str, Any]) -> None:
    """A run that left tasks unscored (e.g. no Java for captioning): why, then one line
    'run partial: …' and exit code 2."""
    skipped = metrics.get("not_scored") or {}
    if not skipped:
        return
    for name, entry in skipped.items():
        err.print(f"[yellow]not scored:[/] {escape(name)}: {escape(entry['reason'])}",
                  soft_wrap=True)
    total = len(skipped) + len(metrics["tasks"])
    err.print(f"run partial: {len(skipped)} of {total} tasks not scored "
              f"({escape(', '.join(skipped))}); their predictions are kept: fix the cause and "
              f"rerun with --resume {escape(str(run_dir))} to score them",
              highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


# what --resume may change: the settings that do not change a run's outputs
_RESUME_FREE = ("resume", "batch_size", "on_image_error", "threads")


def _refuse_with_resume(ctx: Any) -> None:
    """--resume takes the configuration from run.json: an option that would change it is an
    error (it was silently ignored: a run resumed with --limit 10 ran everything)."""
    given = [p for p in ctx.command.params if p.name not in _RESUME_FREE  # Typer's own click:
             and getattr(ctx.get_parameter_source(p.name), "name", "DEFAULT")  # names, not enums
             not in ("DEFAULT", "DEFAULT_MAP")]
    if given:
        flags = ", ".join(max(p.opts, key=len) for p in given)
        raise BadInputError(f"--resume takes the configuration from the run's run.json: {flags} "
                            "cannot be changed (only --batch-size and --on-image-error can); "
                            "drop them, or start a new run without --resume")


def _warn_missing(task: str, entry: dict[str, Any], partial: bool) -> None:
    missing = entry.get("n_missing", 0)
    if missing and "submission" not in entry:
        ids = ", ".join(str(i) for i in entry["missing_ids"][:10])
        more = " …" if missing > 10 else ""
        how = "were left out (partial)" if partial else "count as wrong"
        err.print(f"[yellow]warning:[/] {escape(task)}: {missing} of {entry['n_samples']} "
                  f"samples have no prediction and {how} (ids: {ids}{more}); all are listed "
                  "in the metrics JSON")


def main() -> None:
    """Console entry point: bad input ends with one line on stderr and exit code 2; Ctrl-C
    with a line saying what is kept and exit code 130; an unexpected exception (a bug) with
    its traceback and exit code 3."""
    debug = "--debug" in sys.argv
    # oversized images are refused with our own one-line error (data/images.py), so Pillow's
    # warning would only add a second line
    warnings.filterwarnings("ignore", message="Image size .* could be decompression bomb")
    interrupted: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        # Typer turns KeyboardInterrupt into a silent exit 130; SIGTERM (a scheduler's stop,
        # e.g. SLURM before its kill) ends the same way: the journal is intact, the lock
        # released, and a line says how to resume
        interrupted.append(signum)
        signal.default_int_handler(signum, frame)

    previous: dict[int, Any] = {}
    handlers: tuple[tuple[int, Any], ...] = (
        (signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL))
    for number, default in handlers:
        if signal.getsignal(number) is default:
            with contextlib.suppress(ValueError):  # not the main thread: keep Python's handler
                previous[number] = signal.signal(number, on_signal)
    try:
        code = app(standalone_mode=False, prog_name="infmllm-eval")
    except SystemExit as exc:
        # Typer exits 1 when the reader of stdout went away (`… | head`): 1 means "gate
        # failed" here; say what the shell says for a closed pipe instead
        if exc.code == 1 and type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
            sys.exit(EXIT_CLOSED_PIPE)
        raise
    except InfmllmEvalError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except _CLICK_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(EXIT_BAD_INPUT)  # the help is printed already
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(_usage_message(exc))}", highlight=False,
                  soft_wrap=True)
        sys.exit(EXIT_BAD_INPUT if isinstance(exc, _USAGE_ERROR) else exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        interrupted.append(signal.SIGINT)
        code = 130
    except Exception as exc:  # a bug, here or in a plug-in: not "gate failed" (exit 1)
        traceback.print_exc()
        err.print(f"[red]internal error:[/] {escape(one_line(f'{type(exc).__name__}: {exc}'))}"
                  " — a bug in infmllm-eval or in a plug-in it loaded (the traceback above "
                  "says where); please report it", highlight=False, soft_wrap=True)
        sys.exit(EXIT_INTERNAL)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if interrupted and code == 130:
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
        what = "terminated (SIGTERM)" if interrupted[0] == signal.SIGTERM else "interrupted"
        err.print(f"{what}: journaled predictions are kept; rerun the same command to resume"
                  if command == "run" else what, highlight=False, soft_wrap=True)
        code = 128 + int(interrupted[0])  # 130 for Ctrl-C, 143 for SIGTERM (as the shell reports)
    sys.exit(code if isinstance(code, int) else 0)


# click's exception classes as Typer raises them (its own copy of click since Typer 0.22)
_CLICK_ERROR: type[Any] = next(c for c in typer.BadParameter.__mro__
                               if c.__name__ == "ClickException")
_USAGE_ERROR: type[Any] = next(c for c in typer.BadParameter.__mro__
                               if c.__name__ == "UsageError")


def _usage_message(exc: Any) -> str:
    """One line: click's message and, for a usage error, where to find the usage."""
    message = " ".join(str(exc.format_message()).split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "infmllm-eval"
    return f"{message}; see '{path} --help'"
