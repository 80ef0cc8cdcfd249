"""Benchmark: the run engine vs a naive loop, and the harness's own overhead.

Part A (model): a 93M-parameter InfMLLM configuration on CPU (fp32, random seeded weights),
a synthetic task of --requests requests over --images unique JPEG images, greedy, exactly
--tokens new tokens. The engine (`generate_task`: batches of --batch sorted by prompt length,
prefetched decoding, each image through the ViT once) against the naive loop (batch 1, no
feature reuse: every request re-encodes its image), timed on the first --naive requests and
scaled; outputs compared on those. Also engine wall time / the model's own compute time.
Part B (harness): a zero-cost scripted model on --light samples with real JPEG files: the
engine's per-sample overhead, the time for `run` to journal its first sample from process
start, and `infmllm-eval --help` latency. JSON to stdout (and --output).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.adapters.scripted import ScriptedAdapter
from infmllm_eval.cards import ModelCard, TaskCard
from infmllm_eval.engine.feature_cache import FeatureCache, ImageFeatures
from infmllm_eval.engine.generate import generate_task
from infmllm_eval.engine.journal import Journal
from infmllm_eval.engine.progress import NoProgress
from infmllm_eval.families.vqa import VQA
from infmllm_eval.taskspec import TaskSpec
from infmllm_eval.types import GenerationConfig, Request, Sample

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import ARCH

QUESTIONS = ["What color is the shape?", "How many shapes are there in this picture?",
             "Is there a circle?", "What is the colour of the background behind the shapes?"]


def make_images(folder: Path, count: int) -> list[Path]:
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        img = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
        pen = ImageDraw.Draw(img)
        for _ in range(3):
            x, y = rng.randrange(280), rng.randrange(200)
            pen.ellipse((x, y, x + 40, y + 40), fill=tuple(rng.randrange(256) for _ in range(3)))
        path = folder / f"COCO_val2014_{i:012d}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


def spec(gen: GenerationConfig) -> TaskSpec:
    card = TaskCard(name="synthetic", family="vqa", loader="vqa", split="bench", size=0,
                    primary_metric="accuracy", files={})
    return TaskSpec(card, VQA, {}, {"normalization": "always", "postprocess": "none"}, gen)


def samples(images: list[Path], count: int) -> list[Sample]:
    per = max(1, count // len(images))
    return [Sample(i, str(images[(i // per) % len(images)]),
                   {"question": QUESTIONS[i % len(QUESTIONS)]}, None, {}) for i in range(count)]


def part_model(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    images = make_images(tmp / "img", args.images)
    data = samples(images, args.requests)
    gen = GenerationConfig(max_new_tokens=args.tokens, min_new_tokens=args.tokens, num_beams=1)
    card = ModelCard(name="bench-100m", adapter="infmllm", prompt_style="multitask",
                     architecture=dict(ARCH))  # type: ignore[arg-type]
    model = InfMLLMAdapter(card, {"init": "random", "tokenizer": "tiny", "device": "cpu"})
    model.generate([Request("w", str(images[0]), "vqa", {"question": "warm up"}, gen)])
    model.features, model.compute_s = ImageFeatures(FeatureCache()), 0.0
    journal = Journal(tmp / "engine.jsonl")
    started = time.perf_counter()
    figures = generate_task(spec(gen), data, model, journal, args.batch, NoProgress())
    engine_wall = time.perf_counter() - started
    engine_out = journal.read()
    model.features.cache = FeatureCache(max_items=0)  # naive: no reuse
    naive_out, compute_before = {}, model.stats()["compute_s"]
    started = time.perf_counter()
    for s in data[:args.naive]:
        req = Request(s.key, s.image, "vqa", dict(s.fields), gen)
        naive_out[s.key] = model.generate([req])[0].text
    naive_wall = time.perf_counter() - started
    naive_rate = args.naive / naive_wall
    return {"params_m": round(sum(p.numel() for p in model.model.parameters()) / 1e6, 1),
            "requests": args.requests, "unique_images": args.images, "new_tokens": args.tokens,
            "engine": {"batch_size": args.batch, "wall_s": round(engine_wall, 2),
                       "samples_per_s": round(args.requests / engine_wall, 2),
                       "model_compute_s": round(compute_before, 2),
                       "wall_over_compute": round(engine_wall / compute_before, 3),
                       "vit_forwards": figures["vit_forwards"],
                       "tokens_per_s": figures["tokens_per_s"]},
            "naive": {"timed_requests": args.naive, "wall_s": round(naive_wall, 2),
                      "samples_per_s": round(naive_rate, 3)},
            "speedup": round((args.requests / engine_wall) / naive_rate, 1),
            "identical_outputs_on_timed_requests": all(
                engine_out[k] == v for k, v in naive_out.items())}


def part_harness(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    images = make_images(tmp / "coco" / "val2014", 100)
    data = samples(images, args.light)
    gen = GenerationConfig()
    journal = Journal(tmp / "light.jsonl")
    started = time.perf_counter()
    generate_task(spec(gen), data, ScriptedAdapter({}, default="yes"), journal, 8, NoProgress())
    per_sample_ms = (time.perf_counter() - started) * 1000 / args.light
    qs = [{"image_id": i % 100, "question": QUESTIONS[i % 4], "question_id": i}
          for i in range(args.light)]
    (tmp / "q.json").write_text(json.dumps({"questions": qs}))
    out = tmp / "runs"
    cmd = [sys.executable, "-m", "infmllm_eval", "run", "--model", "scripted", "--tasks",
           "vqav2_testdev", "--data-root", str(tmp), "--file", f"questions={tmp / 'q.json'}",
           "--file", f"images={tmp / 'coco' / 'val2014'}", "--model-option", "default=yes",
           "--output-dir", str(out), "--run-name", "first"]
    journal_path = out / "first" / "predictions" / "vqav2_testdev.jsonl"
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while proc.poll() is None or first is None:
        if journal_path.exists() and journal_path.stat().st_size:
            first = time.perf_counter() - started
            break
        time.sleep(0.005)
    proc.wait()
    helps = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "infmllm_eval", "--help"], check=True,
                       capture_output=True)
        helps.append(time.perf_counter() - t)
    return {"samples": args.light, "per_sample_overhead_ms": round(per_sample_ms, 3),
            "run_first_sample_s": round(first, 2) if first else None,
            "help_s": round(min(helps), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--naive", type=int, default=32)
    parser.add_argument("--light", type=int, default=2000)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                              "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        report["harness"] = part_harness(args, Path(tmp))
        if not args.skip_model:
            report["model"] = part_model(args, Path(tmp))
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
