"""Benchmark: scoring VQAv2-val-sized predictions (214,354 questions x 10 answers).

Side by side in one run:
  * `infmllm-eval score` end to end in a fresh process (load the official-format files, check,
    score, bootstrap interval, write the metrics JSON): median wall time of --repeat runs, the
    median CPU time (user + sys) and the peak RSS of the process (from wait4), and the load
    average before the runs (other work on the machine slows the wall time);
  * the official code's json.load of the two files (its loading, GC on);
  * the scoring core alone (VqaAccuracy.percents over every question, as `score` runs it),
    in-process;
  * the official per-question evaluate loop (bench/official_vqa_loop.py, no caching) timed on
    a subsample and scaled linearly to the full size (its cost per question is constant).
Writes JSON to stdout (and to --output). Usage: python bench/vqa_score.py [--n N] [--sub N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from official_vqa_loop import official_loop_accuracy
from synth_vqa import write_synthetic_vqa

from infmllm_eval.metrics.vqa_accuracy import VqaAccuracy

VARIANTS = ("always", "official-current")


def time_cli(paths: dict[str, Path], variant: str, out: Path, repeat: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "infmllm_eval", "score", "--task", "vqav2_val",
           "--file", f"questions={paths['questions']}",
           "--file", f"annotations={paths['annotations']}",
           "--predictions", str(paths["predictions"]), "--option", f"normalization={variant}",
           "--output", str(out)]
    walls, cpus, peaks = [], [], []
    load = os.getloadavg()[0]
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        if status != 0:
            raise SystemExit(f"score failed: {' '.join(cmd)}")
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
        cpus.append(usage.ru_utime + usage.ru_stime)
    return {"wall_s_runs": [round(w, 3) for w in walls],
            "wall_s": round(statistics.median(walls), 3),
            "cpu_s": round(statistics.median(cpus), 3),
            "load_average_1min_before": round(load, 2),
            "peak_rss_mb": round(max(peaks), 1),
            "accuracy": json.loads(out.read_text())["metrics"]["accuracy"]}


def time_official_load(paths: dict[str, Path]) -> float:
    """The official code's json.load of both files (cyclic GC on, as there)."""
    start = time.perf_counter()
    for key in ("questions", "annotations"):
        with paths[key].open() as fh:
            json.load(fh)
    return time.perf_counter() - start


def read_inputs(paths: dict[str, Path]) -> tuple[list[dict], list[dict], list[dict]]:
    questions = json.loads(paths["questions"].read_text())["questions"]
    annotations = json.loads(paths["annotations"].read_text())["annotations"]
    lines = paths["predictions"].read_text().splitlines()
    results = [{"question_id": r["id"], "answer": r["prediction"]} for r in map(json.loads, lines)]
    return questions, annotations, results


def time_core(annotations: list[dict], results: list[dict], variant: str) -> dict[str, float]:
    answers = {a["question_id"]: [x["answer"] for x in a["answers"]] for a in annotations}
    predictions = [r["answer"] for r in results]
    answer_lists = [answers[r["question_id"]] for r in results]
    scorer = VqaAccuracy(variant)
    start = time.perf_counter()
    total = sum(scorer.percents(predictions, answer_lists))
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 3), "accuracy": total / len(results)}


def time_official(questions: list[dict], annotations: list[dict], results: list[dict],
                  variant: str, sub: int) -> dict[str, float]:
    rng = random.Random(0)
    picked = rng.sample(range(len(questions)), min(sub, len(questions)))
    qs = [questions[i] for i in picked]
    wanted = {q["question_id"] for q in qs}
    anns = [a for a in annotations if a["question_id"] in wanted]
    res = [r for r in results if r["question_id"] in wanted]
    start = time.perf_counter()
    per_q = official_loop_accuracy(qs, anns, res, variant)
    wall = time.perf_counter() - start
    scorer = VqaAccuracy(variant)
    by_id = {a["question_id"]: [x["answer"] for x in a["answers"]] for a in anns}
    mismatches = sum(1 for r in res if abs(scorer(r["answer"], by_id[r["question_id"]])
                                            - per_q[r["question_id"]]) > 1e-12)
    scaled = wall * len(questions) / len(qs)
    return {"subsample": len(qs), "wall_s": round(wall, 3), "scaled_full_s": round(scaled, 2),
            "mismatches_vs_ours": mismatches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=214_354)
    parser.add_argument("--sub", type=int, default=5_000, help="official-loop subsample")
    parser.add_argument("--repeat", type=int, default=5, help="CLI runs (median reported)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report: dict[str, object] = {"n_questions": args.n, "python": platform.python_version(),
                                 "machine": platform.machine()}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_synthetic_vqa(Path(tmp), args.n, seed=0)
        report["input_mb"] = round(sum(p.stat().st_size for p in paths.values()) / 2**20, 1)
        # the CLI first, while this process is small (its RSS is not the child's concern)
        cli = {v: time_cli(paths, v, Path(tmp) / f"{v}.json", args.repeat) for v in VARIANTS}
        official_load = time_official_load(paths)
        questions, annotations, results = read_inputs(paths)
        report["official_json_load_s"] = round(official_load, 3)
        for variant in VARIANTS:
            core = time_core(annotations, results, variant)
            official = time_official(questions, annotations, results, variant, args.sub)
            official_total = official["scaled_full_s"] + official_load
            loop_s, cli_s = official["scaled_full_s"], cli[variant]["wall_s"]
            report[variant] = {
                "cli_end_to_end": cli[variant], "scoring_core": core, "official_loop": official,
                "speedup_core_vs_official_loop": round(loop_s / core["wall_s"], 1),
                "speedup_cli_vs_official_load_and_loop": round(official_total / cli_s, 1),
            }
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
