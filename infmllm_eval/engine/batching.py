"""Batch planning and the prefetching loop: work the model never has to wait for."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def plan_batches(items: Sequence[T], size: int, cost: Callable[[T], Any] | None = None,
                 window: int = 0) -> list[list[T]]:
    """Cut ``items`` into batches of ``size``; with ``cost``, sort each window of ``window``
    items by it first (similar prompt lengths pad less, and requests for the same image land
    in the same batch). The caller keys results by id, so the order is free to change."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    ordered: list[T] = list(items)
    if cost is not None:
        span = max(window, size)
        ordered = [x for start in range(0, len(ordered), span)
                   for x in sorted(ordered[start:start + span], key=cost)]
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def prefetched(batches: Sequence[T], prepare: Callable[[T], Any],
               depth: int = 2) -> Iterator[tuple[T, Any]]:
    """Yield ``(batch, prepare(batch))`` while the next ``depth`` batches are being prepared in
    a worker thread (image decoding releases the GIL), so the consumer rarely waits."""
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        queue: list[Future[Any]] = [pool.submit(prepare, b) for b in batches[:depth]]
        for index, batch in enumerate(batches):
            prepared = queue.pop(0).result()
            nxt = index + depth
            if nxt < len(batches):
                queue.append(pool.submit(prepare, batches[nxt]))
            yield batch, prepared
