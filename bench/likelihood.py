"""Benchmark: likelihood scoring of 4-option questions on CPU (fp32), prefix shared vs naive.

The ~93M-parameter configuration of bench/generation.py (random seeded weights, the tiny
tokenizer), --questions multiple-choice requests over the 8 bundled demo images, each option
scored as ``A. <option text>``. Prefix shared: the adapter's ``loglikelihood`` (each image
through the ViT once, each prompt through the LLM once, continuations on its KV cache), with
an empty feature cache. Naive: every option a full, independent sequence (image encoded for
it, whole prompt + continuation forwarded), the 4 options of a question in one batch. Checks
that both give the same log-probabilities; JSON to stdout (and --output).
Usage: python bench/likelihood.py [--questions 16] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import ARCH

from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.cards import ModelCard
from infmllm_eval.commands import demo_root
from infmllm_eval.data.images import load_image
from infmllm_eval.engine.feature_cache import FeatureCache, ImageFeatures
from infmllm_eval.modeling.preprocess import preprocess
from infmllm_eval.types import GenerationConfig, Request

WORDS = ["a red bus on the street", "two dogs playing", "a plate of food", "a man riding",
         "an empty kitchen", "three birds", "a cat asleep", "people at a table"]


def requests(n: int) -> list[Request]:
    images = sorted((demo_root() / "data" / "coco" / "val2014").glob("*.jpg"))
    out = []
    for i in range(n):
        options = [[letter, WORDS[(i + k) % len(WORDS)]] for k, letter in enumerate("ABCD")]
        fields = {"question": f"what does picture {i} show?", "hint": "", "options": options}
        out.append(Request(str(i), str(images[i % len(images)]), "multiple_choice", fields,
                           GenerationConfig(), tuple(f"{a}. {t}" for a, t in options)))
    return out


@torch.inference_mode()
def naive(adapter: InfMLLMAdapter, reqs: list[Request]) -> list[list[float]]:
    model, tok, style = adapter.model, adapter.tokenizer, adapter.style
    found = []
    for req in reqs:
        prompt = style.render(req.fields)
        pixels = preprocess(load_image(req.image or ""), adapter.config.image_size,
                            style.image_transform)
        visual = model.encode_images(pixels[None].expand(len(req.continuations), -1, -1, -1))
        conts = [tok.encode(c) for c in req.continuations]
        seqs = [model.assemble_multitask(tok.encode(prompt.before), v,
                                         tok.encode(prompt.after) + c)
                for v, c in zip(visual, conts, strict=True)]
        embeds, mask = model.left_pad(seqs)
        logp = model.forward_embeds(embeds, mask).double().log_softmax(-1)
        width = embeds.shape[1]
        found.append([float(sum(logp[row, width - len(c) - 1 + j, t] for j, t in enumerate(c)))
                      for row, c in enumerate(conts)])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    card = ModelCard(name="bench-100m", adapter="infmllm", prompt_style="multitask",
                     architecture=dict(ARCH))  # type: ignore[arg-type]
    adapter = InfMLLMAdapter(card, {"init": "random", "tokenizer": "tiny", "device": "cpu"})
    reqs = requests(args.questions)
    shared_s, naive_s = [], []
    shared: list[list[float]] = []
    for _ in range(args.repeats):
        adapter.features = ImageFeatures(FeatureCache())  # empty: every image encoded
        started = time.perf_counter()
        shared = [[lk.logprob for lk in r.likelihoods]
                  for i in range(0, len(reqs), args.batch)
                  for r in adapter.loglikelihood(reqs[i:i + args.batch])]
        shared_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        reference = naive(adapter, reqs)
        naive_s.append(time.perf_counter() - started)
    diff = max(abs(a - b) for x, y in zip(shared, reference, strict=True)
               for a, b in zip(x, y, strict=True))
    result = {"parameters": sum(p.numel() for p in adapter.model.parameters()),
              "questions": len(reqs), "options": 4, "batch": args.batch,
              "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "prefix_shared_s": round(min(shared_s), 3), "naive_s": round(min(naive_s), 3),
              "speedup": round(min(naive_s) / min(shared_s), 2),
              "max_abs_logprob_diff": diff}
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
