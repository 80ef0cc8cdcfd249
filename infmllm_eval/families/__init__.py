"""Task families, looked up by the ``family`` field of a task card.

Other packages add families through the ``infmllm_eval.families`` entry-point group (the
value is the path of a :class:`~infmllm_eval.families.base.Family` instance)."""

from __future__ import annotations

from infmllm_eval.families.base import Family
from infmllm_eval.registry import Registry

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
    """The Family registered under ``name``."""
    family = FAMILIES.get(name)
    if not isinstance(family, Family):
        from infmllm_eval.registry import PluginError

        raise PluginError(f"task family {name!r} is not a Family instance "
                          f"(got {type(family).__name__}); see infmllm_eval.families.base")
    return family
