"""Task families, looked up lazily by the ``family`` field of a task card."""

from __future__ import annotations

import importlib

from infmllm_eval.errors import UnknownNameError
from infmllm_eval.registry import did_you_mean
from infmllm_eval.families.base import Family

# family name -> "module:attribute" holding the Family instance
FAMILIES: dict[str, str] = {
    "vqa": "infmllm_eval.families.vqa:VQA",
    "gqa": "infmllm_eval.families.gqa:GQA",
    "caption": "infmllm_eval.families.caption:CAPTION",
    "grounding": "infmllm_eval.families.grounding:GROUNDING",
    "yes_no": "infmllm_eval.families.yes_no:YES_NO",
    "multiple_choice": "infmllm_eval.families.multiple_choice:MULTIPLE_CHOICE",
}


def get_family(name: str) -> Family:
    """The Family registered under ``name``."""
    if name not in FAMILIES:
        hint = did_you_mean(name, sorted(FAMILIES))
        raise UnknownNameError(f"unknown task family {name!r}.{hint}")
    module, attr = FAMILIES[name].split(":")
    family: Family = getattr(importlib.import_module(module), attr)
    return family
