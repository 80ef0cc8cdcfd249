"""Benchmark: scoring VQAv2-val-sized predictions (214,354 questions x 10 answers).

Side by side in one run:
  * `infmllm-eval score` end to end in a fresh process (load the official-format files, check,
    score, bootstrap interval, write the metrics JSON): wall time and peak RSS;
  * the scoring core alone (VqaAccuracy over every question), in-process;
  * the official per-question evaluate loop (bench/official_vqa_loop.py, no caching) timed on
    a subsample and scaled linearly to the full size (its cost per question is constant).
Writes JSON to stdout (and to --output). Usage: python bench/vqa_score.py [--n N] [--sub N]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from official_vqa_loop import official_loop_accuracy  # noqa: E402
from synth_vqa import write_synthetic_vqa  # noqa: E402

from infmllm_eval.metrics.vqa_accuracy import VqaAccuracy  # noqa: E402


def time_cli(paths: dict[str, Path], variant: str, out: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "infmllm_eval", "score", "--task", "vqav2_val",
           "--file", f"questions={paths['questions']}",
           "--file", f"annotations={paths['annotations']}",
           "--predictions", str(paths["predictions"]), "--option", f"normalization={variant}",
           "--output", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_s": round(wall, 3),
            "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
            "accuracy": json.loads(out.read_text())["metrics"]["accuracy"]}


def read_inputs(paths: dict[str, Path]) -> tuple[list[dict], list[dict], list[dict]]:
    questions = json.loads(paths["questions"].read_text())["questions"]
    annotations = json.loads(paths["annotations"].read_text())["annotations"]
    lines = paths["predictions"].read_text().splitlines()
    results = [{"question_id": r["id"], "answer": r["prediction"]} for r in map(json.loads, lines)]
    return questions, annotations, results


def time_core(annotations: list[dict], results: list[dict], variant: str) -> dict[str, float]:
    answers = {a["question_id"]: [x["answer"] for x in a["answers"]] for a in annotations}
    scorer = VqaAccuracy(variant)
    start = time.perf_counter()
    total = sum(scorer(r["answer"], answers[r["question_id"]]) for r in results)
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 3), "accuracy": 100.0 * total / len(results)}


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
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report: dict[str, object] = {"n_questions": args.n, "python": platform.python_version(),
                                 "machine": platform.machine()}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_synthetic_vqa(Path(tmp), args.n, seed=0)
        report["input_mb"] = round(sum(p.stat().st_size for p in paths.values()) / 2**20, 1)
        questions, annotations, results = read_inputs(paths)
        for variant in ("always", "official-current"):
            cli = time_cli(paths, variant, Path(tmp) / f"{variant}.json")
            core = time_core(annotations, results, variant)
            official = time_official(questions, annotations, results, variant, args.sub)
            report[variant] = {
                "cli_end_to_end": cli, "scoring_core": core, "official_loop": official,
                "speedup_end_to_end": round(official["scaled_full_s"] / cli["wall_s"], 1),
                "speedup_core": round(official["scaled_full_s"] / core["wall_s"], 1),
            }
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
