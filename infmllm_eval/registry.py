"""A small generic registry with "did you mean" suggestions for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from infmllm_eval.errors import UnknownNameError, shown

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return ' Did you mean X?' for the closest choices, or '' when nothing is close."""
    if not isinstance(name, str) or len(name) > 200:
        return ""  # nothing is close to that; and comparing it would cost
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        close = [c for c in choices if name.lower() in c.lower()][:3]
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Named items of one kind (task families, loaders, model adapters ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            names = sorted(self._items)
            raise UnknownNameError(
                f"unknown {self.kind} {shown(name)}.{did_you_mean(name, names)}"
                f" Known: {', '.join(names) or '(none)'}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
