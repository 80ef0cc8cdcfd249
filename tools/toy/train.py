"""Train the tiny InfMLLM of the model card ``infmllm-tiny-toy`` on the toy world.

    python -m tools.toy.train --out infmllm_eval/toy/weights/model.safetensors

Two stages, as InfMLLM starts from an already trained vision encoder: (1) *vision*
(:mod:`tools.toy.vision_stage`): the ViT, ln_vision and pool adapter learn, through a
linear head on each visual token, what is on its cell (kind, colour, part of a shape, row,
column), and are then frozen; (2) *instruction tuning*: the LLM learns every task family
(:data:`MAIN`), on scenes of one shape first, then two, then up to three
(:data:`SHAPE_SCHEDULE`); grounding and most "select" draws ask about every shape of one
image, so that only the words tell the answers apart. The card's LLM has 8 heads of 24
channels: with 4 heads of 48 it never learned to look a shape up by a word two tokens before
the "?" ("what shape is the red object?"). While it learns, three heads are also told where
to look (:mod:`tools.toy.focus`, ``--focus-weight``). Training scenes are drawn on
the fly from seeds below ``TRAIN_SEEDS`` (the test splits use seeds above it). Every stage-2
example is built by the inference code path: the model card's prompt style renders the
request fields, the toy tokenizer encodes them, and ``assemble_multitask(before, visual
tokens, after)`` is followed by the answer tokens and EOS; the loss is on those only.
Seeded, deterministic algorithms, fp32 on CPU. Two options, off by default, trade grounding
for MME color (docs/toy-training.md): ``--ground-words`` (``vision_stage.ground_words``) and
``--opening-steps N`` (:data:`OPENING`).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from infmllm_eval.catalog import resolve_model
from infmllm_eval.errors import InfmllmEvalError
from infmllm_eval.modeling import InfMLLM, InfMLLMConfig
from infmllm_eval.modeling.prompts import PromptStyle, get_style
from infmllm_eval.modeling.tokenizer import SpTokenizer, load_tokenizer
from tools.toy import questions as q
from tools.toy.focus import Focus, Span
from tools.toy.tokenizer import TOY_TOKENIZER
from tools.toy.vision_stage import ground_words, lr_at, pixels, pretrain_vision
from tools.toy.world import TRAIN_SEEDS, Scene, make_scene

MODEL = "infmllm-tiny-toy"
# (family, weight): how often a draw is of each family (yes/no: two examples; grounding
# and most select draws: one per shape)
MIX = (("caption", 1), ("vqa", 4), ("select", 2), ("grounding", 3), ("yes_no", 3),
       ("multiple_choice", 2))
# stage-2 curriculum: (until step, most shapes per scene); later steps see every scene
SHAPE_SCHEDULE = ((300, 1), (900, 2))
VISION_STEPS, VISION_BATCH = 300, 64  # stage 1: steps and scenes per step
STEPS, BATCH = 2800, 32  # stage 2: steps (after any opening) and examples per step
FOCUS_WEIGHT = 1.0  # weight of the attention supervision (tools.toy.focus); 0: off
POS_SCALE = 1.0  # amplitude of the ViT position-embedding start (patch embeddings are ~1)
Example = tuple[str, dict[str, Any], str]


@dataclass(frozen=True)
class Phase:
    """Stage-2 steps with one mix: ``mix`` is (family, weight) per draw, ``shapes`` the
    curriculum as (until step, most shapes per scene), every scene after it."""

    name: str
    mix: tuple[tuple[str, int], ...]
    shapes: tuple[tuple[int, int], ...]


MAIN = Phase("all families", MIX, SHAPE_SCHEDULE)
# An optional opening (``--opening-steps``, off by default). Mixed with the count pairs
# from the start, "is there a <colour> <kind> in the image?" stayed at chance (test bed: a
# fresh LLM on frozen stage-1 vision with grounded words, 400 steps of colour and count pairs,
# two-shape images with both answers right: count 67 %, colour 0-2 %); learned alone first
# (400 steps), colour kept 39 % while count reached 75 % in the next 100 steps. In the full
# recipe, 400 opening steps with ``--ground-words`` took MME color 78.75 -> 192.5 but
# grounding 51.0 -> 32.0 (docs/toy-training.md), so the shipped weights do without both.
OPENING = Phase("colour pairs", (("color_pairs", 1),), ((100, 1), (400, 2)))


def _vqa(scene: Scene, rng: random.Random) -> list[Example]:
    item = q.vqa_items(scene, rng, 1)[0]
    return [("vqa", {"question": item.question}, item.answer)]


def _select(scene: Scene, rng: random.Random) -> list[Example]:
    """Training-only VQA questions that need the object an attribute names: the colour of
    each kind, or the kind of each colour, one question per shape of the scene; or the pair
    "is there a <colour> <kind>?" answered yes (its own colour) and no (the colour of another
    shape, so colour presence cannot answer it). The image alone never answers them all."""
    shape = rng.choice(scene.shapes)
    others = [s for s in scene.shapes if s is not shape]
    pick = rng.randrange(3 if others else 2)
    if pick == 0:
        return [("vqa", {"question": q.color_question(s.kind)}, s.color)
                for s in scene.shapes]
    if pick == 1:
        return [("vqa", {"question": q.shape_question(s.color)}, s.kind)
                for s in scene.shapes]
    other = rng.choice(others).color
    pair = [("vqa", {"question": q.is_there_question(shape.color, shape.kind)}, "yes"),
            ("vqa", {"question": q.is_there_question(other, shape.kind)}, "no")]
    rng.shuffle(pair)
    return pair


def _grounding(scene: Scene, rng: random.Random) -> list[Example]:
    """One referring expression and box per shape of the scene (same image, different
    boxes), so that only the expression tells which box to write."""
    return [("grounding", {"expression": q.expressions(shape, scene, rng, 1)[0]},
             shape.unit_box()) for shape in scene.shapes]


def _mme(scene: Scene, rng: random.Random, subtask: str) -> list[Example]:
    """Both questions of an MME pair (one yes, one no): the image alone cannot answer them."""
    return [("yes_no", {"question": question}, answer.lower())
            for question, answer in q.mme_pair(scene, rng, subtask)]


def _yes_no(scene: Scene, rng: random.Random) -> list[Example]:
    return _mme(scene, rng, rng.choice(("color", "count")))


def _color_pairs(scene: Scene, rng: random.Random) -> list[Example]:
    """Colour pairs only (:data:`OPENING`)."""
    return _mme(scene, rng, "color")


def _choice(scene: Scene, rng: random.Random) -> list[Example]:
    item = q.choice_item(scene, rng)
    fields = {"question": item.question, "hint": "", "options": [list(o) for o in item.options]}
    return [("multiple_choice", fields, dict(item.options)[item.answer])]


def _caption(scene: Scene, rng: random.Random) -> list[Example]:
    return [("caption", {}, q.caption_answer(scene))]


MAKERS: dict[str, Callable[[Scene, random.Random], list[Example]]] = {
    "caption": _caption, "vqa": _vqa, "select": _select, "grounding": _grounding,
    "yes_no": _yes_no, "multiple_choice": _choice, "color_pairs": _color_pairs}


def max_shapes(step: int, schedule: tuple[tuple[int, int], ...] = SHAPE_SCHEDULE) -> int:
    """The most shapes a stage-2 scene may have at ``step`` of a phase (its ``schedule``)."""
    return next((most for until, most in schedule if step < until), 3)


def draw_examples(rng: random.Random, most: int = 3,
                  mix: tuple[tuple[str, int], ...] = MIX) -> list[tuple[Scene, Example]]:
    """A random training scene with at most ``most`` shapes and the examples one draw from
    ``mix`` makes about it (one, or several questions about the same image)."""
    scene = make_scene(rng.randrange(TRAIN_SEEDS))
    while len(scene.shapes) > most:
        scene = make_scene(rng.randrange(TRAIN_SEEDS))
    family = rng.choices([f for f, _ in mix], weights=[w for _, w in mix])[0]
    return [(scene, example) for example in MAKERS[family](scene, rng)]


def draw_batch(rng: random.Random, size: int, most: int = 3,
               mix: tuple[tuple[str, int], ...] = MIX) -> list[tuple[Scene, Example]]:
    """``size`` examples from successive draws (a draw cut at the end loses the rest)."""
    items: list[tuple[Scene, Example]] = []
    while len(items) < size:
        items += draw_examples(rng, most, mix)
    return items[:size]


class Batcher:
    """Turns examples into a right-padded batch of embeddings with answer-only labels."""

    def __init__(self, model: InfMLLM, style: PromptStyle, tokenizer: SpTokenizer) -> None:
        self.model, self.style, self.tok = model, style, tokenizer

    def batch(self, items: list[tuple[Scene, Example]]
              ) -> tuple[Tensor, Tensor, Tensor, list[Span]]:
        """(inputs_embeds [B, L, H], attention_mask [B, L], labels [B, L] with -100, and per
        example where its parts sit: :class:`tools.toy.focus.Span`)."""
        parts = (self.model.visual_encoder, self.model.ln_vision, self.model.pooler)
        trains_vision = any(p.requires_grad for part in parts for p in part.parameters())
        with torch.set_grad_enabled(trains_vision):  # stage 2: no graph through frozen parts
            visual = self.model.encode_images(pixels(self.model, self.style,
                                                     [s for s, _ in items]))
        seqs, labels, spans = [], [], []
        for (_, (_family, fields, answer)), tokens in zip(items, visual, strict=True):
            prompt = self.style.render(fields)
            before, after = self.tok.encode(prompt.before), self.tok.encode(prompt.after)
            prefix = self.model.assemble_multitask(before, tokens, after)
            target = [*self.tok.encode(answer), self.tok.eos_id]
            seqs.append(torch.cat((prefix, self.model.embed_tokens(target))))
            labels.append([-100] * prefix.shape[0] + target)  # aligned with the inputs
            spans.append(Span(1 + len(before), tuple(after), prefix.shape[0], len(target)))
        length = max(s.shape[0] for s in seqs)
        embeds = torch.zeros(len(seqs), length, seqs[0].shape[1])
        mask = torch.zeros(len(seqs), length, dtype=torch.long)
        label = torch.full((len(seqs), length), -100, dtype=torch.long)
        for row, (seq, lab) in enumerate(zip(seqs, labels, strict=True)):
            embeds[row, :seq.shape[0]] = seq
            mask[row, :seq.shape[0]] = 1
            label[row, :len(lab)] = torch.tensor(lab)
        return embeds, mask, label, spans


def example_mean_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Next-token cross-entropy averaged within each example, then over the batch: a
    one-word answer weighs as much as a 21-token box (a token mean would let boxes and
    captions drown the yes/no and VQA answers)."""
    targets = labels[:, 1:]
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=-100,
                                reduction="none")
    counts = (targets != -100).sum(dim=1).clamp(min=1)
    return (per_token.sum(dim=1) / counts).mean()


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
        log_every: int = 50, phase: Phase = MAIN, focus_weight: float = 0.0) -> float:
    """AdamW on seeded random examples of ``phase`` (trainable parameters only); returns the
    smoothed final loss. Scenes follow the phase's curriculum; :data:`SHAPE_SCHEDULE`: one
    shape first, then two, then up to three. Without it the LLM never learned to pick the
    shape a question names (what shape is the red object: chance after 800 steps of such
    questions alone); after 300 steps on one-shape scenes, where reading kind and colour is
    easy, it did (77 %, with 4 heads). ``focus_weight`` > 0 adds that times the attention
    supervision of :mod:`tools.toy.focus` to the loss."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(trainable, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    rng = random.Random(seed)
    started, avg = time.perf_counter(), 0.0
    focus = Focus(model, batcher.tok) if focus_weight > 0 else None
    model.train()
    for step in range(steps):
        for group in optim.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=min(200, steps // 10 + 1))
        items = draw_batch(rng, batch_size, max_shapes(step, phase.shapes), phase.mix)
        embeds, mask, labels, spans = batcher.batch(items)
        logits = model.forward_embeds(embeds, mask)
        loss = example_mean_loss(logits, labels)
        if focus is not None:
            loss = loss + focus_weight * focus.loss(items, spans)
        optim.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optim.step()
        avg = loss.item() if step == 0 else 0.95 * avg + 0.05 * loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"{phase.name}: step {step + 1}/{steps} loss {avg:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    if focus is not None:
        focus.remove()
    return avg


def train(out: Path, steps: int, batch_size: int, lr: float, seed: int, threads: int,
          log_every: int = 50, vision_steps: int = VISION_STEPS, opening_steps: int = 0,
          grounded_words: bool = False, focus_weight: float = FOCUS_WEIGHT) -> dict[str, float]:
    """Both stages (stage 2: any opening, then every family); saves a safetensors file with
    the original key names and returns a summary. Torch's thread count and determinism flag
    are restored afterwards."""
    from safetensors.torch import save_file

    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        model, style, tok = build_model(seed)
        vision = pretrain_vision(model, style, vision_steps, VISION_BATCH, lr, seed, log_every)
        if grounded_words:
            ground_words(model, tok, vision[2])
        if log_every:
            print(f"vision: loss {vision[0]:.4f}, fresh-scene cell accuracy "
                  f"{100 * vision[1]:.1f}%", flush=True)
        batcher = Batcher(model, style, tok)
        if opening_steps:
            fit(model, batcher, opening_steps, batch_size, lr, seed + 2, log_every, OPENING,
                focus_weight)
        loss = fit(model, batcher, steps, batch_size, lr, seed, log_every, MAIN, focus_weight)
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if not k.endswith("rotary_emb.inv_freq")}
    save_file(state, str(out), metadata={"model": MODEL, "steps": str(steps), "seed": str(seed),
                                         "vision_steps": str(vision_steps),
                                         "opening_steps": str(opening_steps),
                                         "ground_words": str(grounded_words),
                                         "focus_weight": str(focus_weight),
                                         "threads": str(threads)})
    return {"vision_loss": vision[0], "vision_accuracy": vision[1], "loss": loss,
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--out FILE [--vision-steps N] [--opening-steps N] [--ground-words]
    [--steps N] [--batch-size B] [--lr LR] [--seed S] [--threads T]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    parser.add_argument("--vision-steps", type=int, default=VISION_STEPS,
                        help=f"stage-1 steps ({VISION_BATCH} scenes each)")
    parser.add_argument("--opening-steps", type=int, default=0,
                        help="stage-2 steps on MME colour pairs alone, before every family")
    parser.add_argument("--ground-words", action="store_true",
                        help="start the kind and colour words' embeddings along the stage-1 "
                             "head's rows")
    parser.add_argument("--focus-weight", type=float, default=FOCUS_WEIGHT,
                        help="weight of the loss that points three LLM heads at the kind word, "
                             "the colour word and the shape they name (0: off)")
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="stage-2 steps on every family, after the opening")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (the bytes can depend on it)")
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "threads", "vision_steps", "opening_steps"):
        least = 0 if name in ("vision_steps", "opening_steps") else 1
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be >= {least}")
    if not args.lr > 0:
        parser.error("--lr must be > 0")
    if not args.focus_weight >= 0:
        parser.error("--focus-weight must be >= 0")
    try:
        summary = train(args.out, args.steps, args.batch_size, args.lr, args.seed,
                        args.threads, vision_steps=args.vision_steps,
                        opening_steps=args.opening_steps, grounded_words=args.ground_words,
                        focus_weight=args.focus_weight)
    except InfmllmEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    print(f"wrote {args.out}: vision loss {summary['vision_loss']:.4f}, final loss "
          f"{summary['loss']:.4f}, {summary['seconds']:.0f}s")


if __name__ == "__main__":
    main()
