"""The run loop: batches of requests to a model adapter, journaled as they arrive, then scored."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infmllm_eval.adapters import ModelAdapter
from infmllm_eval.engine.batching import plan_batches, prefetched
from infmllm_eval.engine.journal import Journal
from infmllm_eval.engine.store import file_sha256, read_json_file, write_results, write_run_json
from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import write_json
from infmllm_eval.scoring import score_task
from infmllm_eval.taskspec import TaskSpec, load_samples
from infmllm_eval.types import Request, Response, Sample


class Progress(Protocol):
    """What the run loop reports; the CLI draws it with rich, tests may record it."""

    def start(self, task: str, total: int, done: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing."""

    def start(self, task: str, total: int, done: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None

    def finish(self) -> None:
        return None


@dataclass(frozen=True)
class RunConfig:
    """What defines a run's outputs; a resumed run must match it exactly."""

    model: str
    tasks: tuple[str, ...]
    data_root: str
    batch_size: int = 8
    limit: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    model_options: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    generation: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    on_image_error: str = "fail"


# settings that do not change the outputs (greedy decoding is batch invariant): a run may be
# resumed with other values
RESUME_FREE = ("batch_size", "on_image_error")
ON_IMAGE_ERROR = ("fail", "skip")


def run_identity(config: RunConfig) -> str:
    """A short hash of what defines a run's outputs: the default run directory name, so that
    the same command finds (and resumes) its own run."""
    cfg = {k: v for k, v in asdict(config).items() if k not in RESUME_FREE}
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:10]


MODEL_IDENTITY = ("adapter", "checkpoint_sha256", "prompt_style", "dtype", "architecture",
                  "model_card_sha256", "answers_sha256")


def _check_resume(run_dir: Path, config: dict[str, Any], cards: dict[str, str],
                  model: dict[str, Any]) -> None:
    """Refuse to resume a run whose configuration, task cards or model changed."""
    previous = read_json_file(run_dir / "run.json")
    before = previous.get("config", {})
    changes = [f"{k}: {before.get(k)!r} -> {config.get(k)!r}"
               for k in sorted(set(config) | set(before))
               if k not in RESUME_FREE and config.get(k) != before.get(k)]
    changes += [f"task card {name} changed" for name, sha in cards.items()
                if previous.get("cards", {}).get(name, sha) != sha]
    old_model = previous.get("model", {})
    changes += [f"model {k} changed" for k in MODEL_IDENTITY
                if k in model and k in old_model and model[k] != old_model[k]]
    if changes:
        raise BadInputError(
            f"{run_dir} holds a run with a different setup ({'; '.join(changes)}); "
            "pass --new-run to start a fresh run directory"
        )


def generate_task(
    spec: TaskSpec, samples: list[Sample], model: ModelAdapter, journal: Journal,
    batch_size: int, progress: Progress, on_image_error: str = "fail",
) -> dict[str, Any]:
    """Send the samples not yet journaled to the model, in batches sorted by prompt length
    within a window (when the model can tell), with the next batches' CPU work (image
    decoding, tokenisation) prefetched in a worker thread. Returns throughput figures."""
    done = journal.read()
    todo = [s for s in samples if s.key not in done]
    progress.start(spec.name, len(samples), len(samples) - len(todo))
    ids = {s.key: s.id for s in todo}
    requests = [Request(s.key, s.image, spec.family.name, spec.family.request_fields(s),
                        spec.generation) for s in todo]
    cost = getattr(model, "request_cost", None)
    batches = plan_batches(requests, batch_size, cost, window=8 * batch_size)
    prepare = getattr(model, "prepare", None)
    before = _stats(model)
    started, produced, tokens = time.perf_counter(), 0, 0
    for batch, prepared in prefetched(batches, _guarded(prepare)):
        responses, errors = _answer(model, batch, prepared, on_image_error, spec.name)
        if [r.key for r in responses] != [r.key for r in batch]:
            raise BadInputError(f"model {model.name} returned responses that do not match "
                                f"its requests (task {spec.name})")
        journal.append([(ids[r.key], r.text) for r in responses], errors)
        produced += len(batch)
        tokens += sum(r.tokens for r in responses)
        progress.advance(len(batch))
    progress.finish()
    journal.canonicalize([s.id for s in samples])
    wall = time.perf_counter() - started
    after = _stats(model)
    return {"generated": produced, "resumed": len(samples) - len(todo), "wall_s": round(wall, 3),
            "samples_per_s": round(produced / wall, 2) if wall > 0 and produced else None,
            "tokens_per_s": round(tokens / wall, 1) if wall > 0 and tokens else None,
            "dropped_torn_line": journal.dropped_torn_line,
            **{k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, int | float)
               and k not in ("max_batch", "unique_images")},
            "unique_images": len({r.image for r in requests if r.image})}


def _guarded(prepare: Callable[[list[Request]], Any] | None) -> Callable[[list[Request]], Any]:
    """The model's CPU-side preparation, with a bad input captured instead of raised (so the
    batch can be retried one request at a time to find the sample)."""
    def run(batch: list[Request]) -> Any:
        if prepare is None:
            return batch
        try:
            return prepare(batch)
        except BadInputError as exc:
            return exc
    return run


def _answer(model: ModelAdapter, batch: list[Request], prepared: Any, on_error: str,
            task: str) -> tuple[list[Response], dict[str, str]]:
    """Responses of a batch. When an input of the batch is bad (an unreadable image …), each
    request is retried alone: with ``fail`` the first bad sample stops the run, named; with
    ``skip`` it is answered with '' and its error (scored wrong, listed in metrics.json)."""
    if not isinstance(prepared, BadInputError):
        try:
            runner = getattr(model, "run", None)
            if runner is not None and prepared is not batch:
                return list(runner(prepared)), {}
            return model.generate(batch), {}
        except BadInputError:
            pass
    responses, errors = [], {}
    for req in batch:
        try:
            responses.append(model.generate([req])[0])
        except BadInputError as exc:
            if on_error == "fail":
                raise BadInputError(f"task {task}, sample {req.key}: {exc} "
                                    "(--on-image-error skip records it as failed and goes on)"
                                    ) from None
            responses.append(Response(req.key, ""))
            errors[req.key] = str(exc)
    return responses, errors


def _stats(model: ModelAdapter) -> dict[str, Any]:
    stats = getattr(model, "stats", None)
    return dict(stats()) if stats else {}


def score_run_task(spec: TaskSpec, samples: list[Sample], journal: Journal,
                   run_dir: Path) -> dict[str, Any]:
    """Score a task from what its journal holds (or write its submission file)."""
    preds: dict[str, str | None] = dict(journal.read())
    missing = [s.key for s in samples if s.key not in preds]
    if spec.card.submission_only:
        path = run_dir / "submissions" / f"{spec.name}.json"
        write_json(path, spec.family.submission(samples, preds, spec.options))
        return {"submission": str(path.relative_to(run_dir)), "n_samples": len(samples),
                "n_missing": len(missing), "variant": dict(spec.options)}
    entry = score_task(spec, samples, preds, missing=missing)
    entry["failed"] = {"count": len(journal.failed), "errors": dict(journal.failed)}
    if getattr(spec.family, "always_submit", False):  # e.g. captions: official result file too
        path = run_dir / "submissions" / f"{spec.name}.json"
        write_json(path, spec.family.submission(samples, preds, spec.options))
        entry["submission_file"] = str(path.relative_to(run_dir))
    return entry


def run_evaluation(
    config: RunConfig, specs: list[TaskSpec], model: ModelAdapter, run_dir: Path,
    progress: Progress | None = None, model_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Generate (resuming what is journaled), score, and write the run directory."""
    progress = progress or NoProgress()
    if config.on_image_error not in ON_IMAGE_ERROR:
        raise BadInputError(f"--on-image-error {config.on_image_error!r}: expected fail or skip")
    cfg = asdict(config) | {"tasks": list(config.tasks)}
    cards = {s.name: file_sha256(s.card.path) for s in specs}
    provenance = dict(model.provenance()) | dict(model_info or {})
    if (run_dir / "run.json").exists():
        _check_resume(run_dir, cfg, cards, provenance)
    random.seed(config.seed)
    write_run_json(run_dir, cfg, {"cards": cards, "model": provenance, "seed": config.seed})
    loaded = [(spec, load_samples(spec, config.limit)) for spec in specs]
    tasks: dict[str, Any] = {}
    for spec, samples in loaded:
        journal = Journal(run_dir / "predictions" / f"{spec.name}.jsonl")
        throughput = generate_task(spec, samples, model, journal, config.batch_size, progress,
                                   config.on_image_error)
        tasks[spec.name] = score_run_task(spec, samples, journal, run_dir)
        tasks[spec.name]["throughput"] = throughput
        tasks[spec.name]["generation"] = asdict(spec.generation)
    metrics = {"run_id": run_dir.name, "model": config.model, "engine": _stats(model),
               "tasks": tasks}
    write_results(run_dir, metrics)
    return metrics
