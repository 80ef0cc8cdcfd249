"""The lmms-eval model ``infmllm``: our model adapters behind lmms-eval's ``lmms`` interface.

    lmms-eval --model infmllm --model_args card=infmllm-7b,weights=/ckpt/infmllm-7b \\
        --tasks vqav2_val --batch_size 16

``--model_args``: ``card`` (a model card of ours, of any registered adapter), ``prompt``
(``instruction``, the default, or ``question``: see :data:`bridge.PROMPT_FAMILIES`), and any
``--model-option`` of the card's adapter (for ``infmllm``: weights, tokenizer, device, dtype,
attn, feature_cache …), and ``loglikelihood`` (``loss``, the default, or ``logprob``: what a
loglikelihood answer holds, see :mod:`infmllm_eval.lmms.likelihood`). lmms-eval's ``--device``
reaches adapters that take a device. generate_until and loglikelihood requests are answered
(loglikelihood by adapters that score likelihoods); multi-round requests raise a clear error.
Imported by lmms-eval only (this module imports lmms_eval).
"""

from __future__ import annotations

import os
from typing import Any

from lmms_eval.api.instance import GenerationResult
from lmms_eval.api.model import lmms

from infmllm_eval.adapters import adapter_class, create_adapter
from infmllm_eval.cards import generation_with
from infmllm_eval.catalog import resolve_model
from infmllm_eval.commands import parse_batch_size
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.lmms.bridge import (
    DEFAULT_MAX_NEW_TOKENS,
    PROMPT_FAMILIES,
    Pending,
    generate_all,
    make_request,
)
from infmllm_eval.lmms.likelihood import VALUES, Scoring, continuation_text, score_all
from infmllm_eval.types import GenerationConfig


class UnsupportedRequestError(NotImplementedError):
    """lmms-eval asked for something the model does not do (multi-round, or log-likelihood
    from an adapter that cannot score)."""


def _option_text(value: Any) -> str:
    """lmms-eval parses model_args into Python values; the adapter takes strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class InfMLLM(lmms):  # type: ignore[misc]  # lmms_eval is untyped
    """A model card of ours for lmms-eval: requests are rendered by the card's prompt style
    and generated in batches of ``batch_size`` (equal decoding settings, longest first);
    loglikelihood requests are scored ``batch_size`` docs at a time, the continuations of a
    doc from one prefix."""

    is_simple = True

    def __init__(self, card: str = "infmllm-7b", prompt: str = "instruction",
                 batch_size: int | str = 1, max_batch_size: int | None = None,
                 device: str | None = None, loglikelihood: str = "loss",
                 **options: Any) -> None:
        super().__init__()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise BadInputError("infmllm under lmms-eval runs in one process (launch without "
                                "accelerate/torchrun; several GPUs: `infmllm-eval run`)")
        if prompt not in PROMPT_FAMILIES:
            raise BadInputError(f"--model_args prompt={shown(prompt)}: expected "
                                f"{' or '.join(PROMPT_FAMILIES)}")
        if loglikelihood not in VALUES:
            raise BadInputError(f"--model_args loglikelihood={shown(loglikelihood)}: expected "
                                f"{' or '.join(VALUES)}")
        self.values = loglikelihood
        model_card = resolve_model(str(card))
        adapter_options = {k: _option_text(v) for k, v in options.items()}
        if device and adapter_class(model_card).accepts_device:
            adapter_options.setdefault("device", str(device))
        self.adapter = create_adapter(model_card, adapter_options)
        # the device option in effect; "cpu" when none is set (an adapter may still pick its
        # own: infmllm takes cuda when available)
        self._device = (adapter_options.get("device")
                        or str(model_card.options.get("device") or "cpu"))
        self.prompt = prompt
        self.batch_size_per_gpu = parse_batch_size(str(batch_size))
        self.base_generation = generation_with(
            GenerationConfig(max_new_tokens=DEFAULT_MAX_NEW_TOKENS), model_card.generation,
            model_card.path)

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    @property
    def device(self) -> str:
        """The ``device`` option given (model_args, lmms-eval's --device or the model card),
        else "cpu"."""
        return self._device

    def generate_until(self, requests: list[Any]) -> list[str]:
        """One answer per request, in order; each request's image is taken from its doc."""
        pending = [self._pending(i, req) for i, req in enumerate(requests)]
        bar = _progress(len(pending), self.rank)
        try:
            return generate_all(pending, self.adapter.generate, self.batch_size,
                                self.adapter.request_cost, bar.update)
        finally:
            bar.close()

    def _pending(self, index: int, instance: Any) -> Pending:
        context, gen_kwargs, doc_to_visual, doc_id, task, split = _six(instance,
                                                                       "generate_until")
        where = f"lmms-eval task {task}, doc {doc_id}"

        def visuals() -> Any:
            return doc_to_visual(self.task_dict[task][split][doc_id])

        return make_request(str(index), context, visuals, dict(gen_kwargs or {}),
                            self.base_generation, self.prompt, where)

    def loglikelihood(self, requests: list[Any]) -> list[Any]:
        """(value, is_greedy) per request, in order (value: ``loss`` or ``logprob``, see
        :mod:`infmllm_eval.lmms.likelihood`), each in a ``GenerationResult``: lmms-eval 0.7.3
        turns any other output that is not text into ``str(output)`` (its
        ``unwrap_generation_output``), and its multiple_choice scoring would then fail; a
        GenerationResult's ``text`` is passed on as it is. Refused before any work when the
        card's adapter cannot score."""
        if not self.adapter.scores_likelihood:
            raise UnsupportedRequestError(
                f"infmllm: model card {self.adapter.name} ({type(self.adapter).__name__}) "
                "cannot score loglikelihood requests; use generate_until tasks or a model "
                "that scores")
        items = [self._scoring(req) for req in requests]
        bar = _progress(len(items), self.rank)
        try:
            answers = score_all(items, self.adapter.loglikelihood, self.batch_size,
                                self.adapter.request_cost, self.prompt, self.values, bar.update)
            return [GenerationResult(text=answer) for answer in answers]
        finally:
            bar.close()

    def _scoring(self, instance: Any) -> Scoring:
        context, continuation, doc_to_visual, doc_id, task, split = _six(instance,
                                                                         "loglikelihood")
        where = f"lmms-eval task {task}, doc {doc_id}"

        def doc() -> Any:
            return self.task_dict[task][split][doc_id]

        if callable(continuation):  # output_type loglikelihood: doc_to_target itself
            continuation = continuation(doc())
        return Scoring(context, continuation_text(continuation, where), (task, split, doc_id),
                       lambda: doc_to_visual(doc()), where)

    def generate_until_multi_round(self, requests: list[Any]) -> list[str]:
        raise UnsupportedRequestError(
            "infmllm does not support multi-round generation (generate_until_multi_round): "
            "InfMLLM answers one image and one prompt per request; use generate_until tasks")


class _NoBar:
    def update(self, n: int) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def _progress(total: int, rank: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, disable=rank != 0, desc="infmllm responding")


def _six(instance: Any, kind: str) -> tuple[Any, ...]:
    """The six arguments of a multimodal lmms-eval request: (context, gen_kwargs or
    continuation, doc_to_visual, doc_id, task, split)."""
    args = tuple(instance.args)
    if len(args) != 6:
        raise UnsupportedRequestError(f"infmllm: unexpected {kind} arguments ({len(args)} "
                                      "values, expected 6)")
    return args
