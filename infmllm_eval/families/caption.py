"""Captioning (COCO / Flickr30k Karpathy, NoCaps): the official COCO caption metrics.

Metrics are reported as papers report them: pycocoevalcap's values x 100 (CIDEr 124.2); the
raw values (CIDEr 1.242) are kept in the breakdown. A sample's score is its image's CIDEr x 100,
so the mean over images is the task's CIDEr and its bootstrap interval is over images (with
the document frequencies of the whole scored set). NoCaps also reports each domain, scored as
a set of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.families.base import (
    Family,
    FamilyScores,
    MetricSpec,
    OptionSpec,
    ScoredSample,
    TargetError,
)
from infmllm_eval.metrics.caption import SCORERS, CaptionScorer, CaptionScores, tokenize_sets
from infmllm_eval.types import Sample

CONVENTION = {
    "metrics": "pycocoevalcap values x 100, as papers report them (CIDEr 124.2)",
    "pycocoevalcap": "the raw pycocoevalcap values (CIDEr 1.242)",
    "tokenization": "pycocoevalcap PTBTokenizer (lower-case, punctuation dropped), once per task",
    "CIDEr": "CIDEr-D; document frequencies from the references of the whole scored set",
    "domain": "each NoCaps domain scored as a set of its own; 'entire' is the whole split",
}
DOMAIN_METRICS = ("CIDEr", "SPICE")  # also given per domain in the headline metrics


def _scaled(values: Mapping[str, float]) -> dict[str, float]:
    return {name: 100.0 * value for name, value in values.items()}


def _caption_sets(samples: list[Sample], predictions: Mapping[str, str | None],
                  ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """References and hypotheses by sample key; a missing prediction is an empty caption."""
    refs: dict[str, list[str]] = {}
    hyps: dict[str, list[str]] = {}
    for sample in samples:
        targets = sample.targets
        if (not isinstance(targets, list) or not targets
                or not all(isinstance(t, str) for t in targets)):
            raise BadInputError(f"caption sample {shown(sample.id)}: needs a list of reference "
                                "captions (this split has no references?)")
        refs[sample.key] = targets
        hyps[sample.key] = [predictions.get(sample.key) or ""]
    return refs, hyps


def _check_words(gts: Mapping[str, list[str]], ids: Mapping[str, int | str],
                 domain: str | None = None) -> None:
    """pycocoevalcap's CIDEr fails (max() of nothing) on a set whose references all tokenize
    to nothing; a set where only some do is scored as pycocoevalcap scores it."""
    if any(ref for refs in gts.values() for ref in refs):
        return
    first = next(iter(gts))
    scope = f"of domain {shown(domain)} " if domain is not None else ""
    raise TargetError(
        f"image {shown(ids[first])}: every reference caption of the {len(gts)} scored "
        f"image(s) {scope}tokenizes to nothing (only punctuation or blanks), which the "
        "official pycocoevalcap cannot score; fix the reference captions")


def _domains(samples: list[Sample]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for sample in samples:
        domain = sample.meta.get("domain")
        if domain:
            groups.setdefault(str(domain), []).append(sample.key)
    return dict(sorted(groups.items()))


def _per_sample(samples: list[Sample], predictions: Mapping[str, str | None],
                entire: CaptionScores) -> list[ScoredSample]:
    others = [name for name in entire.per_image if name != "CIDEr"]
    cider = entire.per_image["CIDEr"]
    return [ScoredSample(sample.id, 100.0 * cider[i], predictions.get(sample.key),
                         {name: 100.0 * entire.per_image[name][i] for name in others})
            for i, sample in enumerate(samples)]


class CaptionFamily(Family):
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (primary) and SPICE through pycocoevalcap."""

    name = "caption"
    metrics = (
        MetricSpec("CIDEr", help="CIDEr-D, the mean of the per-image scores"),
        MetricSpec("CIDEr_*", help="CIDEr-D per NoCaps domain"),
        MetricSpec("SPICE", help="SPICE, the mean of the per-image F-scores"),
        MetricSpec("SPICE_*", help="SPICE per NoCaps domain"),
        MetricSpec("Bleu_*", aggregate="corpus", help="BLEU-1..4 over the corpus"),
        MetricSpec("METEOR", aggregate="corpus", help="METEOR 1.5 over the corpus"),
        MetricSpec("ROUGE_L", help="ROUGE-L, the mean of the per-image scores"),
    )
    primary_metric = "CIDEr"
    always_submit = True  # the official result file is written next to every scoring
    options = (
        OptionSpec("spice", "auto", ("auto", "off"),
                   "auto: SPICE when Stanford CoreNLP 3.6.0 is installed in pycocoevalcap's "
                   "spice/lib (never downloaded), else reported unavailable; off: skip it"),
    )

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        refs, hyps = _caption_sets(samples, predictions)
        gts, res = tokenize_sets(refs, hyps)  # one tokenizer call for the whole task
        ids = {s.key: s.id for s in samples}
        _check_words(gts, ids)
        spice = options.get("spice", "auto") == "auto"
        scorers = SCORERS if spice else tuple(s for s in SCORERS if s != "SPICE")
        domains = _domains(samples)
        for name, keys in domains.items():
            _check_words({k: gts[k] for k in keys}, ids, name)
        with CaptionScorer(scorers) as scorer:
            entire = scorer.score(gts, res)
            by_domain = {name: scorer.score({k: gts[k] for k in keys}, {k: res[k] for k in keys})
                         for name, keys in domains.items()}
        metrics = _scaled(entire.corpus)
        for domain, result in by_domain.items():
            for name in DOMAIN_METRICS:
                if name in result.corpus:
                    metrics[f"{name}_{domain}"] = 100.0 * result.corpus[name]
        unavailable = dict(entire.unavailable)
        if not spice:
            unavailable["SPICE"] = "skipped (option spice=off)"
        breakdown: dict[str, dict[str, Any]] = {"pycocoevalcap": dict(entire.corpus),
                                                 "convention": dict(CONVENTION)}
        if unavailable:
            breakdown["unavailable"] = unavailable
        if by_domain:
            breakdown["domain"] = {name: _scaled(r.corpus) for name, r in by_domain.items()}
            breakdown["domain"]["entire"] = _scaled(entire.corpus)
        return FamilyScores(metrics, breakdown, _per_sample(samples, predictions, entire))

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """The official result file: ``[{image_id, caption}]`` for every image with a caption
        (images without a prediction are left out rather than given an invented caption)."""
        return [{"image_id": s.id, "caption": predictions[s.key]} for s in samples
                if predictions.get(s.key) is not None]


CAPTION = CaptionFamily()
