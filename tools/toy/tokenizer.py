"""Build the tokenizer of ``infmllm-tiny-toy`` (``toy/tokenizer/tokenizer.model``): an
at most 512-piece SentencePiece BPE with byte fallback, trained on the texts the toy model reads and
writes (the card's prompt style rendered for seeded training examples, plus the answers).

A real LLaMA tokenizer keeps common words whole; the generic tiny tokenizer splits "purple"
into four pieces, and the toy model would first have to learn to put colour names back
together. The words of the toy world are therefore user-defined pieces here.

    python -m tools.toy.tokenizer     # rewrites the shipped file, byte for byte
"""

from __future__ import annotations

import random
from pathlib import Path

from infmllm_eval.modeling.tiny_tokenizer import CORPUS, train_bpe
from infmllm_eval.toy import TOKENIZER
from tools.toy import questions as q
from tools.toy.world import BACKGROUNDS, COLORS, KINDS, NUMBER_WORDS, Scene

TOY_TOKENIZER = TOKENIZER
WORDS = (*COLORS, *BACKGROUNDS, *KINDS, *NUMBER_WORDS, "star", "shape", "shapes", "object",
         "background", "picture", "image", "color", "number", "there", "what", "how", "many")


# the trainer's families when the shipped tokenizer was built (sorted), one per line in turn
CORPUS_FAMILIES = ("caption", "grounding", "multiple_choice", "select", "vqa", "yes_no")


def _grounding_request(scene: Scene, rng: random.Random) -> tuple[str, str]:
    """One expression and its box, drawn as when the shipped tokenizer was built (the
    trainer's maker now draws one expression per shape, so its random stream differs)."""
    from tools.toy.questions import expressions

    shape = rng.choice(scene.shapes)
    return expressions(shape, scene, rng, 1)[0], shape.unit_box()


def _select_question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    """One "select" question and answer, drawn as when the shipped tokenizer was built (the
    trainer's maker now asks about every shape, and the is-there question as a yes/no pair)."""
    shape = rng.choice(scene.shapes)
    others = [s for s in scene.shapes if s is not shape]
    pick = rng.randrange(3 if others else 2)
    if pick == 0:
        return q.color_question(shape.kind), shape.color
    if pick == 1:
        return q.shape_question(shape.color), shape.kind
    if rng.random() < 0.5:
        return q.is_there_question(shape.color, shape.kind), "yes"
    return q.is_there_question(rng.choice(others).color, shape.kind), "no"


def corpus(n: int = 4000, seed: int = 0) -> str:
    """Prompts and answers of ``n`` seeded training examples (the first a draw makes), one
    per line."""
    from infmllm_eval.catalog import resolve_model
    from infmllm_eval.modeling.prompts import get_style
    from tools.toy.train import MAKERS, MODEL
    from tools.toy.world import TRAIN_SEEDS, make_scene

    style = get_style(resolve_model(MODEL).prompt_style)
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        scene = make_scene(rng.randrange(TRAIN_SEEDS))
        name = CORPUS_FAMILIES[i % len(CORPUS_FAMILIES)]
        if name == "select":
            question, answer = _select_question(scene, rng)
            _family, fields = "vqa", {"question": question}
        elif name == "grounding":
            expression, answer = _grounding_request(scene, rng)
            _family, fields = "grounding", {"expression": expression}
        else:
            _family, fields, answer = MAKERS[name](scene, rng)[0]
        prompt = style.render(fields)
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
