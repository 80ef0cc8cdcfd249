"""Out-of-memory halving, an engine service any adapter can use: a batch that does not fit is
halved and retried (nothing is lost), and later batches are cut to the size that fitted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from infmllm_eval.errors import BadInputError

T = TypeVar("T")
R = TypeVar("R")

UNLIMITED = 1 << 30
HINT = "lower max_new_tokens or use a smaller dtype"


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's out-of-memory error (CUDA, MPS or a CPU allocation)."""
    return isinstance(exc, torch.OutOfMemoryError)


class BatchHalving:
    """Runs a batch function over a list, halving the batch on out-of-memory.

    ``is_oom`` tells an out-of-memory failure from others (which pass through untouched);
    on ``device`` CUDA the cache of freed blocks is emptied before the retry. ``max_batch``
    keeps the largest size tried since the last failure, so one failure costs one retry.
    One item that does not fit alone is refused with a :class:`BadInputError` naming
    ``model``."""

    def __init__(self, model: str, device: torch.device | str | None = None,
                 is_oom: Callable[[BaseException], bool] = is_out_of_memory,
                 hint: str = HINT) -> None:
        self.model = model
        self.device = torch.device(device) if device is not None else None
        self.is_oom = is_oom
        self.hint = hint
        self.max_batch = UNLIMITED

    def run(self, items: Sequence[T], fn: Callable[[list[T]], Sequence[R]]) -> list[R]:
        """``fn`` over ``items`` in batches of at most ``max_batch``; the results in order.

        The same calls as splitting recursively (a batch over ``max_batch`` splits into a
        head of ``max_batch`` and the rest, each checked again), with an explicit stack so a
        long list cut to batches of one cannot exhaust Python's recursion limit."""
        out: list[R] = []
        todo = [(0, len(items))]  # half-open spans, the next one last
        while todo:
            start, end = todo.pop()
            if end - start > self.max_batch:
                todo += [(start + self.max_batch, end), (start, start + self.max_batch)]
                continue
            chunk = list(items[start:end])
            results: Sequence[R] | None
            try:
                results = fn(chunk)
            except Exception as exc:
                if not self.is_oom(exc):
                    raise
                results = None
            if results is None:  # past the except block: the traceback's tensors are freed
                if len(chunk) == 1:
                    raise BadInputError(f"model {self.model}: one request does not fit in "
                                        f"memory ({self.hint})")
                self._free()
                self.max_batch = max(1, len(chunk) // 2)
                todo.append((start, end))
                continue
            if len(results) != len(chunk):
                raise ValueError(f"model {self.model}: {len(results)} results for a batch of "
                                 f"{len(chunk)}")
            out.extend(results)
        return out

    def _free(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.empty_cache()
