"""Group figures: the one number a group of tasks reports, where its cards declare one.

A card's ``group_mean: <metric>`` says that the group's figure is the unweighted mean of that
metric over the group's tasks (POPE: the mean F1 of the random, popular and adversarial
splits, which LLaVA-1.5's ``eval_pope.py`` prints as "average f1" and the LLaVA-1.5 and
InfMLLM-Chat tables quote as POPE). The figure is shown as the column ``<group>
mean_<metric>``; a run has it only when it scored every task of the group in full: no
partial task, none cut by ``--limit``, each of its card's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.provenance import coverage, limit_of
from infmllm_eval.report.runs import RunResult, is_number


@dataclass(frozen=True)
class GroupFigure:
    """A group's declared figure: the mean of ``metric`` over ``members``."""

    group: str
    metric: str
    members: tuple[str, ...]
    family: str
    sizes: tuple[int | None, ...] = ()  # each member's card size (None: the card states none)

    @property
    def name(self) -> str:
        """The figure's metric name, e.g. ``mean_f1``."""
        return f"mean_{self.metric}"

    def describe(self) -> str:
        """What the figure is, for a report note."""
        return (f"{self.group} {self.name}: unweighted mean of {self.metric} over "
                f"{', '.join(self.members)} (the group's figure, as its cards declare)")


def group_figures() -> dict[str, GroupFigure]:
    """Group name -> its declared figure (groups whose cards declare none are left out; a
    card folder that cannot be read gives none)."""
    from infmllm_eval.cards import task_cards

    try:
        cards = task_cards()
    except BadInputError:
        return {}
    members: dict[str, list[str]] = {}
    for card in cards.values():
        for group in card.groups:
            members.setdefault(group, []).append(card.name)
    out = {}
    for group, names in members.items():
        first = cards[names[0]]
        if first.group_mean:
            out[group] = GroupFigure(group, first.group_mean, tuple(names), first.family,
                                     tuple(cards[n].size for n in names))
    return out


def group_value(run: RunResult, figure: GroupFigure) -> tuple[float, int] | None:
    """(the figure, the samples behind it) when ``run`` scored every task of the group in
    full; None otherwise (a mean over some splits, or over a ``--limit`` cut of them, would
    not be the group's figure)."""
    values, count = [], 0
    sizes = figure.sizes or (None,) * len(figure.members)
    for task, size in zip(figure.members, sizes, strict=True):
        entry = run.scored(task)
        value = run.value(task, figure.metric)
        if (entry is None or value is None or entry.get("partial")
                or coverage(entry, size, limit_of(run)).subset):
            return None
        values.append(value)
        n = entry.get("n_samples")
        count += int(n) if n is not None and is_number(n) else 0
    return sum(values) / len(values), count


def figures_in(runs: Sequence[RunResult]) -> list[GroupFigure]:
    """The declared group figures at least one run has."""
    return [f for f in group_figures().values()
            if any(group_value(run, f) is not None for run in runs)]
