"""Model adapters: the one contract the engine drives, and lookup by a card's ``adapter``.

Other packages add adapters through the ``infmllm_eval.adapters`` entry-point group; the
value names a :class:`ModelAdapter` subclass, built by its ``from_card`` class method."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from infmllm_eval.cards import ModelCard
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.registry import Registry
from infmllm_eval.types import Request, Response


class ModelAdapter(ABC):
    """Turns requests into responses, one per request and in the same order.

    ``generate`` is the one required method. The others are optional hooks with defaults:
    the engine calls them unconditionally. An adapter that splits its work into a CPU part
    (``prepare``, run in a worker thread on the next batch while this one computes) and a
    device part (``run``) overlaps the two.

    Engine services for any adapter: ``engine.oom.BatchHalving`` (halve a batch that runs
    out of memory, remember the size that fitted), ``engine.feature_cache.ImageFeatures``
    (each image's features computed once, LRU/disk-cached, counted for ``stats``)::

        self.halving, self.features = BatchHalving(self.name, device), ImageFeatures(FeatureCache())
        outputs = self.halving.run(items, self._forward)  # one output per item, in order
        feats = self.features.lookup(image_keys, self._encode)  # _encode(missing keys)"""

    name: str = ""
    #: the adapter takes a ``device`` option: under torchrun the engine gives each rank its
    #: own GPU (``cuda:LOCAL_RANK``) unless the user set one
    accepts_device: bool = False
    #: the adapter answers likelihood requests (``loglikelihood``): a task that needs them
    #: is refused at the start of the run when a model's adapter does not
    scores_likelihood: bool = False

    @classmethod
    def from_card(cls, card: ModelCard, options: Mapping[str, str]) -> ModelAdapter:
        """Build the adapter from its model card and the merged options (the card's, then
        the user's ``--model-option``); by default ``cls(card, options)``."""
        return cls(card, options)  # type: ignore[call-arg]

    @abstractmethod
    def generate(self, requests: list[Request]) -> list[Response]:
        """The responses to ``requests``, in order."""

    def start_task(self, name: str) -> None:
        """Called by the engine before each task's requests. A model must answer a request
        from the request alone (its prompt comes from the family, never the task name); this
        hook is for adapters that replay saved per-task outputs (``scripted``)."""
        return  # nothing to do by default (not abstract: most adapters ignore it)

    def provenance(self) -> dict[str, Any]:
        """What identifies the model's outputs (checkpoint hash, dtype ...) for run.json."""
        return {"adapter": type(self).__name__}

    def request_cost(self, request: Request) -> int:
        """A request's prompt length, or any cost: the engine batches requests of similar
        cost together (all 0: the order is kept)."""
        return 0

    def prepare(self, requests: list[Request]) -> Any:
        """CPU work for a batch (image decoding, tokenisation); safe in a worker thread."""
        return requests

    def run(self, prepared: Any) -> list[Response]:
        """The responses to a prepared batch."""
        return self.generate(prepared)

    def loglikelihood(self, requests: list[Request]) -> list[Response]:
        """Likelihood requests (``Request.continuations``): one Response per request whose
        ``likelihoods`` score each continuation after the rendered prompt. Adapters that set
        ``scores_likelihood`` override it (the engine never calls it otherwise)."""
        raise BadInputError(f"model {self.name}: this adapter cannot score likelihoods "
                            "(use inferencer=generation)")

    def run_likelihood(self, prepared: Any) -> list[Response]:
        """The likelihood responses to a prepared batch (``prepare``'s output)."""
        return self.loglikelihood(prepared)

    def seed(self, value: int) -> None:
        """Seed the sampling generator before a task whose decoding samples (``--seed``);
        adapters that sample must override it (the default refuses, so a seed is never
        silently ignored)."""
        raise BadInputError(f"model {self.name}: this adapter cannot be seeded, so sampled "
                            "answers would not be reproducible; decode greedily "
                            "(do_sample=false)")

    def stats(self) -> dict[str, Any]:
        """Counters for metrics.json (ViT forwards, cache hits ...)."""
        return {}


ADAPTERS: Registry[type[ModelAdapter]] = Registry("adapter", "infmllm_eval.adapters")
ADAPTERS.lazy("scripted", "infmllm_eval.adapters.scripted:ScriptedAdapter")
ADAPTERS.lazy("infmllm", "infmllm_eval.adapters.infmllm:InfMLLMAdapter")


def adapter_class(card: ModelCard) -> type[ModelAdapter]:
    """The adapter class a model card names (its capabilities are readable before it is
    built)."""
    try:
        cls = ADAPTERS.get(card.adapter)
    except BadInputError as exc:
        raise type(exc)(f"{card.path}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
        raise BadInputError(f"{card.path}: adapter {card.adapter!r} is not a ModelAdapter "
                            "subclass (see infmllm_eval.adapters)")
    return cls


def create_adapter(card: ModelCard, options: Mapping[str, str]) -> ModelAdapter:
    """Build the adapter a model card names, with the card's options overridden by the user's."""
    merged = {k: str(v) for k, v in card.options.items()} | dict(options)
    return adapter_class(card).from_card(card, merged)


def check_likelihood(adapter: type[ModelAdapter], model: str, tasks: list[str]) -> None:
    """Refuse, before any work, tasks that need likelihood scoring from a model whose adapter
    cannot give it."""
    if tasks and not adapter.scores_likelihood:
        raise BadInputError(
            f"model {model} (adapter {adapter.__name__}) cannot score likelihoods, which task "
            f"{shown(tasks[0])} needs (inferencer=likelihood); use --option "
            "inferencer=generation or a model that scores")
