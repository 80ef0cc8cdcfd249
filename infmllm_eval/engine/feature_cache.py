"""A bounded LRU of pooled vision features, optionally spilled to disk, and the per-image
feature service adapters build on it (each image computed once, counted for metrics.json)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import time
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

MAX_ENTRY_BYTES = 1 << 30  # an entry is a few hundred KB for a 7B model
NOTICES = 5  # notices about bad entries printed per cache


class FeatureCache:
    """Visual tokens by image key. ``max_items`` bounds memory (least recently used goes
    first); with ``disk`` every computed entry is also saved under a hash of
    ``namespace`` + key (namespace = checkpoint hash + preprocessing), so a later run of the
    same model reuses it. An entry on disk that cannot be read, or is not a floating-point
    tensor of ``shape`` (when given), is recomputed (and rewritten) with a notice on stderr;
    when the folder cannot be written, the disk part is switched off with a notice."""

    def __init__(self, max_items: int = 4096, disk: Path | None = None,
                 namespace: str = "", shape: tuple[int, ...] | None = None) -> None:
        self.max_items = max_items
        self.disk = disk
        self.namespace = namespace
        self.shape = shape
        self._items: OrderedDict[str, Tensor] = OrderedDict()
        self._stale: set[Path] = set()  # unreadable entries: rewritten by put()
        self.hits = 0
        self.disk_hits = 0
        self.recomputed = 0

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
        """The cached tokens, from memory or disk (None when absent or unusable)."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        path = self._path(key)
        if path is None or path in self._stale or not path.exists():
            return None
        value = self._read(path)
        if value is None:
            return None
        self.disk_hits += 1
        self._remember(key, value)
        return value

    def _read(self, path: Path) -> Tensor | None:
        """The tensor stored at ``path``, or None (with a notice) when it is not usable."""
        problem = ""
        value: object = None
        try:
            if not path.is_file() or path.stat().st_size > MAX_ENTRY_BYTES:
                problem = "not a regular file of a plausible size"
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    value = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, EOFError, RuntimeError, ValueError, TypeError, KeyError, IndexError,
                AttributeError, NotImplementedError, MemoryError, RecursionError,
                pickle.UnpicklingError, zipfile.BadZipFile) as exc:
            problem = f"unreadable ({type(exc).__name__})"
        if not problem:
            if not isinstance(value, Tensor):
                problem = f"holds a {type(value).__name__}, not a tensor"
            elif (value.layout != torch.strided or value.is_meta or value.is_quantized
                  or not value.is_floating_point()):
                problem = f"holds a {value.dtype} tensor, not floating-point features"
            elif self.shape is not None and tuple(value.shape) != self.shape:
                problem = f"has shape {list(value.shape)}, expected {list(self.shape)}"
        if not problem:
            assert isinstance(value, Tensor)
            return value
        self._stale.add(path)
        self.recomputed += 1
        if self.recomputed <= NOTICES:
            more = (" (further bad entries are recomputed without a notice)"
                    if self.recomputed == NOTICES else "")
            print(f"notice: feature cache entry {path} {problem}; recomputing it{more}",
                  file=sys.stderr)
        return None

    def put(self, key: str, value: Tensor) -> None:
        """Store (and spill) ``value``; the oldest entries beyond the bound are dropped."""
        self._remember(key, value)
        path = self._path(key)
        if path is None or (path.exists() and path not in self._stale):
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(value.detach().cpu(), tmp)
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            print(f"notice: feature cache folder {self.disk} cannot be written "
                  f"({type(exc).__name__}: {exc.strerror or exc}); continuing without the "
                  "on-disk cache", file=sys.stderr)
            self.disk = None
            return
        self._stale.discard(path)

    def _remember(self, key: str, value: Tensor) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)


class ImageFeatures:
    """Features per image key, each unique image computed once: an engine service for any
    adapter with a vision encoder. ``lookup`` serves what ``cache`` holds and computes the
    missing unique keys in one call; it counts those computations (``forwards``), the
    distinct keys asked for (``seen``) and the seconds spent computing (``compute_s``)."""

    def __init__(self, cache: FeatureCache) -> None:
        self.cache = cache
        self.seen: set[str] = set()
        self.forwards = 0
        self.compute_s = 0.0

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` is in memory now (an adapter need not decode its image)."""
        return key in self.cache

    def lookup(self, keys: Sequence[str],
               compute_missing: Callable[[list[str]], Sequence[Tensor]]) -> list[Tensor]:
        """The features of each key, in order; ``compute_missing(keys)`` gets the unique keys
        not cached, in first-seen order, and returns their features in that order."""
        found: dict[str, Tensor] = {}
        unique = list(dict.fromkeys(keys))
        for key in unique:
            cached = self.cache.get(key)
            if cached is not None:
                found[key] = cached
        missing = [k for k in unique if k not in found]
        self.seen.update(unique)
        if missing:
            started = time.perf_counter()
            values = compute_missing(missing)
            self.compute_s += time.perf_counter() - started
            if len(values) != len(missing):
                raise ValueError(f"{len(values)} features computed for {len(missing)} images")
            self.forwards += len(missing)
            for key, value in zip(missing, values, strict=True):
                self.cache.put(key, value)  # the cache may be smaller than one batch:
                found[key] = value          # this batch keeps its own features regardless
        return [found[k] for k in keys]

    def stats(self) -> dict[str, Any]:
        """The counters under the names metrics.json uses (summed over ranks by the engine)."""
        return {"vit_forwards": self.forwards, "unique_images": len(self.seen),
                "feature_cache_hits": self.cache.hits}
