"""The --model-option values of the InfMLLM adapter: their names, parsing and validation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from infmllm_eval.cards import ModelCard
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.modeling.config import ATTN_IMPLEMENTATIONS

OPTIONS = {
    "weights": "checkpoint file or folder (original .pth, safetensors, sharded index); "
               "'package:REL' is a file shipped inside infmllm_eval",
    "vision_weights": "a second checkpoint holding the ViT, ln_vision and pool adapter, when "
                      "weights= is a plain HF LLaMA/Vicuna folder",
    "interpolate_pos": "'true' resizes the ViT position embeddings of a checkpoint trained at "
                       "another image size (bicubic) [default: refuse]",
    "tokenizer": "folder or file of the SentencePiece tokenizer [default: the weights folder; "
                 "'tiny' = the bundled tiny tokenizer]",
    "init": "'random' builds seeded random weights (tiny test models only)",
    "seed": "seed of the random init",
    "device": "cpu, cuda, cuda:N [default: cuda when available]",
    "dtype": "float32 or bfloat16 [default: bfloat16 on CUDA, float32 on CPU]",
    "attn": "sdpa (default) or eager",
    "prompt_style": "override the card's prompt style (multitask or chat)",
    "caption_prompt": "the caption instruction of this model",
    "strict": "'false' loads a checkpoint that does not match exactly (report in run.json)",
    "feature_cache": "folder for an on-disk cache of visual tokens (keyed by checkpoint hash + "
                     "preprocessing + image)",
    "feature_cache_items": "visual tokens kept in memory (LRU) [default: 4096]",
}

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
MAX_SEED = (1 << 63) - 1


def _option_error(name: str, value: str, problem: str) -> BadInputError:
    return BadInputError(f"--model-option {name}={shown(value)}: {problem}")


def _device(value: str) -> torch.device:
    """The device option: cpu, cuda, cuda:N (or mps) that exists on this machine; '' = cuda
    when available, else cpu."""
    if not value:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        raise _option_error("device", value, "unknown device; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise _option_error("device", value, "CUDA is not available on this machine; use "
                                "device=cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise _option_error("device", value, f"this machine has {count} CUDA device(s) "
                                f"(cuda:0 to cuda:{count - 1})")
        return device
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise _option_error("device", value, "MPS is not available on this machine; use "
                                "device=cpu")
        return device
    raise _option_error("device", value, "unsupported device; use cpu, cuda or cuda:N")


def device_and_dtype(options: Mapping[str, str]) -> tuple[torch.device, torch.dtype]:
    device = _device(options.get("device", ""))
    default = "bfloat16" if device.type == "cuda" else "float32"
    name = options.get("dtype") or default
    if name not in DTYPES:
        raise _option_error("dtype", name, f"expected one of {', '.join(DTYPES)}")
    return device, DTYPES[name]


def _integer(options: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = options.get(name, "")
    if text == "":
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise _option_error(name, text, "expected an integer") from None
    if not low <= value <= high:
        wanted = "a non-negative integer" if low == 0 and high >= 1 << 40 else \
            f"an integer from {low} to {high}"
        raise _option_error(name, text, f"expected {wanted}")
    return value


def _flag(options: Mapping[str, str], name: str, default: bool) -> bool:
    text = options.get(name, "")
    if text == "":
        return default
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise _option_error(name, text, "expected true or false")


def seed(options: Mapping[str, str]) -> int:
    """The seed of the random init [default 0]."""
    return _integer(options, "seed", 0, 0, MAX_SEED)


def feature_cache_items(options: Mapping[str, str]) -> int:
    """Visual tokens kept in memory [default 4096]."""
    return _integer(options, "feature_cache_items", 4096, 0, 1 << 40)


def strict(options: Mapping[str, str]) -> bool:
    """Whether a checkpoint must match the model exactly [default true]."""
    return _flag(options, "strict", True)


def interpolate_pos(options: Mapping[str, str]) -> bool:
    """Whether a ViT trained at another image size may have its position embeddings resized
    [default false: such a checkpoint is refused]."""
    return _flag(options, "interpolate_pos", False)


def check_options(card: ModelCard, options: Mapping[str, str]) -> None:
    """Refuse unknown options and bad values before anything is loaded or built."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise BadInputError(f"model {card.name}: unknown option(s) {', '.join(sorted(unknown))}"
                            f" (options: {', '.join(OPTIONS)})")
    device_and_dtype(options)
    seed(options)
    feature_cache_items(options)
    strict(options)
    interpolate_pos(options)
    if options.get("vision_weights") and not options.get("weights"):
        raise _option_error("vision_weights", options["vision_weights"], "needs weights= (the "
                            "LLM folder) too")
    if options.get("init", "") not in ("", "random"):
        raise _option_error("init", options["init"], "expected 'random' (or nothing)")
    if options.get("attn", "sdpa") not in ATTN_IMPLEMENTATIONS:
        raise _option_error("attn", options["attn"],
                            f"expected one of {', '.join(ATTN_IMPLEMENTATIONS)}")
    disk = options.get("feature_cache", "")
    try:
        not_a_folder = bool(disk) and Path(disk).exists() and not Path(disk).is_dir()
    except OSError as exc:
        raise _option_error("feature_cache", disk, f"cannot be used: {exc.strerror}") from None
    if not_a_folder:
        raise _option_error("feature_cache", disk, "exists and is not a folder; give a folder "
                            "for the cache")


PACKAGE_PREFIX = "package:"


def resolve_packaged(path: str | None) -> str | None:
    """``package:toy/weights.safetensors`` → a file shipped inside the installed package (model
    cards of bundled models use it, so they work after a non-editable install)."""
    if path and path.startswith(PACKAGE_PREFIX):
        return str(Path(__file__).resolve().parent.parent / path.removeprefix(PACKAGE_PREFIX))
    return path
