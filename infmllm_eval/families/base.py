"""What every task family provides: its options, the prompt fields, and scoring."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from itertools import repeat
from operator import add, attrgetter, itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.metrics.postprocess import POSTPROCESSORS, get_postprocessor
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
    #: False for an option added after runs were recorded whose default reproduces the
    #: earlier scoring: it enters the recorded variant only when set otherwise, so earlier
    #: metrics files, baselines and reports stay comparable
    record_default: bool = True


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


HIGHER, LOWER, NO_DIRECTION = "higher", "lower", "none"
#: how a metric is made from the samples: ``mean`` of per-unit scores (a bootstrap interval
#: applies), ``ratio`` of counts (precision, a yes-ratio), ``sum`` of sub-scores (MME's
#: perception), ``corpus`` (a corpus statistic such as BLEU), ``count`` (parse failures)
AGGREGATES = ("mean", "ratio", "sum", "corpus", "count")


@dataclass(frozen=True)
class MetricSpec:
    """A metric a family produces: its name (``accuracy``; a trailing ``*`` declares a set,
    ``accuracy_*`` for one per answer type), which way is better (higher, lower, or none for
    a diagnostic such as a yes-ratio) and how it aggregates."""

    name: str
    better: str = HIGHER
    aggregate: str = "mean"
    help: str = ""

    def __post_init__(self) -> None:
        if self.better not in (HIGHER, LOWER, NO_DIRECTION):
            raise ValueError(f"metric {self.name}: better={self.better!r}: expected "
                             f"{HIGHER}, {LOWER} or {NO_DIRECTION}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"metric {self.name}: aggregate={self.aggregate!r}: expected one "
                             f"of {', '.join(AGGREGATES)}")

    def matches(self, name: str) -> bool:
        """Whether ``name`` is this metric (or one of its set)."""
        if self.name.endswith("*"):
            return name.startswith(self.name[:-1]) and len(name) > len(self.name) - 1
        return name == self.name

    @property
    def bootstrap(self) -> bool:
        """Whether a bootstrap interval of the mean applies."""
        return self.aggregate == "mean"


class Family(ABC):
    """A task family (vqa, gqa, caption ...): model-agnostic prompt fields and official
    scoring. Subclasses set the class fields and implement ``request_fields`` and ``score``;
    the optional capabilities are fields with defaults, never probed."""

    name: str = ""
    #: scoring options a card, a model card's task_options or ``--option`` may set
    options: tuple[OptionSpec, ...] = ()
    #: every metric ``score`` can produce (see ``metric_specs`` for option-dependent sets)
    metrics: tuple[MetricSpec, ...] = ()
    #: the metric a card names when it does not choose
    primary_metric: str = ""
    #: also write the official submission file next to the metrics of a scored run
    always_submit: bool = False
    #: ``score --predictions FOLDER`` reads the benchmark's own result folder
    reads_result_folder: bool = False
    #: the per-sample field grouping rows into the primary metric's units (MMBench's
    #: CircularEval: a question of several passes); None: a unit is a sample
    unit_key: str | None = None

    @abstractmethod
    def request_fields(self, sample: Sample) -> dict[str, Any]:
        """The fields a prompt style renders (question, expression, options ...)."""

    @abstractmethod
    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        """Score every sample; a None prediction (missing) scores as wrong."""

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """The benchmark's official submission object (for splits without public answers);
        by default one ``{"id", "prediction"}`` row per sample."""
        return [{"id": s.id, "prediction": predictions.get(s.key) or ""} for s in samples]

    def read_result_folder(self, path: Path) -> dict[str, str]:
        """Responses by sample key from the benchmark's result folder (when
        ``reads_result_folder``)."""
        raise BadInputError(f"{path}: a folder; the {self.name} family reads a predictions "
                            "file (JSONL or a JSON list)")

    def metric_specs(self, options: Mapping[str, str]) -> tuple[MetricSpec, ...]:
        """The metrics ``score`` produces with these options (by default all of them)."""
        return self.metrics

    def uses_likelihood(self, options: Mapping[str, str]) -> bool:
        """Whether these options answer the samples by likelihood inference (the model
        scores ``continuations``) instead of generated text; by default never."""
        return False

    def continuations(self, sample: Sample, options: Mapping[str, str]) -> tuple[str, ...]:
        """The candidate continuations a likelihood request scores for ``sample`` (read only
        when ``uses_likelihood``)."""
        return ()

    def metric(self, name: str, options: Mapping[str, str] | None = None) -> MetricSpec | None:
        """The declaration of metric ``name`` (None when the family does not produce it)."""
        specs = self.metric_specs(options or self.default_options())
        return next((m for m in specs if m.matches(name)), None)

    def unproduced(self, primary: str, options: Mapping[str, str]) -> str:
        """'' when ``primary`` is a metric this family produces with ``options``; else, for
        the caller's message, the closest names and what it gives instead."""
        if self.metric(primary, options) is not None:
            return ""
        known = [m.name for m in self.metric_specs(options)]
        return f"{did_you_mean(primary, known)} It gives: {', '.join(known) or '(nothing)'}"

    def default_options(self) -> dict[str, str]:
        """Every option at its default."""
        return {o.name: o.default for o in self.options}


class QuestionFamily(Family):
    """A family whose request is the sample's question (VQA, GQA, yes/no)."""

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"question": sample.fields["question"]}


def postprocess_option(help_text: str) -> OptionSpec:
    """The ``postprocess`` option: a registered clean-up of the raw model text."""
    return OptionSpec("postprocess", "none", tuple(POSTPROCESSORS.names()), help_text)


def recorded_variant(family: Family, options: Mapping[str, str]) -> dict[str, str]:
    """The scoring options a metrics file records as the task's variant."""
    specs = {o.name: o for o in family.options}
    return {k: v for k, v in options.items()
            if k not in specs or specs[k].record_default or v != specs[k].default}


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


def grouped_means(metas: Iterable[dict[str, Any]], values: Iterable[float],
                  keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """For each meta key, the mean value per name the key takes, names sorted: ``metas[i]``
    describes ``values[i]`` (a sample's meta and score, or a unit's, such as a CircularEval
    question's). Metas without the key (or with an empty name) are left out; keys no meta has
    are omitted. Each group is summed one by one in the given order."""
    metas, values = list(metas), list(values)
    out: dict[str, dict[str, float]] = {}
    for key in keys:  # a pass per key: the names are read in C (VQAv2 val: 214k samples)
        groups: defaultdict[Any, list[float]] = defaultdict(list)
        for name, value in zip(map(dict.get, metas, repeat(key)), values, strict=True):
            groups[name].append(value)
        named = sorted(((name, group) for name, group in groups.items() if name),
                       key=itemgetter(0))
        means = {name: reduce(add, group, 0.0) / len(group) for name, group in named}
        if means:
            out[key] = means
    return out


def means_by_meta(
    samples: list[Sample], scored: list[ScoredSample], keys: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """``grouped_means`` of the samples' scores by their meta."""
    return grouped_means(map(attrgetter("meta"), samples), map(attrgetter("score"), scored),
                         keys)


def accuracy_metrics(scores: Iterable[float], breakdown: Mapping[str, Mapping[str, float]],
                     key: str = "answer_type") -> dict[str, float]:
    """``accuracy`` (the mean score) and an ``accuracy_<name>`` for each group of ``key`` in
    the breakdown (VQA's and GQA's answer types)."""
    metrics = {"accuracy": mean(scores)}
    for name, value in breakdown.get(key, {}).items():
        metrics[f"accuracy_{name}"] = value
    return metrics


def cleaned_submission(samples: list[Sample], predictions: Mapping[str, str | None],
                       postprocess: str, id_key: str, text_key: str) -> list[dict[str, Any]]:
    """An official answer file of open-ended questions (VQA, GQA): one ``{id_key: the sample
    id, text_key: the post-processed prediction}`` row per sample ('' when missing)."""
    clean = get_postprocessor(postprocess)
    return [{id_key: s.id, text_key: clean(predictions.get(s.key) or "")} for s in samples]
