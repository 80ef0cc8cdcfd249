"""What the CLI commands do, as plain functions returning data (the CLI only prints)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infmllm_eval.cards import ModelCard
from infmllm_eval.catalog import resolve_model, resolve_task
from infmllm_eval.engine.store import file_sha256, new_run_id, read_run_json
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import no_gc, read_json, write_json
from infmllm_eval.predictions import read_prediction_source
from infmllm_eval.scoring import (
    check_ids,
    check_samples,
    score_task,
    submission_entry,
    write_submission,
)
from infmllm_eval.taskspec import (
    DEMO_TASKS,
    TaskSpec,
    build_specs,
    build_task,
    load_samples,
    parse_pairs,
)

if TYPE_CHECKING:
    from infmllm_eval.adapters import ModelAdapter

# The engine, the adapters and the image code (PIL) are imported by the commands that use them:
# `score` needs none of them, and importing them cost a noticeable part of its time.


def score_file(task: str, predictions: Path, data_root: Path, files: Sequence[str],
               options: Sequence[str], output: Path | None,
               allow_partial: bool) -> tuple[dict[str, Any], Path]:
    """`score`: read, check and score one predictions file; write the metrics JSON."""
    with no_gc():  # millions of short-lived, acyclic objects: collections only cost time
        return _score_file(task, predictions, data_root, files, options, output, allow_partial)


def _score_outputs(spec: TaskSpec, predictions: Path, output: Path | None,
                   ) -> tuple[Path, Path | None]:
    """Where `score` writes: ``--output``, else ``./<predictions stem>.metrics.json`` in the
    current folder (``.submission.json`` for a test split: never next to the predictions,
    which may be bundled inside the installed package), and, for families that always
    submit, the submission file next to it. Neither may be a file the command reads: the
    predictions or a data file of the task (checked before reading)."""
    from infmllm_eval.outputs import refuse_overwrite

    reads_folders = spec.family.reads_result_folder  # e.g. MME's result folder
    if output is None and (not predictions.name or (predictions.is_dir() and not reads_folders)):
        raise BadInputError(f"--predictions {predictions}: a folder; pass the predictions file "
                            "(JSONL or a JSON list)")
    if output is not None and (not output.name or output.is_dir()):
        raise BadInputError(f"cannot write {output}: it is a folder; --output names the "
                            "metrics JSON file to write")
    if spec.card.submission_only:
        target = output or Path(predictions.stem + ".submission.json")
        sub = None
    else:
        target = output or Path(predictions.stem + ".metrics.json")
        sub = (target.with_name(target.name.removesuffix(".metrics.json").removesuffix(".json")
                                + ".submission.json")
               if spec.family.always_submit else None)
    inputs = [("the predictions file", predictions)] + [
        (f"the {key} file of {spec.name}", path) for key, path in spec.files.items()
        if key != "images"]  # images are not read by `score`
    if spec.card.path:
        inputs.append((f"the task card of {spec.name}", Path(spec.card.path)))
    what = "--output" if output is not None else f"the metrics file {target}"
    if spec.card.submission_only and output is None:
        what = f"the submission file {target}"
    refuse_overwrite(target, what, inputs, "choose another --output")
    if output is None and not spec.card.submission_only:
        _refuse_other_scoring(target, predictions)
    if sub is not None:
        refuse_overwrite(sub, f"the submission file {sub} written next to "
                         f"{'--output' if output is not None else target}", inputs,
                         "choose another --output")
    return target, sub


def _refuse_other_scoring(target: Path, predictions: Path) -> None:
    """The default metrics file is named by the predictions file's stem alone, and run
    directories all name theirs ``<task>.jsonl``: refuse to replace the metrics of another
    predictions file (re-scoring the same one replaces its own)."""
    if not target.is_file():
        return
    try:
        before = read_json(target, "metrics file").get("predictions")
    except (BadInputError, AttributeError):
        before = None
    if before is None or Path(str(before)).resolve() != predictions.resolve():
        raise BadInputError(f"{target} holds the metrics of {before or 'another file'}: "
                            f"scoring {predictions} would replace them; pass --output")


def _score_file(task: str, predictions: Path, data_root: Path, files: Sequence[str],
                options: Sequence[str], output: Path | None,
                allow_partial: bool) -> tuple[dict[str, Any], Path]:
    from infmllm_eval.outputs import usable_paths

    card = resolve_task(task)
    usable_paths(("--predictions", predictions), ("--output", output))
    spec = build_task(card, data_root, parse_pairs(files, "--file"),
                      parse_pairs(options, "--option"))
    target, sub = _score_outputs(spec, predictions, output)
    preds = read_prediction_source(predictions, spec.family)
    if not preds.text:  # every sample would count as wrong: a score of 0 that means nothing
        raise BadInputError(f"--predictions {predictions}: holds no predictions; nothing to "
                            "score (pass the file the model wrote)")
    samples = load_samples(spec, images=False)
    missing = check_ids(spec, samples, preds)
    texts = preds.text
    if card.submission_only:
        return submission_entry(spec, samples, texts, target, str(target), missing), target
    entry = score_task(spec, samples, texts, missing=missing, partial=allow_partial,
                       failed=preds.failed)
    if preds.failed:  # a run's journal: its failed samples, as the run recorded them
        entry["failed"] = {"count": len(preds.failed), "errors": preds.failed}
    if sub is not None:
        entry["submission_file"] = str(sub)
    write_json(target, {"task": task, "predictions": str(predictions), **entry})
    if sub is not None:
        try:
            write_submission(spec, samples, texts, sub)
        except BadInputError:
            target.unlink(missing_ok=True)  # no partial output: both files or neither
            raise
    return entry, target


AUTO_BATCH = 64


def parse_batch_size(text: str | int) -> int:
    """'auto' -> AUTO_BATCH (models halve on out-of-memory), else a positive integer."""
    if text == "auto":
        return AUTO_BATCH
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise BadInputError(f"--batch-size {shown(text)}: expected a positive integer or 'auto'")
    return value


def run_command(model: str, tasks: Sequence[str], data_root: Path, batch_size: int | str,
                limit: int | None, output_dir: Path, run_name: str | None,
                options: Sequence[str], model_options: Sequence[str], files: Sequence[str],
                seed: int, generation: Sequence[str] = (), new_run: bool = False,
                on_image_error: str = "fail", adapter: ModelAdapter | None = None,
                show_progress: bool = True, threads: int | None = None,
                resuming: bool = False) -> tuple[Path, dict[str, Any]]:
    """`run`: resolve everything first (bad input fails before any model work), then run.

    The run directory is ``--run-name``, else ``<model>-<hash of the configuration>``: the
    same command finds its own run and resumes it; ``new_run`` starts a fresh, timestamped
    one. ``adapter``: an adapter object to run instead of building the card ``model`` (the
    Python API; ``model`` is then only the name recorded). ``threads``: torch's CPU threads
    (None: the default; recorded in run.json, not part of the run's identity)."""
    from infmllm_eval.adapters import adapter_class, check_likelihood, create_adapter
    from infmllm_eval.engine.distributed import from_environment
    from infmllm_eval.engine.lock import acquire
    from infmllm_eval.engine.progress import NoProgress
    from infmllm_eval.engine.run import (
        ON_IMAGE_ERROR,
        RunConfig,
        apply_threads,
        check_threads,
        run_evaluation,
        run_identity,
    )
    from infmllm_eval.ui import console_progress

    model_card = (resolve_model(model) if adapter is None
                  else ModelCard(name=model, adapter=type(adapter).__name__))
    specs = build_specs(tasks, data_root, files, options, model_card, generation)
    check_likelihood(adapter_class(model_card) if adapter is None else type(adapter), model,
                     [s.name for s in specs if s.family.uses_likelihood(s.options)])
    model_opts = parse_pairs(model_options, "--model-option")
    if run_name is not None:
        check_run_name(run_name, output_dir)
    config = RunConfig(
        model=model, tasks=tuple(s.name for s in specs), data_root=str(data_root),
        batch_size=parse_batch_size(batch_size), limit=limit,
        options=parse_pairs(options, "--option"),
        model_options=model_opts, files=parse_pairs(files, "--file"),
        generation=parse_pairs(generation, "--generation"), seed=seed,
        on_image_error=on_image_error, threads=check_threads(threads),
        bundled_data={s.name: s.bundled for s in specs if s.bundled})
    if on_image_error not in ON_IMAGE_ERROR:
        raise BadInputError(f"--on-image-error {shown(on_image_error)}: expected fail or skip")
    if show_progress:
        from infmllm_eval.ui import progress_interval

        progress_interval()  # a bad $INFMLLM_EVAL_PROGRESS_S: refused before the model loads
    # a run recorded before this check keeps its seed (harmless, and the user cannot drop it)
    if seed and not resuming and not any(spec.generation.do_sample for spec in specs):
        raise BadInputError(f"--seed {seed}: no selected task samples (greedy decoding uses no "
                            "random numbers); drop --seed, or sample with --generation "
                            "do_sample=true")
    loaded = [load_samples(spec, config.limit) for spec in specs]  # bad data: before any work
    for spec, samples in zip(specs, loaded, strict=True):
        check_samples(spec, samples)  # e.g. a test split on a card that is not submission-only
    dist = from_environment()
    name = run_name or (fresh_name(output_dir, new_run_id(model)) if new_run
                        else f"{model}-{run_identity(config)}")
    run_dir = output_dir / dist.broadcast(name)  # rank 0's clock names a new run
    if (adapter is None and dist.enabled and adapter_class(model_card).accepts_device
            and "device" not in model_opts):
        import torch

        if torch.cuda.is_available():
            model_opts = {**model_opts, "device": f"cuda:{dist.local_rank}"}
    lock, problem = None, None
    if dist.is_main:  # one run per run directory: rank 0 holds the lock for the whole job
        try:
            lock = acquire(run_dir)
        except BadInputError as exc:
            problem = str(exc)
    problem = dist.broadcast(problem)
    if problem:
        raise BadInputError(problem)
    try:
        if adapter is None:
            adapter = create_adapter(model_card, model_opts)
            info = {"model_card_sha256": file_sha256(model_card.path)}
        else:
            info = {"model_card_sha256": "", "in_memory_adapter": type(adapter).__qualname__}
        apply_threads(config.threads or 1)
        progress = console_progress(len(specs)) if dist.is_main and show_progress else NoProgress()
        metrics = run_evaluation(config, specs, adapter, run_dir, progress, info, dist, loaded)
        dist.close()  # on an error the launcher stops the other ranks: no barrier then
    finally:
        if lock is not None:
            lock.release()
    return run_dir, metrics


def fresh_name(output_dir: Path, name: str) -> str:
    """``name``, or ``name-2``, ``name-3`` … when a run directory of that name exists: runs
    started in the same second (a script launching several) must not share, resume or be
    refused by each other's directory."""
    candidate, number = name, 1
    while (output_dir / candidate).exists() or (output_dir / candidate).is_symlink():
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def check_run_name(name: str, output_dir: Path, what: str = "--run-name") -> None:
    """A run directory name: one plain folder name the file system can hold."""
    if (not name.strip() or "/" in name or os.sep in name or not name.isprintable()
            or name in {".", ".."}):
        raise BadInputError(f"{what} {shown(name)}: use a plain folder name")
    limit = 255
    with contextlib.suppress(OSError, ValueError, AttributeError):
        probe = next((p for p in (output_dir, *output_dir.parents) if p.is_dir()), Path("."))
        limit = os.pathconf(probe, "PC_NAME_MAX")
    if len(os.fsencode(name)) > limit:
        raise BadInputError(f"{what} {shown(name, 40)}: {len(os.fsencode(name))} bytes, "
                            f"longer than the file system allows ({limit} bytes for a folder "
                            "name); use a shorter name")


def resume_command(run_dir: Path, batch_size: int | str | None, on_image_error: str | None,
                   threads: int | None = None) -> tuple[Path, dict[str, Any]]:
    """`run --resume RUN_DIR`: the same configuration as recorded in its run.json; the batch
    size and the image-error policy are the run's unless given (None); the thread count is
    this machine's default unless given."""
    if not (run_dir / "run.json").exists():
        raise BadInputError(f"--resume {run_dir}: no run.json there (not a run directory)")
    cfg = read_run_json(run_dir)["config"]
    pairs = {k: [f"{a}={b}" for a, b in cfg.get(k, {}).items()]
             for k in ("options", "model_options", "files", "generation")}
    try:  # what run.json names must still exist and parse: else say it is run.json's
        card = resolve_model(cfg["model"])
        build_specs(cfg["tasks"], Path(cfg["data_root"]), pairs["files"], pairs["options"],
                    card, pairs["generation"])
        parse_pairs(pairs["model_options"], "--model-option")
    except BadInputError as exc:
        raise BadInputError(f"{run_dir / 'run.json'}: the recorded configuration no longer "
                            f"works ({exc}); fix run.json, or start a new run without --resume"
                            ) from None
    return run_command(cfg["model"], cfg["tasks"], Path(cfg["data_root"]),
                       batch_size or cfg.get("batch_size", 8), cfg.get("limit"), run_dir.parent,
                       run_dir.name, pairs["options"], pairs["model_options"], pairs["files"],
                       cfg.get("seed", 0), pairs["generation"], False,
                       on_image_error or cfg.get("on_image_error", "fail"), threads=threads,
                       resuming=True)




def demo_root() -> Path:
    """The bundled demo: mini data sets in the official layouts plus saved model answers."""
    return Path(__file__).resolve().parent / "demo"


def demo_command(output_dir: Path, replay: bool = False,
                 threads: int | None = None) -> tuple[Path, dict[str, Any]]:
    """`demo`: the trained ``infmllm-tiny-toy`` on every toy task (or, with ``replay``, the
    bundled saved answers on the mini VQA sets, replayed through the same run loop)."""
    if replay:
        root = demo_root()
        return run_command("scripted", list(DEMO_TASKS), root / "data", 8, None, output_dir,
                           fresh_name(output_dir, new_run_id("demo-replay")), [],
                           [f"answers={root / 'predictions'}"], [], 0, threads=threads)
    from infmllm_eval.toy import DATA_ROOT, TASKS

    return run_command("infmllm-tiny-toy", list(TASKS), DATA_ROOT, 32, None, output_dir,
                       fresh_name(output_dir, new_run_id("demo-toy")), [], [], [], 0,
                       threads=threads)