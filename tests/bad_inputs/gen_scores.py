"""Generators for tests/bad_inputs/cases_scores.json (merged into generators.GENERATORS)."""

from __future__ import annotations

from collections.abc import Callable

GENERATORS: dict[str, Callable[..., None]] = {}
