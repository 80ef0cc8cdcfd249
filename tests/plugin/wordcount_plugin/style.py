"""A prompt style that knows the word_count family's ``sentence`` field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.modeling.prompts import Prompt, PromptStyle


def _template(fields: Mapping[str, Any], caption: str) -> Prompt:
    return Prompt("", f"How many words? {fields['sentence']}")


PLAIN = PromptStyle("plain", "squash", "Describe the image.", _template)
