"""Named clean-ups of raw model text applied before scoring."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from infmllm_eval.registry import Registry

_INFMLLM_STOP: Final[re.Pattern[str]] = re.compile("Question|Answer|Short")


def identity(text: str) -> str:
    """Return the text unchanged."""
    return text


def infmllm_vqa(text: str) -> str:
    """InfMLLM's VQA answer cut (``postprocess_vqa_generation``), then strip.

    Keep the text before the first "Question", "Answer" or "Short" (case-sensitive, anywhere,
    even inside a word), then the text before the first ", ".
    """
    stop = _INFMLLM_STOP.search(text)
    head = text if stop is None else text[: stop.start()]
    return head.partition(", ")[0].strip()


#: other packages add post-processors (``str -> str``) through the
#: ``infmllm_eval.postprocessors`` entry-point group
POSTPROCESSORS: Final[Registry[Callable[[str], str]]] = Registry(
    "post-processor", "infmllm_eval.postprocessors")
POSTPROCESSORS.add("none", identity)
POSTPROCESSORS.add("infmllm-vqa", infmllm_vqa)


def get_postprocessor(name: str) -> Callable[[str], str]:
    """The post-processor registered as ``name``."""
    return POSTPROCESSORS.get(name)
