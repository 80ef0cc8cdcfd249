"""What a family declares about a metric of a results entry: which way is better, how it
aggregates and which per-sample field groups rows into units (see families.base).

Reports, diffs and gates read results files, whose family may be a plug-in that is not
installed here. Then the metric is taken as higher-is-better, as before families declared
directions, and ``assumed`` says why, for the report or verdict to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infmllm_eval.errors import InfmllmEvalError, shown
from infmllm_eval.families.base import HIGHER, LOWER, NO_DIRECTION

__all__ = ["HIGHER", "LOWER", "NO_DIRECTION", "Declared", "declared"]


@dataclass(frozen=True)
class Declared:
    """A metric's direction (higher, lower, none), its aggregate (None: not declared) and
    the unit field of its rows (None: a unit is a sample); ``assumed`` is '' when the family
    declares the metric, else why higher-is-better was assumed."""

    better: str = HIGHER
    aggregate: str | None = None
    unit_key: str | None = None
    assumed: str = ""


def declared(entry: Mapping[str, Any], metric: str) -> Declared:
    """The declaration of ``metric`` by the family of a metrics.json ``entry`` (scored with
    the entry's ``variant``)."""
    from infmllm_eval.families import FAMILIES, get_family

    name = entry.get("family")
    if not isinstance(name, str) or not name:
        return Declared(assumed="the results name no family")
    if name not in FAMILIES:
        return Declared(assumed=f"family {shown(name, 60)} is not installed")
    try:
        family = get_family(name)
        variant = entry.get("variant")
        given = variant if isinstance(variant, Mapping) else {}
        options = family.default_options() | {str(k): str(v) for k, v in given.items()}
        spec = family.metric(metric, options)
    except InfmllmEvalError as exc:  # a broken plug-in: say so, do not stop the report
        return Declared(assumed=f"family {shown(name, 60)} cannot be loaded ({exc})")
    if spec is None:
        return Declared(assumed=f"the {name} family does not declare {shown(metric, 60)}")
    # unit_key groups the rows of the family's own primary metric only (CircularEval
    # questions); another metric chosen as primary averages its samples
    unit_key = family.unit_key if metric == family.primary_metric else None
    return Declared(spec.better, spec.aggregate, unit_key)
