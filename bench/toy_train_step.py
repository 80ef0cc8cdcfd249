"""Seconds per training step of the toy trainer on this machine, and the full run they imply.

    python bench/toy_train_step.py [--steps 30] [--threads 2]

Times the three loops of ``python -m tools.toy.train`` with its defaults (fp32, the
given threads, the attention supervision at its default weight): stage 1 in full, then the
median of ``--steps`` opening steps (MME colour pairs) and main stage-2 steps (every family,
up to three shapes), each one ``fit`` call of one step after 3 warm-up calls (a fresh
optimizer each: a slight over-estimate). The estimate multiplies by the default step counts
with every main step at the full scene mix (the curriculum's first 900 steps are shorter),
so it is an upper bound; ``--opening-steps`` would add its steps at the opening rate. Run it
next to a full training to tell a slow machine from a slow recipe: the same recipe (run op6)
took 18.4 minutes on a day this machine measured 0.29 s per main step, and 21-26 minutes for
that cost on a day it measured 0.38-0.41 s.
It also prints the share of CPU time the hypervisor gave to other guests while it ran
(``steal`` in /proc/stat, Linux): during a training whose main steps took 0.69 s, a 5-second
reading showed 54 % steal; this script measured 0.32 s at 4 % the same evening.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import torch

from tools.toy import train as T
from tools.toy.vision_stage import pretrain_vision


def cpu_times(stat: str = "/proc/stat") -> list[int] | None:
    """The machine's CPU time counters (the ``cpu`` line of /proc/stat), or None elsewhere."""
    try:
        with open(stat) as lines:
            first = lines.readline().split()
    except OSError:
        return None
    return [int(v) for v in first[1:]] if first[:1] == ["cpu"] else None


def steal_share(before: list[int] | None, after: list[int] | None) -> str:
    """Stolen time (the 8th counter) as a percentage of the first eight between two readings."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return "steal n/a"
    spent = [b - a for a, b in zip(before, after, strict=False)]
    return f"steal {100 * spent[7] / max(1, sum(spent[:8])):.0f} %"  # guest is in user


def per_step(run: Callable[[], object], steps: int) -> float:
    """Median seconds of ``run()`` over ``steps`` calls, after 3 warm-up calls."""
    for _ in range(3):
        run()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for name in ("steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    torch.set_num_threads(args.threads)
    counters = cpu_times()
    model, style, tok = T.build_model(0)
    started = time.perf_counter()  # stage 1 in full, as the trainer runs it (it then freezes)
    pretrain_vision(model, style, T.VISION_STEPS, T.VISION_BATCH, 2e-3, 0, 0)
    vision = (time.perf_counter() - started) / T.VISION_STEPS
    batcher = T.Batcher(model, style, tok)
    rng = random.Random(0)
    opening = per_step(lambda: T.fit(model, batcher, 1, T.BATCH, 2e-3, rng.randrange(10**6),
                                     0, T.OPENING, T.FOCUS_WEIGHT), args.steps)
    main_phase = T.Phase("timed", T.MIX, ())  # every scene size, as after step 900
    main_step = per_step(lambda: T.fit(model, batcher, 1, T.BATCH, 2e-3, rng.randrange(10**6),
                                       0, main_phase, T.FOCUS_WEIGHT), args.steps)
    total = (T.VISION_STEPS * vision + T.STEPS * main_step) / 60
    print(f"threads {args.threads}: vision {vision:.3f} s/step, opening {opening:.3f} s/step, "
          f"main {main_step:.3f} s/step -> default run at most about {total:.1f} minutes "
          f"({T.VISION_STEPS} vision + {T.STEPS} main steps; 400 opening steps add "
          f"{400 * opening / 60:.1f}; {steal_share(counters, cpu_times())})")


if __name__ == "__main__":
    main()
