"""A bounded LRU of pooled vision features, optionally spilled to disk."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor


class FeatureCache:
    """Visual tokens by image key. ``max_items`` bounds memory (least recently used goes
    first); with ``disk`` every computed entry is also saved under a hash of
    ``namespace`` + key (namespace = checkpoint hash + preprocessing), so a later run of the
    same model reuses it."""

    def __init__(self, max_items: int = 4096, disk: Path | None = None,
                 namespace: str = "") -> None:
        self.max_items = max_items
        self.disk = disk
        self.namespace = namespace
        self._items: OrderedDict[str, Tensor] = OrderedDict()
        self.hits = 0
        self.disk_hits = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def _path(self, key: str) -> Path | None:
        if self.disk is None:
            return None
        digest = hashlib.sha256(f"{self.namespace}\n{key}".encode()).hexdigest()
        return self.disk / digest[:2] / f"{digest}.pt"

    def get(self, key: str) -> Tensor | None:
        """The cached tokens, from memory or disk (None when absent)."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        path = self._path(key)
        if path is not None and path.exists():
            value: Tensor = torch.load(path, map_location="cpu", weights_only=True)
            self.disk_hits += 1
            self._remember(key, value)
            return value
        return None

    def put(self, key: str, value: Tensor) -> None:
        """Store (and spill) ``value``; the oldest entries beyond the bound are dropped."""
        self._remember(key, value)
        path = self._path(key)
        if path is not None and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(value.detach().cpu(), tmp)
            tmp.replace(path)

    def _remember(self, key: str, value: Tensor) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
