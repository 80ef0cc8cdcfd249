"""Benchmark: scoring COCO-Karpathy-test-sized captions (5,000 images x 5 references) with
every caption metric (BLEU-1..4, METEOR, ROUGE-L, CIDEr; SPICE when installed).

Side by side in one run, on the same synthetic references and hypotheses:
  * tokenize once (this harness): one PTB tokenizer call for references and hypotheses
    together, then every metric on the tokenized sets;
  * tokenize per metric (as lmms-eval does): pycocoevalcap's PTBTokenizer on the references
    and on the hypotheses before each metric, then the same metric code;
  * optionally `infmllm-eval score` end to end in a fresh process (load a Karpathy file, score,
    write the metrics JSON).
Both in-process pipelines start their METEOR JVM first and time that start apart (it is
the same in both and varies by seconds with machine load); totals are given without and
with it. The two pipelines must give identical values. Writes JSON to stdout (and to
--output). Usage: python bench/caption_score.py [--images N] [--refs N] [--repeat N] [--no-cli]
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

from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from infmllm_eval.metrics.caption import (
    SCORERS,
    CaptionScorer,
    spice_unavailable,
    tokenize_sets,
)


def words(text: str) -> tuple[str, ...]:
    """The space-separated words of ``text``."""
    return tuple(text.split())


NOUNS = words("man woman person child dog cat horse bus train car bike plate pizza table street "
         "kitchen room field beach giraffe elephant zebra bird boat skateboard surfboard "
         "umbrella phone laptop bed couch clock sign tree water grass snow wave")
ADJS = words("red blue white black small large young old wooden green yellow busy empty")
VERBS = words("sitting standing riding holding eating walking looking playing flying parked "
         "lying covered topped filled")
PREPS = words("on in next to with near under at of by behind")


def caption(rng: random.Random) -> str:
    """A COCO-like sentence (about 10 words, capitalised, sometimes punctuated)."""
    words = ["A" if rng.random() < 0.8 else "Two", rng.choice(ADJS), rng.choice(NOUNS),
             rng.choice(VERBS), rng.choice(PREPS), "a", rng.choice(NOUNS)]
    if rng.random() < 0.5:
        words += [rng.choice(PREPS), "the", rng.choice(ADJS), rng.choice(NOUNS)]
    text = " ".join(words)
    if rng.random() < 0.2:
        text = text.replace(" ", ", ", 1)
    return text + rng.choice((".", "", " .", "."))


def synthetic(n_images: int, n_refs: int, seed: int = 0) -> tuple[dict[str, list[str]],
                                                                  dict[str, list[str]]]:
    rng = random.Random(seed)
    gts = {str(i): [caption(rng) for _ in range(n_refs)] for i in range(n_images)}
    res = {k: [caption(rng)] for k in gts}
    return gts, res


def scorers() -> tuple[str, ...]:
    return SCORERS if spice_unavailable() is None else tuple(s for s in SCORERS if s != "SPICE")


def started_scorer(stages: dict[str, float]) -> CaptionScorer:
    """A scorer whose METEOR JVM is already up (its ~10-30 s start, the same in both
    pipelines and noisy under load, is timed apart as ``meteor_jvm_start``)."""
    begin = time.perf_counter()
    scorer = CaptionScorer(("METEOR",))
    scorer.score({"w": ["a dog"]}, {"w": ["a dog"]})
    stages["meteor_jvm_start"] = time.perf_counter() - begin
    return scorer


def tokenize_once(gts: dict[str, list[str]], res: dict[str, list[str]]) -> dict[str, Any]:
    stages: dict[str, float] = {}
    values: dict[str, float] = {}
    with started_scorer(stages) as scorer:
        start = time.perf_counter()
        gts_tok, res_tok = tokenize_sets(gts, res)
        stages["tokenize"] = time.perf_counter() - start
        for name in scorers():
            begin = time.perf_counter()
            scorer.scorers = (name,)
            values |= scorer.score(gts_tok, res_tok).corpus
            stages[name] = time.perf_counter() - begin
        wall = time.perf_counter() - start
    return {"wall_s": wall, "stages_s": stages, "values": values}


def tokenize_per_metric(gts: dict[str, list[str]], res: dict[str, list[str]]) -> dict[str, Any]:
    stages: dict[str, float] = {}
    values: dict[str, float] = {}
    with started_scorer(stages) as scorer:
        start = time.perf_counter()
        stages["tokenize"] = 0.0
        gts_in = {k: [{"caption": c} for c in v] for k, v in gts.items()}
        res_in = {k: [{"caption": c} for c in v] for k, v in res.items()}
        for name in scorers():
            begin = time.perf_counter()
            tokenizer = PTBTokenizer()
            gts_tok, res_tok = tokenizer.tokenize(gts_in), tokenizer.tokenize(res_in)
            middle = time.perf_counter()
            stages["tokenize"] += middle - begin
            scorer.scorers = (name,)
            values |= scorer.score(gts_tok, res_tok).corpus
            stages[name] = time.perf_counter() - middle
        wall = time.perf_counter() - start
    return {"wall_s": wall, "stages_s": stages, "values": values}


def time_cli(gts: dict[str, list[str]], res: dict[str, list[str]], folder: Path) -> dict[str, Any]:
    data = folder / "data" / "coco"
    data.mkdir(parents=True)
    images = [{"filepath": "val2014", "filename": f"{k}.jpg", "cocoid": int(k), "split": "test",
               "sentences": [{"raw": r} for r in refs]} for k, refs in gts.items()]
    (data / "dataset_coco.json").write_text(json.dumps({"images": images}))
    preds = folder / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": int(k), "prediction": v[0]}) + "\n"
                             for k, v in res.items()))
    out = folder / "metrics.json"
    cmd = [sys.executable, "-m", "infmllm_eval", "score", "--task", "coco_karpathy_test",
           "--predictions", str(preds), "--data-root", str(folder / "data"), "--output", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"score failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "CIDEr": json.loads(out.read_text())["metrics"]["CIDEr"]}


def java_version() -> str:
    proc = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return (proc.stderr.splitlines() or ["?"])[0]


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    starts = [r["wall_s"] + r["stages_s"]["meteor_jvm_start"] for r in runs]
    stages = {k: round(statistics.median(r["stages_s"][k] for r in runs), 2)
              for k in runs[0]["stages_s"]}
    return {"wall_s": round(statistics.median(walls), 2),
            "wall_s_runs": [round(w, 2) for w in walls],
            "wall_s_with_meteor_jvm_start": round(statistics.median(starts), 2),
            "stages_s": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    gts, res = synthetic(args.images, args.refs)
    tokenize_sets({"w": ["warm up the JVM and the page cache."]}, {"w": ["warm up."]})
    once, per_metric = [], []
    for _ in range(args.repeat):  # interleaved, so drift affects both alike
        once.append(tokenize_once(gts, res))
        per_metric.append(tokenize_per_metric(gts, res))
    a, b = summary(once), summary(per_metric)
    result: dict[str, Any] = {
        "benchmark": "caption scoring, all metrics",
        "images": args.images, "references_per_image": args.refs, "repeat": args.repeat,
        "metrics": list(once[0]["values"]),
        "spice": spice_unavailable() or "available",
        "tokenize_once": a, "tokenize_per_metric": b,
        "speedup_total": round(b["wall_s"] / a["wall_s"], 2),
        "speedup_with_meteor_jvm_start": round(b["wall_s_with_meteor_jvm_start"]
                                               / a["wall_s_with_meteor_jvm_start"], 2),
        "speedup_tokenization": round(b["stages_s"]["tokenize"] / a["stages_s"]["tokenize"], 2),
        "identical_values": all(r["values"] == once[0]["values"] for r in once + per_metric),
        "values": once[0]["values"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "java": java_version()},
    }
    if not args.no_cli:
        with tempfile.TemporaryDirectory() as tmp:
            result["cli_score_end_to_end"] = time_cli(gts, res, Path(tmp))
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
