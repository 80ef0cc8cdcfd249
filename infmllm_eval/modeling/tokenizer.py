"""The LLaMA tokenizer, used the way the original code used the slow one: a SentencePiece
model, text pieces encoded without special tokens, BOS/EOS added by the caller, and
``pad = unk`` (id 0) for left padding. Reads ``tokenizer.model`` from a local folder only."""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from infmllm_eval.errors import BadInputError, shown

MAX_TOKENIZER_BYTES = 64 << 20  # LLaMA's is 500 KB; a 256k-piece model is a few MB
TINY_TOKENIZER = Path(__file__).resolve().parent.parent / "assets" / "tiny_tokenizer"


class SpTokenizer:
    """Encode/decode with a SentencePiece model file (``tokenizer.model``)."""

    def __init__(self, model_file: Path) -> None:
        if not model_file.is_file():
            raise BadInputError(f"tokenizer not found: {model_file} (expected a SentencePiece "
                                "tokenizer.model in the model folder)")
        if model_file.stat().st_size > MAX_TOKENIZER_BYTES:
            raise BadInputError(f"{model_file}: {model_file.stat().st_size:,} bytes is not a "
                                f"SentencePiece model (those are under "
                                f"{MAX_TOKENIZER_BYTES >> 20} MB)")
        self.path = model_file
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        except (OSError, RuntimeError) as exc:
            raise BadInputError(f"{model_file}: not a SentencePiece model ({exc})") from None
        self.bos_id = int(self.sp.bos_id())
        self.eos_id = int(self.sp.eos_id())
        self.unk_id = int(self.sp.unk_id())
        self.pad_id = self.unk_id
        self.vocab_size = int(self.sp.get_piece_size())

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without BOS/EOS (SentencePiece adds its dummy prefix space)."""
        if not text:
            return []
        return list(self.sp.encode(text))

    def decode(self, ids: list[int]) -> str:
        """Text of generated ids, stopping at EOS and skipping BOS/pad and ids beyond the
        tokenizer (see beyond)."""
        out = []
        for token in ids:
            if token == self.eos_id:
                break
            if token not in (self.bos_id, self.pad_id) and 0 <= token < self.vocab_size:
                out.append(token)
        return str(self.sp.decode(out))

    def beyond(self, ids: list[int]) -> int:
        """How many ids before EOS the tokenizer has no piece for: a model whose embedding
        matrix is padded past the tokenizer (32,000 pieces, vocab 32,064) can generate them;
        they decode to nothing."""
        count = 0
        for token in ids:
            if token == self.eos_id:
                break
            count += not 0 <= token < self.vocab_size
        return count

    def pieces(self, ids: list[int]) -> list[str]:
        """The pieces of ``ids`` (for prompt snapshots and debugging)."""
        return [str(self.sp.id_to_piece(i)) for i in ids]


def load_tokenizer(location: Path) -> SpTokenizer:
    """A tokenizer from a folder holding ``tokenizer.model`` (or that file itself)."""
    try:
        return SpTokenizer(location / "tokenizer.model" if location.is_dir() else location)
    except OSError as exc:  # a name too long, a permission denied ...
        raise BadInputError(f"tokenizer {shown(str(location))} cannot be opened: "
                            f"{exc.strerror or exc}") from None
