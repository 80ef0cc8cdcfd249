"""What a report says about where its numbers come from: how many of a task's samples each
value stands for (a ``--limit`` run, a partial run or a small data file is a subset of the
split the task card describes), and each run's id, date, sample counts and command."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.runs import RunResult, is_number

NOTE_SUBSET = ("n=… of …: the value stands for a subset of the task's samples (--limit, a "
               "partial run or a smaller data file; the full size is the task card's): it is "
               "never bold and never ranked against full results.")

# run.json config key -> the `run` option that sets it, in the command's order (--threads is
# left out: it never changes outputs, and its default follows the machine's load); a value
# equal to RunConfig's default is left out
_FLAGS: tuple[tuple[str, str], ...] = (
    ("model", "--model"), ("tasks", "--tasks"), ("data_root", "--data-root"),
    ("batch_size", "--batch-size"), ("limit", "--limit"), ("options", "--option"),
    ("model_options", "--model-option"), ("files", "--file"), ("generation", "--generation"),
    ("seed", "--seed"), ("on_image_error", "--on-image-error"))


class Coverage(NamedTuple):
    """How many samples a value stands for: ``n`` of ``of`` (the full size, when known)."""

    n: int | None
    of: int | None
    subset: bool


def split_sizes(tasks: Iterable[str]) -> dict[str, int]:
    """The full size of each task with a card that states one. A card folder that cannot be
    read leaves the sizes unknown (the report still shows every result and what the runs
    say about themselves)."""
    from infmllm_eval.cards import task_cards

    try:
        cards = task_cards()
    except BadInputError:
        return {}
    return {t: cards[t].size for t in tasks
            if t in cards and isinstance(cards[t].size, int) and cards[t].size > 0}


def limit_of(run: RunResult) -> int | None:
    """The run's ``--limit`` (from its run.json), if any."""
    limit = run.config.get("limit")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def coverage(entry: Mapping[str, Any], size: int | None, limit: int | None) -> Coverage:
    """The samples behind a task entry's value: ``n_scored`` of a partial run, else
    ``n_samples``; a subset when fewer than the full size (the card's; a partial run's own
    sample count when the card states none), or when the run's ``--limit`` cut it."""
    total = entry.get("n_samples")
    total = total if is_number(total) else None
    scored = entry.get("n_scored")
    n = scored if entry.get("partial") and is_number(scored) else total
    if n is None:
        return Coverage(None, None, False)
    of = size if size is not None else (total if entry.get("partial") else None)
    if of is not None:
        return Coverage(n, of, n < of)
    return Coverage(n, None, limit is not None and n >= limit)


def command_line(config: Mapping[str, Any]) -> str:
    """The ``infmllm-eval run`` command that makes this configuration (run.json's
    ``config``); '' when it names no model."""
    if not isinstance(config.get("model"), str):
        return ""
    from infmllm_eval.engine.run import RunConfig

    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    words = ["infmllm-eval", "run"]
    for key, flag in _FLAGS:
        value = config.get(key)
        if value is None or value == defaults.get(key) or value == {} or value == []:
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                words += [flag, f"{k}={v}"]
        elif isinstance(value, list):
            words += [flag, ",".join(map(str, value))]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


@dataclass(frozen=True)
class Provenance:
    """One results row's origin: run id, date, samples per task and command."""

    label: str
    source: str
    run_id: str
    date: str
    samples: str
    command: str


def provenance(run: RunResult, sizes: Mapping[str, int]) -> Provenance:
    """What the report says about ``run``; unknown parts read 'unknown'."""
    limit = limit_of(run)
    counts = []
    for task, entry in run.tasks.items():
        found = coverage(entry, sizes.get(task), limit)
        if found.n is not None:
            counts.append(f"{task} {found.n:,}" + (f" of {found.of:,}" if found.subset
                                                   and found.of is not None else ""))
    return Provenance(run.label, str(run.path), run.run_id or "unknown",
                      run.created or "unknown", ", ".join(counts) or "unknown",
                      command_line(run.config) or "unknown")
