"""One registry for every kind of plug-in (task families, loaders, model adapters, prompt
styles, post-processors, judges), open to other packages through entry points.

An item is registered directly (``add`` / the ``register`` decorator) or lazily as a
``"module:attribute"`` path, imported on first use. A registry with an entry-point ``group``
also offers what installed packages declare there, e.g. in a plug-in's pyproject.toml::

    [project.entry-points."infmllm_eval.families"]
    my_family = "my_plugin.families:MY_FAMILY"

Built-in names win over entry points of the same name (a notice names the ignored one).
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from infmllm_eval.errors import InfmllmEvalError, UnknownNameError, shown

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return ' Did you mean X?' for the closest choices, or '' when nothing is close."""
    if not isinstance(name, str) or len(name) > 200:
        return ""  # nothing is close to that; and comparing it would cost
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        close = [c for c in choices if name.lower() in c.lower()][:3]
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def import_path(path: str) -> Any:
    """The object a ``"package.module:attribute"`` path names."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class PluginError(InfmllmEvalError):
    """A registered or installed plug-in that cannot be loaded (exit 2, naming it)."""

    exit_code = 2


class Registry(Generic[T]):
    """Named items of one kind; ``group`` is the entry-point group other packages use."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # name -> "module:attr", imported by get()
        self._plugins: dict[str, str] | None = None  # entry points, read once

    def add(self, name: str, item: T) -> T:
        """Register ``item`` as ``name`` (a name may be registered once)."""
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def lazy(self, name: str, path: str) -> None:
        """Register the object at ``"module:attribute"``, imported when first asked for."""
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._lazy[name] = path

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests, and plug-ins that replace one of their own)."""
        self._items.pop(name, None)
        self._lazy.pop(name, None)

    def _entry_points(self) -> dict[str, str]:
        if self._plugins is None:
            found: dict[str, str] = {}
            if self.group:
                for ep in entry_points(group=self.group):
                    if ep.name in self._items or ep.name in self._lazy:
                        print(f"notice: {self.kind} {ep.name!r} from an installed package "
                              f"({ep.value}) is ignored: a built-in has that name",
                              file=sys.stderr)
                    else:
                        found.setdefault(ep.name, ep.value)
            self._plugins = found
        return self._plugins

    def refresh(self) -> None:
        """Read the entry points again (after installing a plug-in in this process)."""
        self._plugins = None

    def get(self, name: str) -> T:
        """The item registered as ``name``; an unknown name is a one-line error with the
        closest names."""
        if name in self._items:
            return self._items[name]
        path = self._lazy.get(name) if isinstance(name, str) else None
        if path is None and isinstance(name, str):
            path = self._entry_points().get(name)
        if path is None:
            names = self.names()
            raise UnknownNameError(
                f"unknown {self.kind} {shown(name)}.{did_you_mean(name, names)}"
                f" Known: {', '.join(names) or '(none)'}"
            )
        try:
            item: T = import_path(path)
        except Exception as exc:  # a broken plug-in: name it, not a traceback
            raise PluginError(f"{self.kind} {shown(name)} cannot be loaded from {path}: "
                              f"{type(exc).__name__}: {exc}") from None
        self._items[name] = item
        self._lazy.pop(name, None)
        return item

    def source(self, name: str) -> str:
        """Where ``name`` comes from: ``built-in`` or the entry point of an installed
        package."""
        path = self._entry_points().get(name)
        return f"entry point {self.group}: {path}" if path else "built-in"

    def names(self) -> list[str]:
        """Every registered name, built-in and installed, sorted."""
        return sorted({*self._items, *self._lazy, *self._entry_points()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self._items or name in self._lazy or name in self._entry_points())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
