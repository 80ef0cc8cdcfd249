"""The run loop: batches of requests to a model adapter, journaled as they arrive, then scored."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from infmllm_eval.adapters import ModelAdapter, check_likelihood
from infmllm_eval.engine.distributed import SINGLE, Dist
from infmllm_eval.engine.generate import generate_task
from infmllm_eval.engine.journal import Journal
from infmllm_eval.engine.progress import NoProgress, Progress
from infmllm_eval.engine.store import (
    check_outputs,
    file_sha256,
    read_run_json,
    write_results,
    write_run_json,
)
from infmllm_eval.errors import BadInputError, MissingToolError, shown
from infmllm_eval.scoring import score_task, submission_entry, write_submission
from infmllm_eval.taskspec import TaskSpec, load_samples
from infmllm_eval.types import Sample


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
    threads: int | None = None  # CPU threads of torch (None: torch's own choice)
    bundled_data: dict[str, str] = field(default_factory=dict)  # task -> "toy" | "demo"


# settings that do not change the outputs (greedy decoding is batch invariant; torch's CPU
# kernels give the same answers with any thread count): a run may be resumed with other values
RESUME_FREE = ("batch_size", "on_image_error", "threads")
# settings added later, with the value a run.json written before them stands for (an empty
# one is left out of the identity: older runs keep their directory names)
LATER: dict[str, Any] = {"bundled_data": {}}
ON_IMAGE_ERROR = ("fail", "skip")
MAX_DEFAULT_THREADS = 4  # bench/threads.py: more threads than this gained nothing (README)


def default_threads() -> int:
    """CPU threads when --threads is not given: $OMP_NUM_THREADS when set, else the CPUs this
    process may use (a SLURM or taskset allocation, not the whole machine) that the load
    average leaves free, at least 1 and at most 4. bench/threads.py: on a 2-core machine
    busy with other work, 2 threads made the toy demo 4-9x slower than 1 (threads that wait
    for each other on shared cores)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0])  # whole CPUs kept busy by others (this run: < 1)
    except (AttributeError, OSError):
        busy = 0
    return max(1, min(usable - busy, MAX_DEFAULT_THREADS))


def check_threads(threads: int | None) -> int:
    """The thread count a run uses: ``threads``, else :func:`default_threads`."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise BadInputError(f"--threads {shown(threads)}: expected a positive integer")
    return threads


def apply_threads(threads: int) -> None:
    """torch's intra-op CPU threads, when the model uses torch (a model that does not is not
    made to import it). The inter-op pool is left alone: it can be sized once per process
    only, and resizing it under torchrun ranks is not worth the risk for what it gains."""
    if "torch" not in sys.modules:
        return
    import torch

    torch.set_num_threads(threads)


def run_identity(config: RunConfig) -> str:
    """A short hash of what defines a run's outputs: the default run directory name, so that
    the same command finds (and resumes) its own run."""
    cfg = {k: v for k, v in asdict(config).items()
           if k not in RESUME_FREE and not (k in LATER and v == LATER[k])}
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:10]


MODEL_IDENTITY = ("adapter", "checkpoint_sha256", "prompt_style", "dtype", "architecture",
                  "model_card_sha256", "answers_sha256", "tokenizer_sha256")


def _check_resume(run_dir: Path, config: dict[str, Any], cards: dict[str, str],
                  model: dict[str, Any], inputs: dict[str, str] | None = None) -> None:
    """Refuse to resume a run whose configuration, task cards or model changed."""
    previous = read_run_json(run_dir)
    before = previous["config"]
    changes = [f"{k}: {shown(before.get(k, LATER.get(k)))} -> {shown(config.get(k))}"
               for k in sorted(set(config) | set(before))
               if k not in RESUME_FREE and config.get(k) != before.get(k, LATER.get(k))]
    changes += [f"task card {name} changed" for name, sha in cards.items()
                if previous.get("cards", {}).get(name, sha) != sha]
    old_inputs = previous.get("inputs_sha256", {})
    changes += [f"the questions of task {name} changed (its data files)"
                for name, sha in (inputs or {}).items()
                if isinstance(old_inputs, dict) and old_inputs.get(name, sha) != sha]
    old_model = previous.get("model", {})
    changes += [f"model {k} changed" for k in MODEL_IDENTITY
                if k in model and k in old_model and model[k] != old_model[k]]
    if changes:
        raise BadInputError(
            f"{run_dir} holds a run with a different setup ({'; '.join(changes)}); "
            "start a fresh run directory with --new-run (not with --resume)"
        )


def inputs_sha256(spec: TaskSpec, samples: list[Sample]) -> str:
    """sha256 of what the model is asked for each sample (id, image, prompt fields): resume
    refuses a run whose data files now ask other questions under the same ids (annotations
    that only change the answers keep it: they are scored afresh)."""
    rows = [[s.key, s.image, spec.family.request_fields(s)] for s in samples]
    # one encode of the whole list (VQAv2 val: 0.05 s; a json.dumps per row took 0.6 s)
    return hashlib.sha256(msgspec.json.encode(rows, order="sorted", enc_hook=str)).hexdigest()


# ranks take disjoint samples, and the samples of one image stay on one rank: these add up
SUMMED = ("generated", "vit_forwards", "generated_tokens", "feature_cache_hits", "compute_s",
          "unique_images")


def combine_ranks(per_rank: list[dict[str, Any]]) -> dict[str, Any]:
    """One throughput entry for a task run by several ranks: counts summed, rates over the
    slowest rank's wall time, each rank's own figures kept."""
    if len(per_rank) == 1:
        return per_rank[0]
    wall = max(r["wall_s"] for r in per_rank)
    out: dict[str, Any] = {k: sum(r.get(k, 0) for r in per_rank) for k in SUMMED}
    out |= {"wall_s": wall, "resumed": per_rank[0]["resumed"],
            "samples_per_s": round(out["generated"] / wall, 2) if wall else None,
            "ranks": per_rank}
    return out


def score_run_task(spec: TaskSpec, samples: list[Sample], journal: Journal,
                   run_dir: Path) -> dict[str, Any]:
    """Score a task from what its journal holds (or write its submission file)."""
    preds: dict[str, str | None] = dict(journal.read())
    missing = [s.key for s in samples if s.key not in preds]
    path = run_dir / "submissions" / f"{spec.name}.json"
    if spec.card.submission_only:
        return submission_entry(spec, samples, preds, path, str(path.relative_to(run_dir)),
                                missing)
    entry = score_task(spec, samples, preds, missing=missing, failed=journal.failed)
    entry["failed"] = {"count": len(journal.failed), "errors": dict(journal.failed)}
    if spec.family.always_submit:  # e.g. MMBench: the official submission file too
        write_submission(spec, samples, preds, path)
        entry["submission_file"] = str(path.relative_to(run_dir))
    return entry


def _not_scored(spec: TaskSpec, samples: list[Sample], journal: Journal, run_dir: Path,
                reason: str) -> dict[str, Any]:
    """What a run records for a task it could not score: why, and what is kept for a rerun
    (the journal; the official result file too when the family writes one, which needs no
    scorer)."""
    preds: dict[str, str | None] = dict(journal.read())
    entry: dict[str, Any] = {"reason": reason, "n_samples": len(samples),
                             "n_predictions": sum(s.key in preds for s in samples),
                             "predictions": str(journal.path.relative_to(run_dir))}
    if spec.family.always_submit or spec.card.submission_only:
        path = run_dir / "submissions" / f"{spec.name}.json"
        write_submission(spec, samples, preds, path)
        entry["submission_file"] = str(path.relative_to(run_dir))
    return entry


def run_evaluation(
    config: RunConfig, specs: list[TaskSpec], model: ModelAdapter, run_dir: Path,
    progress: Progress | None = None, model_info: dict[str, Any] | None = None,
    dist: Dist = SINGLE, preloaded: list[list[Sample]] | None = None,
) -> dict[str, Any]:
    """Generate (resuming what is journaled), score, and write the run directory.
    ``preloaded`` samples may be given (the CLI loads them before building the model)."""
    progress = progress or NoProgress()
    if config.on_image_error not in ON_IMAGE_ERROR:
        raise BadInputError(f"--on-image-error {shown(config.on_image_error)}: "
                            "expected fail or skip")
    check_likelihood(type(model), config.model,
                     [s.name for s in specs if s.family.uses_likelihood(s.options)])
    cfg = asdict(config) | {"tasks": list(config.tasks)}
    loaded = list(zip(specs, preloaded or [load_samples(s, config.limit) for s in specs],
                      strict=True))
    cards = {s.name: file_sha256(s.card.path) for s in specs}
    provenance = dict(model.provenance()) | dict(model_info or {})
    problem = None
    if dist.is_main:
        try:
            check_outputs(run_dir)
            inputs = {spec.name: inputs_sha256(spec, samples) for spec, samples in loaded}
            if (run_dir / "run.json").exists():
                _check_resume(run_dir, cfg, cards, provenance, inputs)
            write_run_json(run_dir, cfg, {"cards": cards, "inputs_sha256": inputs,
                                          "model": provenance, "seed": config.seed,
                                          "world_size": dist.world_size})
        except BadInputError as exc:
            problem = str(exc)
    problem = dist.broadcast(problem)  # every rank stops on rank 0's refusal
    if problem:
        raise BadInputError(problem)
    tasks: dict[str, Any] = {}
    not_scored: dict[str, Any] = {}
    for spec, samples in loaded:
        journal = Journal(run_dir / "predictions" / f"{spec.name}.jsonl")
        model.start_task(spec.name)
        if spec.generation.do_sample:  # sampled answers: reproducible for a given seed
            model.seed(config.seed)
        throughput = generate_task(spec, samples, model, journal, config.batch_size, progress,
                                   config.on_image_error, dist)
        per_rank = dist.gather(throughput)  # also: every rank's shard is complete
        if dist.is_main:
            journal.canonicalize([s.id for s in samples])
            try:
                entry = score_run_task(spec, samples, journal, run_dir)
            except MissingToolError as exc:  # e.g. no Java: the other tasks are still scored
                not_scored[spec.name] = _not_scored(spec, samples, journal, run_dir, str(exc))
            else:
                entry["throughput"] = combine_ranks(per_rank)
                entry["generation"] = asdict(spec.generation)
                if spec.bundled:
                    entry["data_source"] = spec.data_source
                tasks[spec.name] = entry
        dist.barrier()
    if not dist.is_main:
        return {"run_id": run_dir.name, "model": config.model, "tasks": {},
                "rank": dist.rank}  # rank 0 writes and reports the results
    metrics = {"run_id": run_dir.name, "model": config.model, "engine": model.stats(),
               "tasks": tasks}
    if not_scored:  # a partial run: its own key, so reports, gates and diffs see no scores
        metrics["not_scored"] = not_scored
    write_results(run_dir, metrics)
    return metrics
