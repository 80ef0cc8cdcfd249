"""Build the tokenizer of ``infmllm-tiny-toy`` (``toy/tokenizer/tokenizer.model``): an
at most 512-piece SentencePiece BPE with byte fallback, trained on the texts the toy model reads and
writes (the card's prompt style rendered for seeded training examples, plus the answers).

A real LLaMA tokenizer keeps common words whole; the generic tiny tokenizer splits "purple"
into four pieces, and the toy model would first have to learn to put colour names back
together. The words of the toy world are therefore user-defined pieces here.

    python -m infmllm_eval.toy.tokenizer     # rewrites the shipped file, byte for byte
"""

from __future__ import annotations

import random
from pathlib import Path

from infmllm_eval.modeling.tiny_tokenizer import CORPUS, train_bpe
from infmllm_eval.toy.world import BACKGROUNDS, COLORS, KINDS, NUMBER_WORDS

TOY_TOKENIZER = Path(__file__).resolve().parent / "tokenizer"
WORDS = (*COLORS, *BACKGROUNDS, *KINDS, *NUMBER_WORDS, "star", "shape", "shapes", "object",
         "background", "picture", "image", "color", "number", "there", "what", "how", "many")


def corpus(n: int = 4000, seed: int = 0) -> str:
    """Prompts and answers of ``n`` seeded training examples, one per line."""
    from infmllm_eval.catalog import resolve_model
    from infmllm_eval.modeling.prompts import get_style
    from infmllm_eval.toy.train import MAKERS, MODEL, TRAIN_SEEDS
    from infmllm_eval.toy.world import make_scene

    style = get_style(resolve_model(MODEL).prompt_style)
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        scene = make_scene(rng.randrange(TRAIN_SEEDS))
        family, fields, answer = MAKERS[sorted(MAKERS)[i % len(MAKERS)]](scene, rng)
        prompt = style.render(family, fields)
        lines.append(f"{prompt.before} {prompt.after} {answer}")
    return "\n".join(lines) + "\n" + CORPUS  # the generic tiny tokenizer's text as well


def train(out_dir: Path = TOY_TOKENIZER, vocab_size: int = 512) -> Path:
    """Train into ``out_dir/tokenizer.model``; ids: unk 0, bos 1, eos 2 (as the tiny one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return train_bpe(corpus(), out_dir / "tokenizer.model", vocab_size,
                     user_defined_symbols=[f"\u2581{w}" for w in sorted(set(WORDS))],
                     hard_vocab_limit=False)


if __name__ == "__main__":
    print(train())
