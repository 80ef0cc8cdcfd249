"""The InfMLLM adapter: images → visual tokens, prompts → embeddings, batched generation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from infmllm_eval.cards import ModelCard
from infmllm_eval.data.images import image_identity, load_image
from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling import (
    InfMLLM,
    InfMLLMConfig,
    checkpoint_sha256,
    load_state_dict,
    load_weights,
)
from infmllm_eval.modeling.preprocess import preprocess
from infmllm_eval.modeling.prompts import PromptStyle, get_style
from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER, SpTokenizer, load_tokenizer
from infmllm_eval.types import GenerationConfig, Request, Response

OPTIONS = {
    "weights": "checkpoint file or folder (original .pth, safetensors, sharded index)",
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
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _device_and_dtype(options: Mapping[str, str]) -> tuple[torch.device, torch.dtype]:
    device = torch.device(options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))
    default = "bfloat16" if device.type == "cuda" else "float32"
    name = options.get("dtype", default)
    if name not in DTYPES:
        raise BadInputError(f"--model-option dtype={name!r}: expected one of {', '.join(DTYPES)}")
    return device, DTYPES[name]


def _tokenizer(options: Mapping[str, str], weights: str | None) -> SpTokenizer:
    choice = options.get("tokenizer", "")
    if choice == "tiny":
        return load_tokenizer(TINY_TOKENIZER)
    if choice:
        return load_tokenizer(Path(choice))
    if weights:
        folder = Path(weights)
        return load_tokenizer(folder if folder.is_dir() else folder.parent)
    raise BadInputError("no tokenizer: set --model-option tokenizer=DIR (or weights=DIR)")


class InfMLLMAdapter:
    """Runs the native InfMLLM implementation; requests are rendered by the card's style."""

    def __init__(self, card: ModelCard, options: Mapping[str, str]) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise BadInputError(f"model {card.name}: unknown option(s) {', '.join(sorted(unknown))}"
                                f" (options: {', '.join(OPTIONS)})")
        self.name = card.name
        self.config = InfMLLMConfig.from_dict(dict(card.architecture), source=card.path)
        self.style: PromptStyle = get_style(options.get("prompt_style") or card.prompt_style,
                                            options.get("caption_prompt"))
        self.device, self.dtype = _device_and_dtype(options)
        self.weights = options.get("weights") or None
        if self.weights is None and options.get("init") != "random":
            raise BadInputError(f"model {self.name}: set --model-option weights=PATH "
                                "(a local checkpoint; nothing is downloaded)")
        self.tokenizer = _tokenizer(options, self.weights)
        if self.tokenizer.vocab_size > self.config.vocab:
            raise BadInputError(f"tokenizer {self.tokenizer.path} has {self.tokenizer.vocab_size}"
                                f" pieces but the model's vocab is {self.config.vocab}")
        self.model, self.load_summary = self._build(options)

    def _build(self, options: Mapping[str, str]) -> tuple[InfMLLM, str]:
        attn = options.get("attn", "sdpa")
        torch.manual_seed(int(options.get("seed", "0")))
        model = InfMLLM(self.config, attn_implementation=attn)
        summary = "random init"
        if self.weights is not None:
            strict = options.get("strict", "true").lower() != "false"
            report = load_weights(model, load_state_dict(self.weights), strict=strict)
            summary = report.summary()
        model = model.to(self.device)
        if self.dtype != torch.float32:
            model = model.to_dtype(self.dtype)
        return model.eval(), summary

    def provenance(self) -> dict[str, Any]:
        return {"adapter": "infmllm", "prompt_style": self.style.name,
                "checkpoint": self.weights or "random init",
                "checkpoint_sha256": checkpoint_sha256(self.weights) if self.weights else "",
                "load": self.load_summary, "tokenizer": str(self.tokenizer.path),
                "device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."),
                "architecture": self.config.to_dict()}

    @torch.inference_mode()
    def encode(self, refs: list[str]) -> Tensor:
        """Visual tokens [N, p², hidden] of the given images (each decoded once)."""
        size, transform = self.config.image_size, self.style.image_transform
        pixels = torch.stack([preprocess(load_image(r), size, transform) for r in refs])
        return self.model.encode_images(pixels.to(self.device, self.dtype))

    def embed(self, requests: list[Request]) -> list[Tensor]:
        """The embedding sequence of each request: [BOS] + before + image + after."""
        refs: dict[str, int] = {}
        for req in requests:
            if req.image is None:
                raise BadInputError(f"request {req.key}: InfMLLM needs an image")
            refs.setdefault(image_identity(req.image), len(refs))
        unique = {image_identity(r.image): r.image for r in requests if r.image}
        visual = self.encode([unique[k] for k in refs])
        seqs = []
        for req in requests:
            prompt = self.style.render(req.family, req.fields)
            seqs.append(self.model.assemble_multitask(
                self.tokenizer.encode(prompt.before), visual[refs[image_identity(req.image or "")]],
                self.tokenizer.encode(prompt.after)))
        return seqs

    @torch.inference_mode()
    def generate(self, requests: list[Request]) -> list[Response]:
        out: list[Response] = []
        by_config: dict[GenerationConfig, list[int]] = {}
        for i, req in enumerate(requests):
            by_config.setdefault(req.generation, []).append(i)
        texts: dict[int, str] = {}
        for gen, rows in by_config.items():
            batch = [requests[i] for i in rows]
            embeds, mask = self.model.left_pad(self.embed(batch))
            lm: Any = self.model.lm_model  # transformers' generate() is loosely typed
            ids: Tensor = lm.generate(inputs_embeds=embeds, attention_mask=mask,
                                      **self.generate_kwargs(gen))
            for row, seq in zip(rows, ids.tolist(), strict=True):
                texts[row] = self.tokenizer.decode(seq).strip()
        for i, req in enumerate(requests):
            out.append(Response(req.key, texts[i]))
        return out

    def generate_kwargs(self, gen: GenerationConfig) -> dict[str, Any]:
        """transformers generate() arguments for a request's decoding settings."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": gen.max_new_tokens, "min_new_tokens": gen.min_new_tokens,
            "num_beams": gen.num_beams, "do_sample": gen.do_sample,
            "eos_token_id": self.tokenizer.eos_id, "pad_token_id": self.tokenizer.pad_id,
            "bos_token_id": self.tokenizer.bos_id,
        }
        if gen.num_beams > 1:
            kwargs["length_penalty"] = gen.length_penalty
        if gen.do_sample:
            kwargs["temperature"] = gen.temperature
        return kwargs


def create(card: ModelCard, options: Mapping[str, str]) -> InfMLLMAdapter:
    """Adapter factory registered as 'infmllm'."""
    return InfMLLMAdapter(card, options)

