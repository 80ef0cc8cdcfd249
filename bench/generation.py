"""Benchmark: InfMLLM generation throughput on CPU (fp32) at several batch sizes.

A ~100M-parameter configuration of the real architecture (random seeded weights, the bundled
tiny tokenizer), 32 VQA requests over the 8 bundled demo images, greedy decoding of exactly
--tokens new tokens (min = max, so every batch size generates the same work). Side by side in
one run; JSON to stdout (and --output). Usage: python bench/generation.py [--batches 1,8,32]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.cards import ModelCard
from infmllm_eval.commands import demo_root
from infmllm_eval.types import GenerationConfig, Request

ARCH = {"image_size": 224, "patch_size": 14, "vit_width": 512, "vit_depth": 6, "vit_heads": 8,
        "vit_mlp_ratio": 4.3637, "pool_out_size": 4, "llm_hidden": 768, "llm_layers": 10,
        "llm_heads": 12, "llm_intermediate": 2048, "vocab": 512}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    card = ModelCard(name="bench-100m", adapter="infmllm", prompt_style="multitask",
                     architecture=dict(ARCH))  # type: ignore[arg-type]
    adapter = InfMLLMAdapter(card, {"init": "random", "tokenizer": "tiny", "device": "cpu"})
    params = sum(p.numel() for p in adapter.model.parameters())
    images = sorted((demo_root() / "data" / "coco" / "val2014").glob("*.jpg"))
    gen = GenerationConfig(max_new_tokens=args.tokens, min_new_tokens=args.tokens, num_beams=1)
    questions = ["What color is the shape?", "How many shapes are there in this picture?",
                 "Is there a circle?", "What is the colour of the background behind it?"]
    reqs = [Request(str(i), str(images[i % len(images)]), "vqa",
                    {"question": questions[i % len(questions)]}, gen)
            for i in range(args.requests)]
    adapter.generate(reqs[:2])  # warm-up
    report: dict[str, object] = {"params_m": round(params / 1e6, 1), "threads":
                                 torch.get_num_threads(), "python": platform.python_version(),
                                 "torch": torch.__version__, "requests": len(reqs),
                                 "new_tokens": args.tokens}
    for size in (int(b) for b in args.batches.split(",")):
        start = time.perf_counter()
        for i in range(0, len(reqs), size):
            adapter.generate(reqs[i:i + size])
        wall = time.perf_counter() - start
        report[f"batch_{size}"] = {"wall_s": round(wall, 2),
                                   "samples_per_s": round(len(reqs) / wall, 2),
                                   "tokens_per_s": round(len(reqs) * args.tokens / wall, 1)}
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
