"""What every task family provides: its options, the prompt fields, and scoring."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.registry import did_you_mean
from infmllm_eval.types import Sample


class TargetError(BadInputError):
    """Ground truth a family cannot score, naming the item; the scorer adds the file."""


@dataclass(frozen=True)
class OptionSpec:
    """A scoring option a user may set with ``--option name=value``."""

    name: str
    default: str
    choices: tuple[str, ...]
    help: str


class ScoredSample(NamedTuple):
    """One sample's outcome; ``score`` is the primary metric's contribution (percent).

    A NamedTuple (immutable, and cheap to create for the 214k samples of VQAv2 val)."""

    id: int | str
    score: float
    prediction: str | None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class FamilyScores:
    """Scores of one task: headline metrics, grouped breakdowns and the per-sample list."""

    metrics: dict[str, float]
    breakdown: dict[str, dict[str, Any]]
    per_sample: list[ScoredSample]
    parse_failures: int = 0
    # values whose mean is the primary metric, for its bootstrap interval: None means the
    # per-sample scores; [] means the primary metric has no such interval (e.g. a sum)
    ci_units: list[float] | None = None


class Family(Protocol):
    """A task family (vqa, gqa, caption ...): model-agnostic prompts and official scoring."""

    name: str
    options: tuple[OptionSpec, ...]

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        """The fields a prompt style renders (question, expression, options ...)."""
        ...

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        """Score every sample; a None prediction (missing) scores as wrong."""
        ...

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """The benchmark's official submission object (for splits without public answers)."""
        ...


def resolve_options(
    family: Family, card_options: Mapping[str, Any], user: Mapping[str, str], where: str,
    model: Mapping[str, Any] | None = None, model_where: str = "model card",
) -> dict[str, str]:
    """Family defaults, then the task card's, the model card's ``task_options`` (only those
    this family has: a model declares e.g. its box format once for every task), then the
    user's; every name and value checked."""
    specs = {o.name: o for o in family.options}
    resolved = {name: spec.default for name, spec in specs.items()}
    from_model = {k: v for k, v in (model or {}).items() if k in specs}
    sources = ((f"{where} options", card_options), (f"{model_where} task_options", from_model),
               ("--option", user))
    for source, given in sources:
        for name, value in given.items():
            if name not in specs:
                hint = did_you_mean(name, sorted(specs))
                raise BadInputError(
                    f"{source}: unknown option {shown(name)} for the {family.name} family.{hint}"
                    f" Options: {', '.join(sorted(specs)) or '(none)'}"
                )
            text = str(value)
            if text not in specs[name].choices:
                raise BadInputError(
                    f"{source}: {name}={shown(text)} is not one of {', '.join(specs[name].choices)}"
                )
            resolved[name] = text
    return resolved


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; nan for no values."""
    total, count = 0.0, 0
    for v in values:
        total += v
        count += 1
    return total / count if count else float("nan")


def means_by_meta(
    samples: list[Sample], scored: list[ScoredSample], keys: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """For each meta key, the mean score per value (samples without the key are left out);
    keys no sample has are omitted. One pass over the samples."""
    sums: dict[str, dict[str, list[float]]] = {k: defaultdict(lambda: [0.0, 0.0]) for k in keys}
    for sample, result in zip(samples, scored, strict=True):
        meta = sample.meta
        for key in keys:
            name = meta.get(key)
            if name:
                acc = sums[key][name]
                acc[0] += result.score
                acc[1] += 1
    return {key: {name: total / count for name, (total, count) in sorted(groups.items())}
            for key, groups in sums.items() if groups}
