"""lmms-eval's loglikelihood requests in our terms (no lmms_eval import here).

Each lmms-eval request is one (context, continuation) pair of a doc; a multiple-choice doc
sends one request per choice, all with the same context and image. Requests of the same doc
and context are grouped into one of our likelihood requests (``Request.continuations``), so
the adapter runs the image and the prompt once for all of them (InfMLLM: prefix-shared
scoring), and groups are batched ``batch_size`` at a time; answers come back in request
order.

What each answer holds (``values``):

- ``loss`` (the default): the continuation's summed negative log-probability. lmms-eval
  (0.7.3) ranks ``multiple_choice`` options by ``argmin`` of the returned values, because
  its own models (llava …) return a loss; so ``acc`` is the option with the highest summed
  log-probability (``ranking=sum`` of ``infmllm-eval``), and ``acc_norm`` divides the loss by
  the option's length in characters.
- ``logprob``: the summed log-probability itself, as lmms-eval's ``lmms.loglikelihood``
  docstring describes it (what ``output_type: loglikelihood`` tasks' ``perplexity``,
  ``exp(-mean)``, expects). With it, ``multiple_choice`` tasks pick the least likely option.

``is_greedy`` is lmms-eval's: every token of the continuation is the argmax after the tokens
before it. The continuation's leading spaces (lmms-eval's ``target_delimiter``, " " by
default) are dropped: our adapters tokenize a continuation as the start of a new word, as
the answer a model generates after the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from infmllm_eval.engine.batching import plan_batches
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.lmms.bridge import PROMPT_FAMILIES, image_reference
from infmllm_eval.types import GenerationConfig, Request, Response

#: what the first value of each answer is: see the module docstring
VALUES = ("loss", "logprob")


@dataclass(frozen=True)
class Scoring:
    """One lmms-eval loglikelihood request: its context, continuation, the doc its image
    comes from (``doc``: any key equal for requests of the same doc) and how to read the
    image when its batch runs."""

    context: str
    continuation: str
    doc: Hashable
    visuals: Callable[[], Any]
    where: str


def continuation_text(value: Any, where: str) -> str:
    """The text to score: lmms-eval's continuation without its leading spaces."""
    if not isinstance(value, str):
        raise BadInputError(f"{where}: the continuation must be text, got {shown(value)} "
                            "(doc_to_target must give the target's text)")
    text = value.lstrip(" ")
    if not text:
        raise BadInputError(f"{where}: empty continuation {shown(value)}: nothing to score")
    return text


def _grouped(items: Sequence[Scoring], prompt: str,
             ) -> tuple[list[Request], list[list[int]], list[Scoring]]:
    """One likelihood request per (doc, context), with the indices of its lmms-eval requests
    (one per continuation, in order) and the first of them (its image and place)."""
    family, field = PROMPT_FAMILIES[prompt]
    groups: dict[tuple[Hashable, str], list[int]] = {}
    for i, item in enumerate(items):
        if not isinstance(item.context, str):
            raise BadInputError(f"{item.where}: the context must be text, got "
                                f"{type(item.context).__name__} (chat-message tasks are not "
                                "supported)")
        groups.setdefault((item.doc, item.context), []).append(i)
    requests, members, firsts = [], [], []
    for n, indices in enumerate(groups.values()):
        first = items[indices[0]]
        conts = tuple(items[i].continuation for i in indices)
        requests.append(Request(str(n), None, family, {field: first.context},
                                GenerationConfig(), conts))
        members.append(indices)
        firsts.append(first)
    return requests, members, firsts


def score_all(items: Sequence[Scoring],
              loglikelihood: Callable[[list[Request]], list[Response]], batch_size: int,
              cost: Callable[[Request], int], prompt: str, values: str = "loss",
              progress: Callable[[int], None] = lambda n: None) -> list[tuple[float, bool]]:
    """(value, is_greedy) per request, in request order; groups of similar prompt length
    are batched together (longest first), each batch's images read when it runs."""
    if values not in VALUES:
        raise BadInputError(f"--model_args loglikelihood={shown(values)}: expected "
                            f"{' or '.join(VALUES)}")
    requests, members, firsts = _grouped(items, prompt)
    answers: list[tuple[float, bool] | None] = [None] * len(items)
    order = range(len(requests))
    for batch in plan_batches(order, batch_size, lambda g: -cost(requests[g]),
                              window=len(requests)):
        ready = [replace(requests[g], image=image_reference(firsts[g].visuals(),
                                                            firsts[g].where)) for g in batch]
        responses = loglikelihood(ready)
        if len(responses) != len(batch):
            raise BadInputError(f"the model answered {len(responses)} likelihood requests "
                                f"for {len(batch)}")
        for g, response in zip(batch, responses, strict=True):
            found = response.likelihoods
            if len(found) != len(members[g]):
                raise BadInputError(f"{firsts[g].where}: the model scored {len(found)} "
                                    f"continuations of {len(members[g])}")
            for i, score in zip(members[g], found, strict=True):
                value = -score.logprob if values == "loss" else score.logprob
                answers[i] = (float(value) + 0.0, bool(score.greedy))
        progress(sum(len(members[g]) for g in batch))
    unanswered = [i for i, answer in enumerate(answers) if answer is None]
    if unanswered:  # every request belongs to one group: a gap would shift every later answer
        raise RuntimeError(f"loglikelihood: {len(unanswered)} request(s) left unanswered, "
                           f"e.g. #{unanswered[0]}")
    return [answer for answer in answers if answer is not None]
