"""Rebuild the tokenizer shipped for the tiny models (``assets/tiny_tokenizer``): a 512-piece
SentencePiece BPE with byte fallback, trained on the prompt templates and the demo vocabulary.

Run ``python -m infmllm_eval.modeling.tiny_tokenizer``; the shipped file is what it wrote.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import sentencepiece as spm

from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER

CORPUS = """\
A chat between a curious user and an artificial intelligence assistant. The assistant gives \
helpful, detailed, and polite answers to the user's questions. USER: ASSISTANT:
<image> <ImageHere> Question: Short answer: <ref> </ref>
Answer the question using a single word or phrase.
Answer with the option's letter from the given choices directly.
Please provide the bounding box coordinate of the region this sentence describes:
Provide a one-sentence caption for the provided image. A short image description:
What color is the circle? How many squares are there? Is there a triangle in the picture?
Is the square red? What does the sign say? Please answer yes or no. Hint: Options:
yes no red blue green yellow white black purple orange gray brown pink
circle square triangle shape shapes picture image photo sign word text
one two three four five left right top bottom middle center big small
a an the of on in at with and is are there this that what which where how many
stop exit cafe open sale bus hotel taxi dog cat man woman car tree sky
A. B. C. D. (0.12,0.34),(0.56,0.78) [0.1, 0.2, 0.3, 0.4] 0 1 2 3 4 5 6 7 8 9
"""


def train_bpe(text: str, target: Path, vocab_size: int = 512, **options: Any) -> Path:
    """Train a SentencePiece BPE (byte fallback; ids: unk 0, bos 1, eos 2) on ``text`` into
    ``target``, deterministically; ``options`` are further trainer settings."""
    target = target.resolve()
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative paths: the trainer records them in the model file
        try:
            Path("corpus.txt").write_text(text, encoding="utf-8")
            spm.SentencePieceTrainer.train(
                input="corpus.txt", model_prefix="tokenizer", vocab_size=vocab_size,
                model_type="bpe", character_coverage=1.0, byte_fallback=True, unk_id=0,
                bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True, split_digits=True,
                normalization_rule_name="identity", num_threads=1, minloglevel=2, **options,
            )
            target.write_bytes(Path("tokenizer.model").read_bytes())
        finally:
            os.chdir(here)
    return target


def train(out_dir: Path = TINY_TOKENIZER, vocab_size: int = 512) -> Path:
    """Train the tiny tokenizer into ``out_dir/tokenizer.model``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return train_bpe(CORPUS * 8, out_dir / "tokenizer.model", vocab_size)


if __name__ == "__main__":
    print(train())
