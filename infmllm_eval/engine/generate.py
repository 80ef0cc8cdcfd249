"""Generation for one task: batches to the model, journaled as they arrive (per rank)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from infmllm_eval.adapters import ModelAdapter
from infmllm_eval.engine.batching import plan_batches, prefetched
from infmllm_eval.engine.distributed import SINGLE, Dist, shard
from infmllm_eval.engine.journal import Journal
from infmllm_eval.engine.progress import Progress
from infmllm_eval.errors import BadInputError
from infmllm_eval.taskspec import TaskSpec
from infmllm_eval.types import Request, Response, Sample


def generate_task(
    spec: TaskSpec, samples: list[Sample], model: ModelAdapter, journal: Journal,
    batch_size: int, progress: Progress, on_image_error: str = "fail", dist: Dist = SINGLE,
) -> dict[str, Any]:
    """Send the samples not yet journaled to the model, in batches sorted by prompt length
    within a window (when the model can tell), with the next batches' CPU work (image
    decoding, tokenisation) prefetched in a worker thread. Returns throughput figures.

    In a distributed run each rank takes a balanced share of the unfinished samples (the
    samples of one image stay together) into its own journal shard; rank 0 then merges."""
    done = journal.read_all()
    todo = [s for s in samples if s.key not in done]
    everything = len(todo)
    if dist.enabled:
        by_image: dict[str, list[Sample]] = defaultdict(list)
        for s in todo:
            by_image[s.image or s.key].append(s)
        todo = shard(list(by_image.values()), dist.world_size)[dist.rank]
        journal = journal.shard(dist.rank)
    progress.start(spec.name, len(samples), len(samples) - everything)
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
    wall = time.perf_counter() - started
    after = _stats(model)
    return {"generated": produced, "resumed": len(samples) - everything,
            "wall_s": round(wall, 3),
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


