"""Task families, looked up by the ``family`` field of a task card.

Other packages add families through the ``infmllm_eval.families`` entry-point group (the
value is the path of a :class:`~infmllm_eval.families.base.Family` instance)."""

from __future__ import annotations

from infmllm_eval.families.base import Family, MetricSpec, OptionSpec
from infmllm_eval.registry import PluginError, Registry

FAMILIES: Registry[Family] = Registry("task family", "infmllm_eval.families")
for _name, _path in (
    ("vqa", "infmllm_eval.families.vqa:VQA"),
    ("gqa", "infmllm_eval.families.gqa:GQA"),
    ("caption", "infmllm_eval.families.caption:CAPTION"),
    ("grounding", "infmllm_eval.families.grounding:GROUNDING"),
    ("yes_no", "infmllm_eval.families.yes_no:YES_NO"),
    ("multiple_choice", "infmllm_eval.families.multiple_choice:MULTIPLE_CHOICE"),
):
    FAMILIES.lazy(_name, _path)


def get_family(name: str) -> Family:
    """The Family registered under ``name``, its declarations checked (a plug-in's too)."""
    family = FAMILIES.get(name)
    if not isinstance(family, Family):
        raise PluginError(f"task family {name!r} is not a Family instance "
                          f"(got {type(family).__name__}); see infmllm_eval.families.base")
    if (name, id(family)) not in _CHECKED:  # declarations are fixed: checked once
        problem = _declaration_problem(family, name)
        if problem:
            raise PluginError(f"task family {name!r} ({type(family).__qualname__}): {problem}")
        _CHECKED.add((name, id(family)))
    return family


_CHECKED: set[tuple[str, int]] = set()


def _declaration_problem(family: Family, name: str) -> str:
    """What is wrong with a family's declarations ('' when nothing): metrics.json records
    ``family.name`` and reports look the family up by it, so it must be the registered one."""
    if family.name != name:
        return f"its name field is {family.name!r}, not the name it is registered under"
    if not all(isinstance(m, MetricSpec) for m in family.metrics) or not family.metrics:
        return "metrics must be a non-empty tuple of MetricSpec"
    if not all(isinstance(o, OptionSpec) and o.default in o.choices for o in family.options):
        return "every option must be an OptionSpec whose default is one of its choices"
    if family.metric(family.primary_metric) is None:
        return f"primary_metric {family.primary_metric!r} is not among its metrics"
    return ""
