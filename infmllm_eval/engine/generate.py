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
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.likelihood import best_option, scored
from infmllm_eval.taskspec import TaskSpec
from infmllm_eval.types import Likelihood, Request, Response, Sample, ScoredText


def generate_task(
    spec: TaskSpec, samples: list[Sample], model: ModelAdapter, journal: Journal,
    batch_size: int, progress: Progress, on_image_error: str = "fail", dist: Dist = SINGLE,
) -> dict[str, Any]:
    """Send the samples not yet journaled to the model, in batches sorted by prompt length
    within a window (when the model can tell), with the next batches' CPU work (image
    decoding, tokenisation) prefetched in a worker thread. Returns throughput figures.

    In a distributed run each rank takes a balanced share of the unfinished samples (the
    samples of one image stay together) into its own journal shard; rank 0 then merges."""
    todo, resumed, torn = _plan(samples, journal, dist, spec.name)
    if dist.enabled:
        journal = journal.shard(dist.rank)
    everything = len(samples) - resumed
    progress.start(spec.name, len(samples), resumed)
    ids = {s.key: s.id for s in todo}
    scoring = spec.family.uses_likelihood(spec.options)
    requests = [Request(s.key, s.image, spec.family.name, spec.family.request_fields(s),
                        spec.generation,
                        spec.family.continuations(s, spec.options) if scoring else ())
                for s in todo]
    batches = plan_batches(requests, batch_size, model.request_cost, window=8 * batch_size)
    before = model.stats()
    started, produced, tokens = time.perf_counter(), 0, 0
    try:
        for batch, prepared in prefetched(batches, _guarded(model.prepare)):
            responses, errors = _answer(model, batch, prepared, on_image_error, spec.name,
                                        scoring)
            if _keys(responses) != [r.key for r in batch]:
                raise BadInputError(f"model {model.name} returned responses that do not match "
                                    f"its requests (task {spec.name}): expected a list of "
                                    "Response, one per request, in order")
            if scoring:
                rows = [(ids[r.key], scored_text(q, r, errors, model.name))
                        for q, r in zip(batch, responses, strict=True)]
            elif not all(isinstance(r.text, str) for r in responses):
                raise BadInputError(f"model {model.name} answered with a non-text response "
                                    f"(task {spec.name}): Response.text must be a str")
            else:
                rows = [(ids[r.key], r.text) for r in responses]
            journal.append(rows, errors)
            produced += len(batch)
            tokens += sum(r.tokens for r in responses)
            progress.advance(len(batch))
    except BaseException:  # an error or Ctrl-C: take the bar down before the message
        progress.abort()
        raise
    progress.finish()
    wall = time.perf_counter() - started
    after = model.stats()
    return {"generated": produced, "resumed": len(samples) - everything,
            "wall_s": round(wall, 3),
            "samples_per_s": round(produced / wall, 2) if wall > 0 and produced else None,
            "tokens_per_s": round(tokens / wall, 1) if wall > 0 and tokens else None,
            "dropped_torn_line": torn,
            **{k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, int | float)
               and k not in ("max_batch", "unique_images")},
            "unique_images": len({r.image for r in requests if r.image})}


def _plan(samples: list[Sample], journal: Journal, dist: Dist,
          task: str = "") -> tuple[list[Sample], int, bool]:
    """This rank's samples to generate, how many are journaled already and whether a torn
    journal line was dropped. Rank 0 alone reads the journal (all shards) and splits the
    unfinished samples over the ranks (the samples of one image stay together), then
    broadcasts the plan: ranks that start late (model loading skews them) cannot see another
    rank's fresh appends and plan differently, which would lose or duplicate samples."""
    plan: dict[str, Any] | None = None
    if dist.is_main:
        try:
            done = journal.read_all()
            journal.check_ids(done, {s.key for s in samples}, task or journal.path.stem)
        except BadInputError as exc:
            if not dist.enabled:
                raise
            plan = {"error": str(exc)}
        else:
            todo = [s for s in samples if s.key not in done]
            parts = [todo]
            if dist.enabled:
                by_image: dict[str, list[Sample]] = defaultdict(list)
                for s in todo:
                    by_image[s.image or s.key].append(s)
                parts = shard(list(by_image.values()), dist.world_size)
            plan = {"keys": [[s.key for s in part] for part in parts],
                    "resumed": len(samples) - len(todo), "torn": journal.dropped_torn_line}
    plan = dist.broadcast(plan)
    assert plan is not None  # rank 0 always plans
    if "error" in plan:
        raise BadInputError(plan["error"])
    by_key = {s.key: s for s in samples}
    mine = plan["keys"][dist.rank] if dist.enabled else plan["keys"][0]
    unknown = [k for k in mine if k not in by_key]
    if unknown:
        raise BadInputError(f"rank {dist.rank} does not have sample {shown(unknown[0])} that "
                            "rank 0 planned: every rank must read the same data")
    return [by_key[k] for k in mine], int(plan["resumed"]), bool(plan["torn"])


def _guarded(prepare: Callable[[list[Request]], Any]) -> Callable[[list[Request]], Any]:
    """The model's CPU-side preparation, with a bad input captured instead of raised (so the
    batch can be retried one request at a time to find the sample)."""
    def run(batch: list[Request]) -> Any:
        try:
            return prepare(batch)
        except BadInputError as exc:
            return exc
    return run


def _answer(model: ModelAdapter, batch: list[Request], prepared: Any, on_error: str,
            task: str, scoring: bool) -> tuple[list[Response], dict[str, str]]:
    """Responses of a batch. When an input of the batch is bad (an unreadable image …), each
    request is retried alone: with ``fail`` the first bad sample stops the run, named; with
    ``skip`` it is answered with '' and its error (scored wrong, listed in metrics.json).
    ``scoring``: the task's requests are likelihood requests."""
    if not isinstance(prepared, BadInputError):
        try:
            return (model.run_likelihood(prepared) if scoring else model.run(prepared)), {}
        except BadInputError:
            pass
    responses, errors = [], {}
    for req in batch:
        try:
            responses.append((model.loglikelihood if scoring else model.generate)([req])[0])
        except BadInputError as exc:
            if on_error == "fail":
                raise BadInputError(f"task {task}, sample {req.key}: {exc} "
                                    "(--on-image-error skip records it as failed and goes on)"
                                    ) from None
            responses.append(Response(req.key, ""))
            errors[req.key] = str(exc)
    return responses, errors


def scored_text(request: Request, response: Response, errors: dict[str, str],
                model: str) -> str:
    """The journaled prediction of a likelihood request: the best continuation (highest
    summed log-probability, the first on a tie) carrying every continuation's score ('' for
    a failed sample)."""
    if request.key in errors:
        return ""
    scores = response.likelihoods
    if not isinstance(scores, tuple) or len(scores) != len(request.continuations) or \
            not all(isinstance(s, Likelihood) for s in scores):
        raise BadInputError(f"model {model} answered likelihood request {request.key} without "
                            f"a score for each of its {len(request.continuations)} "
                            "continuations")
    found = scored("", [s.logprob for s in scores], [s.tokens for s in scores],
                   f"model {model}, likelihood request {request.key}")
    best = best_option(found.logprobs)
    return ScoredText(request.continuations[best], found.logprobs, found.tokens)


def _keys(responses: object) -> list[str] | None:
    """The keys of a list of Responses (None when it is not one)."""
    if not isinstance(responses, list) or not all(isinstance(r, Response) for r in responses):
        return None
    return [r.key for r in responses]
