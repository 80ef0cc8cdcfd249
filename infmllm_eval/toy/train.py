"""Train the tiny InfMLLM of the model card ``infmllm-tiny-toy`` on the toy world.

    python -m infmllm_eval.toy.train --out infmllm_eval/toy/weights/model.safetensors

Training scenes are drawn on the fly from seeds below :data:`TRAIN_SEEDS` (the test splits
use seeds above it). Every example is built by the inference code path: the model card's
prompt style renders the request fields, the toy tokenizer encodes them, and
``assemble_multitask(before, visual tokens, after)`` is followed by the answer tokens and
EOS; the loss is on those only. Seeded, deterministic algorithms, fp32 on CPU.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from infmllm_eval.catalog import resolve_model
from infmllm_eval.modeling import InfMLLM, InfMLLMConfig
from infmllm_eval.modeling.preprocess import preprocess
from infmllm_eval.modeling.prompts import PromptStyle, get_style
from infmllm_eval.modeling.tokenizer import SpTokenizer, load_tokenizer
from infmllm_eval.toy import questions as q
from infmllm_eval.toy.tokenizer import TOY_TOKENIZER
from infmllm_eval.toy.world import Scene, make_scene

MODEL = "infmllm-tiny-toy"
TRAIN_SEEDS = 1_000_000  # scenes 0 .. TRAIN_SEEDS-1 train; the test splits use larger seeds
# (family, weight): how often a training example is of each kind
MIX = (("caption", 1), ("vqa", 3), ("grounding", 7), ("yes_no", 3), ("multiple_choice", 2))
POS_SCALE = 1.0  # amplitude of the ViT position-embedding start (patch embeddings are ~1)
Example = tuple[str, dict[str, Any], str]


def _vqa(scene: Scene, rng: random.Random) -> Example:
    item = q.vqa_items(scene, rng, 1)[0]
    return "vqa", {"question": item.question}, item.answer


def _select(scene: Scene, rng: random.Random) -> Example:
    """A training-only VQA question that needs the object an attribute names: the colour of
    a kind, the kind of a colour, or "is there a <colour> <kind>?" with the colour of another
    shape in the scene (so that colour presence alone cannot answer it). Not in the default
    MIX (a run with it was not better); its texts are part of the toy tokenizer's corpus."""
    shape = rng.choice(scene.shapes)
    others = [s for s in scene.shapes if s is not shape]
    pick = rng.randrange(3 if others else 2)
    if pick == 0:
        return "vqa", {"question": f"What color is the {shape.kind}?"}, shape.color
    if pick == 1:
        return "vqa", {"question": f"What shape is the {shape.color} object?"}, shape.kind
    if rng.random() < 0.5:
        return "vqa", {"question": f"Is there a {shape.color} {shape.kind}?"}, "yes"
    return "vqa", {"question": f"Is there a {rng.choice(others).color} {shape.kind}?"}, "no"


def _grounding(scene: Scene, rng: random.Random) -> Example:
    shape = rng.choice(scene.shapes)
    return "grounding", {"expression": q.expressions(shape, scene, rng, 1)[0]}, shape.unit_box()


def _yes_no(scene: Scene, rng: random.Random) -> Example:
    question, answer = q.mme_pair(scene, rng, rng.choice(("color", "count")))[0]
    return "yes_no", {"question": question}, answer.lower()


def _choice(scene: Scene, rng: random.Random) -> Example:
    item = q.choice_item(scene, rng)
    fields = {"question": item.question, "hint": "", "options": [list(o) for o in item.options]}
    return "multiple_choice", fields, dict(item.options)[item.answer]


def _caption(scene: Scene, rng: random.Random) -> Example:
    return "caption", {}, q.caption_answer(scene)


MAKERS: dict[str, Callable[[Scene, random.Random], Example]] = {
    "caption": _caption, "vqa": _vqa, "select": _select, "grounding": _grounding,
    "yes_no": _yes_no, "multiple_choice": _choice}


def draw_example(rng: random.Random) -> tuple[Scene, Example]:
    """A random training scene and one example about it."""
    scene = make_scene(rng.randrange(TRAIN_SEEDS))
    family = rng.choices([f for f, _ in MIX], weights=[w for _, w in MIX])[0]
    return scene, MAKERS[family](scene, rng)


class Batcher:
    """Turns examples into a right-padded batch of embeddings with answer-only labels."""

    def __init__(self, model: InfMLLM, style: PromptStyle, tokenizer: SpTokenizer) -> None:
        self.model, self.style, self.tok = model, style, tokenizer

    def batch(self, items: list[tuple[Scene, Example]]) -> tuple[Tensor, Tensor, Tensor]:
        """(inputs_embeds [B, L, H], attention_mask [B, L], labels [B, L] with -100)."""
        size, transform = self.model.config.image_size, self.style.image_transform
        pixels = torch.stack([preprocess(scene.draw(), size, transform) for scene, _ in items])
        visual = self.model.encode_images(pixels)
        seqs, labels = [], []
        for (_, (family, fields, answer)), tokens in zip(items, visual, strict=True):
            prompt = self.style.render(family, fields)
            prefix = self.model.assemble_multitask(self.tok.encode(prompt.before), tokens,
                                                   self.tok.encode(prompt.after))
            target = [*self.tok.encode(answer), self.tok.eos_id]
            seqs.append(torch.cat((prefix, self.model.embed_tokens(target))))
            labels.append([-100] * prefix.shape[0] + target)  # aligned with the inputs
        length = max(s.shape[0] for s in seqs)
        embeds = torch.zeros(len(seqs), length, seqs[0].shape[1])
        mask = torch.zeros(len(seqs), length, dtype=torch.long)
        label = torch.full((len(seqs), length), -100, dtype=torch.long)
        for row, (seq, lab) in enumerate(zip(seqs, labels, strict=True)):
            embeds[row, :seq.shape[0]] = seq
            mask[row, :seq.shape[0]] = 1
            label[row, :len(lab)] = torch.tensor(lab)
        return embeds, mask, label


def example_mean_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Next-token cross-entropy averaged within each example, then over the batch: a
    one-word answer weighs as much as a 21-token box (a token mean would let boxes and
    captions drown the yes/no and VQA answers)."""
    targets = labels[:, 1:]
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=-100,
                                reduction="none")
    counts = (targets != -100).sum(dim=1).clamp(min=1)
    return (per_token.sum(dim=1) / counts).mean()


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def sincos_positions(grid: int, width: int, scale: float = 1.0) -> Tensor:
    """A fixed 2-D sine-cosine table [1, 1 + grid*grid, width] (zeros for CLS): half the
    channels encode the column, half the row, at geometric frequencies (as in MAE)."""
    quarter = width // 4
    freqs = 1.0 / (grid ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                            torch.arange(grid, dtype=torch.float64), indexing="ij")
    parts = []
    for coord in (xs.flatten(), ys.flatten()):
        angles = coord[:, None] * freqs[None, :] * math.pi / 2
        parts += [angles.sin(), angles.cos()]
    table = torch.zeros(1 + grid * grid, width, dtype=torch.float64)
    table[1:, :4 * quarter] = torch.cat(parts, dim=1)
    return (scale * table).unsqueeze(0).float()


def build_model(seed: int) -> tuple[InfMLLM, PromptStyle, SpTokenizer]:
    """The card's architecture, seeded random init with a 2-D sine-cosine start for the ViT's
    position embedding (a 0.02-std start leaves where a patch is far quieter than what it
    shows, and grounding learns slowly); its prompt style; the toy tokenizer."""
    card = resolve_model(MODEL)
    torch.manual_seed(seed)
    model = InfMLLM(InfMLLMConfig.from_dict(dict(card.architecture), source=card.path))
    vit = model.visual_encoder
    with torch.no_grad():
        vit.pos_embed.copy_(sincos_positions(vit.grid_size, vit.width, POS_SCALE))
    return model, get_style(card.prompt_style), load_tokenizer(TOY_TOKENIZER)


def fit(model: InfMLLM, batcher: Batcher, steps: int, batch_size: int, lr: float, seed: int,
        log_every: int = 50) -> float:
    """AdamW on seeded random examples; returns the smoothed final loss."""
    optim = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    rng = random.Random(seed)
    started, avg = time.perf_counter(), 0.0
    model.train()
    for step in range(steps):
        for group in optim.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=min(200, steps // 10 + 1))
        embeds, mask, labels = batcher.batch([draw_example(rng) for _ in range(batch_size)])
        logits = model.forward_embeds(embeds, mask)
        loss = example_mean_loss(logits, labels)
        optim.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        avg = loss.item() if step == 0 else 0.95 * avg + 0.05 * loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} loss {avg:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return avg


def train(out: Path, steps: int, batch_size: int, lr: float, seed: int, threads: int,
          log_every: int = 50) -> dict[str, float]:
    """Train and save a safetensors file with the original key names; returns a summary.
    Torch's thread count and determinism flag are restored afterwards."""
    from safetensors.torch import save_file

    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        model, style, tok = build_model(seed)
        loss = fit(model, Batcher(model, style, tok), steps, batch_size, lr, seed, log_every)
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if not k.endswith("rotary_emb.inv_freq")}
    save_file(state, str(out), metadata={"model": MODEL, "steps": str(steps), "seed": str(seed)})
    return {"loss": loss, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--out FILE [--steps N] [--batch-size B] [--lr LR] [--seed S]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    parser.add_argument("--steps", type=int, default=2800)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: the same bytes on any machine)")
    args = parser.parse_args(argv)
    summary = train(args.out, args.steps, args.batch_size, args.lr, args.seed, args.threads)
    print(f"wrote {args.out}: final loss {summary['loss']:.4f}, {summary['seconds']:.0f}s")


if __name__ == "__main__":
    main()
