"""Benchmark: the toy demo (infmllm-tiny-toy on the five toy tasks) with several CPU thread
counts, side by side in one session, each in a fresh process (`infmllm-eval demo --threads N`,
and once without --threads: the default). Rounds alternate the counts so that a change in
machine load hits them alike. Prints a table of wall seconds per count (median over rounds)
and the per-task seconds of the last round, plus the machine's CPUs and load.

Usage: python bench/threads.py [--threads 1,2,default] [--rounds 1] [--tasks toy_vqa,...]
(--tasks runs `run --model infmllm-tiny-toy --tasks …` instead of the demo: quicker).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(threads: str, tasks: str | None, limit: int | None) -> tuple[float, dict[str, float]]:
    """Wall seconds of one run in a fresh process, and each task's generation seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        if tasks:
            cmd = [sys.executable, "-m", "infmllm_eval", "run", "--model", "infmllm-tiny-toy",
                   "--tasks", tasks, "--output-dir", tmp, "--new-run"]
            cmd += ["--limit", str(limit)] if limit else []
        else:
            cmd = [sys.executable, "-m", "infmllm_eval", "demo", "--output-dir", tmp]
        if threads != "default":
            cmd += ["--threads", threads]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        wall = time.perf_counter() - start
        metrics = json.loads(next(Path(tmp).glob("*/metrics.json")).read_text())
        per_task = {name: entry["throughput"]["wall_s"] for name, entry in
                    metrics["tasks"].items()}
    return wall, per_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2,default")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tasks", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    counts = args.threads.split(",")
    sys.path.insert(0, str(ROOT))
    from infmllm_eval.engine.run import default_threads

    print(f"cpus: {os.cpu_count()}, usable: {len(os.sched_getaffinity(0))}, "
          f"default --threads here: {default_threads()}, load before: {os.getloadavg()}")
    walls: dict[str, list[float]] = {c: [] for c in counts}
    last: dict[str, dict[str, float]] = {}
    for round_no in range(args.rounds):
        order = counts if round_no % 2 == 0 else counts[::-1]
        for count in order:
            wall, per_task = one_run(count, args.tasks, args.limit)
            walls[count].append(wall)
            last[count] = per_task
    tasks = sorted({t for per in last.values() for t in per})
    print(f"load after: {os.getloadavg()}")
    print("threads\twall s (median)\t" + "\t".join(tasks))
    for count in counts:
        cells = [f"{last[count].get(t, float('nan')):.1f}" for t in tasks]
        print(f"{count}\t{statistics.median(walls[count]):.1f}\t" + "\t".join(cells))


if __name__ == "__main__":
    main()
