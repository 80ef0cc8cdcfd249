"""Referring-expression grounding (RefCOCO, RefCOCO+, RefCOCOg): Acc@0.5 over expressions.

The model's box is parsed from its text, mapped back to original-image pixels by inverting
the model's preprocessing (see :mod:`infmllm_eval.metrics.boxes`) and compared with the ground
truth by IoU (xyxy, plain areas). An unparsable answer is a miss and counts as a parse failure;
a missing prediction is a miss too (counted as missing, not as a parse failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.families.base import (
    Family,
    FamilyScores,
    MetricSpec,
    OptionSpec,
    ScoredSample,
    mean,
    means_by_meta,
)
from infmllm_eval.metrics.boxes import (
    ACC_THRESHOLDS,
    BOX_FORMATS,
    IMAGE_TRANSFORMS,
    Box,
    box_iou,
    parse_box,
    to_pixels,
)
from infmllm_eval.types import Sample

PRIMARY_THRESHOLD = 0.5


def predicted_box(text: str, sample: Sample, options: Mapping[str, str]) -> Box | None:
    """The sample's predicted box in original-image pixels, or None when unparsable."""
    parsed = parse_box(text)
    if parsed is None:
        return None
    return to_pixels(parsed, options["box_format"], options["image_transform"],
                     sample.meta["width"], sample.meta["height"])


def _acc_name(threshold: float) -> str:
    return f"acc@{threshold}"


class GroundingFamily(Family):
    """Acc@0.5 (primary), Acc@0.3/0.7/0.9 and mean IoU, all in percent."""

    name = "grounding"
    metrics = (MetricSpec("acc@*", help="% of expressions whose box has IoU >= the threshold"),
               MetricSpec("mean_iou", help="mean IoU (percent); a miss counts 0"))
    primary_metric = "acc@0.5"
    options = (
        OptionSpec("box_format", "unit", BOX_FORMATS,
                   "coordinate space of the model's boxes: unit (0-1), thousand (0-1000) or "
                   "pixels"),
        OptionSpec("image_transform", "squash", IMAGE_TRANSFORMS,
                   "the model's image preprocessing, inverted to get original pixels: squash "
                   "(resize to a square, InfMLLM multitask) or expand2square (pad to a centred "
                   "square first, LLaVA-style chat models)"),
    )

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"expression": sample.fields["expression"]}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        scored: list[ScoredSample] = []
        ious: list[float] = []
        failures = 0
        for sample in samples:
            raw = predictions.get(sample.key)
            box = predicted_box(raw, sample, options) if raw is not None else None
            if raw is not None and box is None:
                failures += 1
            gt = sample.targets
            iou = box_iou(box, (gt[0], gt[1], gt[2], gt[3])) if box is not None else 0.0
            ious.append(iou)
            hit = iou >= PRIMARY_THRESHOLD
            scored.append(ScoredSample(sample.id, 100.0 if hit else 0.0, raw,
                                       {"box": None if box is None else list(box), "iou": iou}))
        metrics = {_acc_name(PRIMARY_THRESHOLD): mean(r.score for r in scored)}
        for threshold in ACC_THRESHOLDS:
            if threshold != PRIMARY_THRESHOLD:
                metrics[_acc_name(threshold)] = 100.0 * mean(
                    1.0 if iou >= threshold else 0.0 for iou in ious)
        metrics["mean_iou"] = 100.0 * mean(ious)
        breakdown = means_by_meta(samples, scored, ("split",))
        return FamilyScores(metrics, breakdown, scored, parse_failures=failures)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """The parsed boxes in original pixels (None when unparsable or missing)."""
        out = []
        for s in samples:
            raw = predictions.get(s.key)
            box = predicted_box(raw, s, options) if raw is not None else None
            out.append({"sent_id": s.id, "box": None if box is None else list(box)})
        return out


GROUNDING = GroundingFamily()
