"""Likelihood scoring for the InfMLLM adapter, with the prefix shared.

Each request's prefix (``[BOS] + before + image tokens + after``, as for generation) goes
through the LLM once for all its continuations: one left-padded forward over the prefixes of
a batch of questions keeps their KV cache; the first token of every continuation is scored
from the prefix's last logits, and the rest of the continuations (right-padded, one row per
continuation) run on top of the cache, expanded to one copy per continuation. Continuations
are tokenized on their own (as the prompt's pieces are: SentencePiece's dummy prefix gives a
word its leading space). Out-of-memory halving (``BatchHalving``) cuts the batch of
questions; image features come from the adapter's ``ImageFeatures`` cache."""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from transformers import LlamaForCausalLM

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.modeling.model import InfMLLM, default_position_ids
from infmllm_eval.types import Likelihood, Response

#: transformers 5.x renames ``past_key_values`` to ``cache`` (the old name warns, then goes)
CACHE_ARG = ("cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters
             else "past_key_values")

if TYPE_CHECKING:
    from infmllm_eval.adapters.infmllm import InfMLLMAdapter, Prepared


def continuation_ids(adapter: InfMLLMAdapter, prepared: Prepared) -> list[list[list[int]]]:
    """Token ids of each request's continuations; one that encodes to nothing is refused."""
    out = []
    for req in prepared.requests:
        ids = [adapter.tokenizer.encode(text) for text in req.continuations]
        empty = next((t for t, i in zip(req.continuations, ids, strict=True) if not i), None)
        if not ids or empty is not None:
            raise BadInputError(f"request {req.key}: continuation {shown(empty)} has no tokens "
                                "to score" if ids else f"request {req.key}: no continuations")
        out.append(ids)
    return out


@torch.inference_mode()
def score_prepared(adapter: InfMLLMAdapter, prepared: Prepared) -> list[Response]:
    """The likelihood responses of a prepared batch."""
    conts = continuation_ids(adapter, prepared)
    visual = adapter.visual_tokens(prepared)
    model = adapter.model
    prefixes = [model.assemble_multitask(b, v, a) for b, v, a in
                zip(prepared.before, visual, prepared.after, strict=True)]
    longest = max(len(p) + max(len(c) for c in cs) for p, cs in zip(prefixes, conts,
                                                                    strict=True))
    if longest > adapter.config.max_position_embeddings:
        raise BadInputError(f"a prompt with its continuation takes {longest} positions, past "
                            f"the model's context of {adapter.config.max_position_embeddings}")
    started = time.perf_counter()
    items = list(zip(prefixes, conts, strict=True))
    scores = adapter.halving.run(items, lambda chunk: score_shared(model, chunk))
    adapter.compute_s += time.perf_counter() - started
    return [Response(req.key, "", 0, tuple(found))
            for req, found in zip(prepared.requests, scores, strict=True)]


def score_shared(model: InfMLLM, items: list[tuple[Tensor, list[list[int]]]],
                 ) -> list[list[Likelihood]]:
    """Scores of each (prefix embeddings [L, hidden], continuation ids) item."""
    embeds, mask = model.left_pad([prefix for prefix, _ in items])
    lm: Any = model.lm_model
    flat = [ids for _, conts in items for ids in conts]
    rows = torch.tensor([q for q, (_, conts) in enumerate(items) for _ in conts],
                        device=embeds.device)
    multi = any(len(ids) > 1 for ids in flat)
    out = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=default_position_ids(mask),
             use_cache=multi, logits_to_keep=1)
    first = out.logits[:, -1].double().log_softmax(-1)[rows]  # [continuations, vocab]
    firsts = torch.tensor([ids[0] for ids in flat], device=embeds.device)
    logprob = first.gather(1, firsts[:, None])[:, 0]
    greedy = first.argmax(-1) == firsts
    if multi:
        rest_lp, rest_greedy = _rest(model, getattr(out, CACHE_ARG), mask, rows, flat)
        logprob, greedy = logprob + rest_lp, greedy & rest_greedy
    lps, greedies = logprob.tolist(), greedy.tolist()
    found: list[list[Likelihood]] = []
    n = 0
    for _, conts in items:
        found.append([Likelihood(lps[n + k], len(ids), bool(greedies[n + k]))
                      for k, ids in enumerate(conts)])
        n += len(conts)
    return found


def _rest(model: InfMLLM, cache: Any, mask: Tensor, rows: Tensor, flat: list[list[int]],
          ) -> tuple[Tensor, Tensor]:
    """Summed log-probability of every continuation's tokens after the first (and whether
    each was the argmax), from the prefix cache expanded to one row per continuation."""
    cache.reorder_cache(rows)
    width = max(len(ids) for ids in flat) - 1
    pad = model.config.pad_id
    inputs = torch.tensor([ids[:-1] + [pad] * (width + 1 - len(ids)) for ids in flat],
                          device=mask.device)
    targets = torch.tensor([ids[1:] + [pad] * (width + 1 - len(ids)) for ids in flat],
                           device=mask.device)
    valid = torch.tensor([[1] * (len(ids) - 1) + [0] * (width + 1 - len(ids)) for ids in flat],
                         device=mask.device)
    starts = mask.sum(1)[rows]  # the first continuation position of each row
    positions = starts[:, None] + torch.arange(width, device=mask.device)[None, :]
    full_mask = torch.cat((mask[rows], valid), dim=1)
    lm: Any = model.lm_model
    out = lm(inputs_embeds=model.embed_tokens(inputs), attention_mask=full_mask,
             position_ids=positions, use_cache=True, **{CACHE_ARG: cache})
    logp = out.logits.double().log_softmax(-1)
    picked = logp.gather(2, targets[:, :, None])[:, :, 0]
    is_top = (logp.argmax(-1) == targets) | (valid == 0)
    return (picked * valid).sum(1), is_top.all(1)
