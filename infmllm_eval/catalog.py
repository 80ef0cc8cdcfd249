"""Name resolution over the cards: tasks, groups and models, with "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable

from infmllm_eval.cards import ModelCard, TaskCard, model_cards, task_cards
from infmllm_eval.errors import UnknownNameError, shown
from infmllm_eval.registry import did_you_mean


def groups() -> dict[str, list[str]]:
    """Group name -> member task names, in card order."""
    out: dict[str, list[str]] = {}
    for card in task_cards().values():
        for group in card.groups:
            out.setdefault(group, []).append(card.name)
    return out


def split_names(spec: str | Iterable[str]) -> list[str]:
    """Accept 'a,b' strings and repeated options alike."""
    items = [spec] if isinstance(spec, str) else list(spec)
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


def resolve_tasks(spec: str | Iterable[str]) -> list[TaskCard]:
    """Expand task and group names into task cards (order kept, duplicates dropped)."""
    cards, grouped = task_cards(), groups()
    names = split_names(spec)
    if not names:
        raise UnknownNameError("no task given: pass --tasks NAME[,NAME...] (see `list tasks`)")
    out: dict[str, TaskCard] = {}
    for name in names:
        if name in cards:
            out.setdefault(name, cards[name])
        elif name in grouped:
            for member in grouped[name]:
                out.setdefault(member, cards[member])
        else:
            known = sorted(cards) + sorted(grouped)
            raise UnknownNameError(
                f"unknown task or group {shown(name)}.{did_you_mean(name, known)}"
                " Run `infmllm-eval list tasks` to see them all."
            )
    return list(out.values())


def resolve_task(name: str) -> TaskCard:
    """Exactly one task (groups are refused: `score` works on one split)."""
    cards = task_cards()
    if name in cards:
        return cards[name]
    members = groups().get(name)
    if members:
        raise UnknownNameError(
            f"{shown(name)} is a group ({', '.join(members)}); name one task of it"
        )
    raise UnknownNameError(
        f"unknown task {shown(name)}.{did_you_mean(name, sorted(cards))}"
        " Run `infmllm-eval list tasks` to see them all."
    )


def resolve_model(name: str) -> ModelCard:
    """One model card by name."""
    cards = model_cards()
    if name in cards:
        return cards[name]
    raise UnknownNameError(
        f"unknown model {shown(name)}.{did_you_mean(name, sorted(cards))}"
        " Run `infmllm-eval list models` to see them all."
    )
