"""Data-parallel runs under torchrun / accelerate: which rank does what, and the collectives.

Launched with ``torchrun --nproc_per_node N -m infmllm_eval run …`` (or ``accelerate launch``),
each rank runs its share of every task's unfinished samples into its own journal shard; rank 0
merges the shards, scores and writes the run directory. Without a launcher nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from infmllm_eval.errors import BadInputError, shown

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as td

            td.barrier()

    def close(self) -> None:
        """Wait for every rank, then tear the process group down (exiting with it alive can
        abort a rank in gloo's destructor)."""
        if self.enabled:
            import torch.distributed as td

            if td.is_initialized():
                td.barrier()
                td.destroy_process_group()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        import torch.distributed as td

        out: list[Any] = [None] * self.world_size
        td.all_gather_object(out, value)
        return out

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        import torch.distributed as td

        box = [value]
        td.broadcast_object_list(box, src=0)
        return box[0]


def from_environment() -> Dist:
    """The job described by torchrun's / accelerate's environment variables; initialises the
    process group (NCCL when this rank has a GPU, else gloo) when there are several ranks."""
    world = _env_int("WORLD_SIZE", 1, 1, 1 << 20)
    if world <= 1:
        return Dist()
    rank = _env_int("RANK", 0, 0, world - 1)
    local = _env_int("LOCAL_RANK", rank, 0, 1 << 20)
    import torch
    import torch.distributed as td

    if not td.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        try:
            if backend == "nccl":
                torch.cuda.set_device(local)
            td.init_process_group(backend=backend)
        except (ValueError, RuntimeError) as exc:  # no MASTER_ADDR, a bad device ordinal …
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise BadInputError(f"cannot join the distributed job (WORLD_SIZE={world}, "
                                f"RANK={rank}): {first}; launch with torchrun or accelerate "
                                "(or unset WORLD_SIZE)") from None
    return Dist(rank, world, local)


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer environment variable set by the launcher, checked (unset or empty: the
    default)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) < 12
            and low <= int(text) <= high):
        raise BadInputError(f"environment variable {name}={shown(text)}: expected an integer "
                            f"from {low} to {high} (set by torchrun / accelerate; unset it for "
                            "a single process)")
    return int(text)


SINGLE = Dist()  # one process: the default everywhere


def shard(groups: Sequence[Sequence[T]], world_size: int,
          cost: Callable[[Sequence[T]], float] = len) -> list[list[T]]:
    """Split groups (e.g. the requests of one image, kept together so feature reuse still
    works) over ``world_size`` ranks, balancing their cost: largest groups first, each to the
    least loaded rank (ties to the lowest rank). Deterministic; nothing is duplicated."""
    loads = [0.0] * world_size
    out: list[list[T]] = [[] for _ in range(world_size)]
    order = sorted(range(len(groups)), key=lambda i: (-cost(groups[i]), i))
    for index in order:
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        out[rank].extend(groups[index])
        loads[rank] += cost(groups[index])
    return out
