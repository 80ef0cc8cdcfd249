"""Stage 1 of the toy trainer (:mod:`tools.toy.train`): the vision encoder learns
what is on each cell of the 4x4 grid, is frozen, and can lend its head's rows to the kind
and colour words (:func:`ground_words`). Also the learning-rate schedule both stages use.
"""

from __future__ import annotations

import math
import random
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling import InfMLLM
from infmllm_eval.modeling.preprocess import preprocess
from infmllm_eval.modeling.prompts import PromptStyle
from infmllm_eval.modeling.tokenizer import SpTokenizer
from tools.toy.world import (
    BACKGROUNDS,
    CELL,
    COLORS,
    KINDS,
    SIZE,
    TRAIN_SEEDS,
    Scene,
    make_scene,
)


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def pixels(model: InfMLLM, style: PromptStyle, scenes: list[Scene]) -> Tensor:
    """Normalized images [B, 3, S, S] of the scenes, as the adapter preprocesses them."""
    size = model.config.image_size
    return torch.stack([preprocess(s.draw(), size, style.image_transform) for s in scenes])


def cell_labels(scenes: list[Scene]) -> Tensor:
    """Stage-1 labels [B, cells, 5]: per grid cell (row by row) its shape's kind (0: none,
    1-3), the colour it shows (0-4: the shape's; 5-7: the background's, on a cell without a
    shape), the part of the shape (:meth:`Scene.cells`), and the cell's row and column.
    Without the background colour label "what color is the background?" was right 49 % of
    the time (100 % with it); without row and column the adapter, trained in stage 2,
    dropped where a cell is (a linear probe: 43 %) and grounding stalled."""
    colors, backgrounds = sorted(COLORS), sorted(BACKGROUNDS)
    side = SIZE // CELL
    rows = [[(0, len(colors) + backgrounds.index(scene.background), 0) if shape is None else
             (1 + KINDS.index(shape.kind), colors.index(shape.color), part)
             for shape, part in scene.cells()] for scene in scenes]
    return torch.tensor([[(*labels, i // side, i % side) for i, labels in enumerate(row)]
                         for row in rows], dtype=torch.long)


LABEL_SIZES = (1 + len(KINDS), len(COLORS) + len(BACKGROUNDS), 5, SIZE // CELL, SIZE // CELL)


def pretrain_vision(model: InfMLLM, style: PromptStyle, steps: int, batch_size: int,
                    lr: float, seed: int, log_every: int = 50) -> tuple[float, float, nn.Linear]:
    """Stage 1: train the ViT, ln_vision and pool adapter, through a linear head on each
    visual token (one per cell), to tell what is on the cell (:func:`cell_labels`); then
    freeze them. Returns the smoothed final loss (the sum of the five cross-entropies), the
    head's accuracy over the labels of every cell of 64 fresh scenes, and the head (only
    :func:`ground_words` uses it).

    Trained end to end from one-word answers, the ViT never made a patch's kind decodable
    (a linear probe: 37 %, chance 33 %); this stage does it in a few hundred steps, as
    InfMLLM starts from an already trained vision encoder."""
    side = SIZE // CELL
    if (model.config.image_size != SIZE or model.visual_encoder.grid_size != side
            or model.config.pool_out_size != side):
        raise BadInputError(f"toy vision pretraining needs {SIZE}-pixel images cut into "
                            f"{side}x{side} patches and pooled to {side}x{side} tokens, one per "
                            f"cell; the card has image_size {model.config.image_size}, "
                            f"patch_size {model.config.patch_size}, pool_out_size "
                            f"{model.config.pool_out_size}")
    head = nn.Linear(model.config.llm_hidden, sum(LABEL_SIZES))
    vision = [*model.visual_encoder.parameters(), *model.ln_vision.parameters(),
              *model.pooler.parameters()]
    optim = torch.optim.AdamW([*vision, *head.parameters()], lr=lr, weight_decay=0.01)
    rng = random.Random(seed + 1)
    started, avg = time.perf_counter(), 0.0
    for step in range(steps):
        for group in optim.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=min(30, steps // 10 + 1))
        scenes = [make_scene(rng.randrange(TRAIN_SEEDS)) for _ in range(batch_size)]
        labels = cell_labels(scenes)
        logits = head(model.encode_images(pixels(model, style, scenes)))
        loss = sum((F.cross_entropy(part.flatten(0, 1), labels[..., i].flatten())
                    for i, part in enumerate(logits.split(LABEL_SIZES, dim=-1))),
                   torch.zeros(()))
        optim.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optim.step()
        avg = loss.item() if step == 0 else 0.95 * avg + 0.05 * loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"vision {step + 1}/{steps} loss {avg:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    for param in vision:
        param.requires_grad_(False)
    scenes = [make_scene(rng.randrange(TRAIN_SEEDS)) for _ in range(64)]
    with torch.no_grad():
        logits = head(model.encode_images(pixels(model, style, scenes)))
    guesses = torch.stack([part.argmax(-1) for part in logits.split(LABEL_SIZES, dim=-1)], -1)
    return avg, float((guesses == cell_labels(scenes)).float().mean()), head


def grounded_rows() -> dict[str, int]:
    """The stage-1 head row of each kind, colour and background word (:data:`LABEL_SIZES`)."""
    colors = LABEL_SIZES[0]
    return {**{kind: 1 + i for i, kind in enumerate(KINDS)},
            **{color: colors + i for i, color in enumerate([*sorted(COLORS),
                                                            *sorted(BACKGROUNDS)])}}


def ground_words(model: InfMLLM, tokenizer: SpTokenizer, head: nn.Linear) -> None:
    """Start the text embedding of every kind, colour and background word along the stage-1
    head's row for its class, at the embeddings' mean row norm: the word then points the
    way the visual tokens that show it do, as words and images share a space in an MLLM
    whose LLM was trained first. Without it "is there a red shape?" never left chance (a
    fresh 8-head LLM on frozen stage-1 vision, 500 steps of such pairs alone: loss flat at
    ln 2 / 2, 0 % of two-shape images with both answers right; with it 56 %; the MME colour
    pairs 0 % -> 45 %)."""
    embedding = model.lm_model.get_input_embeddings()
    assert isinstance(embedding, nn.Embedding)
    table = embedding.weight
    with torch.no_grad():
        norm = table.norm(dim=-1).mean()
        for word, row in grounded_rows().items():
            ids = tokenizer.encode(word)
            if len(ids) != 1:
                raise BadInputError(f"the toy tokenizer splits {word!r} into {len(ids)} "
                                    "pieces; word grounding needs one token per word")
            direction = head.weight[row]
            table[ids[0]] = direction / direction.norm() * norm
