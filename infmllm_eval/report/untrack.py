"""``--untrack TASK[.METRIC]`` of ``gate`` and ``baseline``: tracked metrics left out, a whole
task or one metric of it. A name that leaves out nothing is an error, never ignored."""

from __future__ import annotations

from collections.abc import Sequence

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.registry import did_you_mean
from infmllm_eval.report.runs import brief


def _task(name: str) -> str:
    return name.partition(".")[0]


def matches(item: str, name: str) -> bool:
    """Whether ``--untrack item`` leaves out the tracked ``name`` (TASK.METRIC)."""
    return item == name or ("." not in item and _task(name) == item)


def untrack(names: Sequence[str], items: Sequence[str], where: str,
            kept_by: Sequence[str] = ()) -> list[str]:
    """``names`` without those the ``items`` name. An item that names no tracked task or
    metric, or one that ``kept_by`` (the ``--metric`` names) asks to track, is bad input."""
    for item in items:
        if not isinstance(item, str) or not item or item.startswith(".") or item.endswith("."):
            raise BadInputError(f"--untrack {shown(item)}: expected TASK or TASK.METRIC, e.g. "
                                "mme or mme.cognition")
        if not any(matches(item, n) for n in names):
            choices = sorted({*names, *map(_task, names)})
            raise BadInputError(
                f"--untrack {brief(item)}: {where} tracks no such task or metric (tracked: "
                f"{brief(', '.join(names), 200)}).{did_you_mean(item, choices)}")
        clash = [n for n in kept_by if matches(item, n)]
        if clash:
            raise BadInputError(f"--untrack {brief(item)}: {brief(clash[0])} is also given "
                                "with --metric; track it or untrack it, not both")
    return [n for n in names if not any(matches(item, n) for item in items)]
