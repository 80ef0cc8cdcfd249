"""Unit tests of the InfMLLM network pieces, checkpoint loading and generation on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling import (
    InfMLLM,
    InfMLLMConfig,
    checkpoint_sha256,
    load_state_dict,
    load_weights,
)
from infmllm_eval.modeling.eva_vit import Attention, EvaViT, interpolate_pos_embed
from infmllm_eval.modeling.pool_adapter import PoolAdapter

TINY = InfMLLMConfig(image_size=56, patch_size=14, vit_width=32, vit_depth=2, vit_heads=4,
                     vit_mlp_ratio=2.5, pool_out_size=2, llm_hidden=64, llm_layers=2,
                     llm_heads=4, llm_intermediate=96, vocab=100)


def tiny(seed: int = 0, attn: str = "sdpa") -> InfMLLM:
    torch.manual_seed(seed)
    return InfMLLM(TINY, attn_implementation=attn).eval()


@torch.no_grad()
def logits_of(model: InfMLLM) -> torch.Tensor:
    torch.manual_seed(123)
    images = torch.randn(2, 3, TINY.image_size, TINY.image_size)
    visual = model.encode_images(images)
    embeds = torch.stack([model.assemble_multitask([5, 6], v, [7, 8, 9]) for v in visual])
    return model.forward_embeds(embeds, torch.ones(embeds.shape[:2], dtype=torch.long))


def test_config_from_dict_validates() -> None:
    data = TINY.to_dict()
    assert InfMLLMConfig.from_dict(data) == TINY
    assert InfMLLMConfig.from_dict({**data, "vit_mlp_ratio": 3}).vit_mlp_ratio == 3.0
    for bad, key in (({**data, "vit_wdth": 3}, "vit_wdth"), ({**data, "vit_depth": "2"},
                     "vit_depth"), ({**data, "vit_depth": True}, "vit_depth"),
                     ({k: v for k, v in data.items() if k != "vocab"}, "vocab")):
        with pytest.raises(BadInputError, match=key):
            InfMLLMConfig.from_dict(bad)
    with pytest.raises(BadInputError, match="pool_out_size"):
        InfMLLMConfig.from_dict({**data, "pool_out_size": 3})


def test_pool_adapter_is_avg_pool_then_mlp() -> None:
    torch.manual_seed(0)
    adapter = PoolAdapter(16, 24, out_size=4)
    feats = torch.randn(2, 1 + 8 * 8, 16)
    grid = feats[:, 1:].reshape(2, 8, 8, 16).permute(0, 3, 1, 2)
    pooled = F.avg_pool2d(grid, kernel_size=2, stride=2).flatten(2).transpose(1, 2)
    blocks = feats[:, 1:].reshape(2, 4, 2, 4, 2, 16).mean(dim=(2, 4)).reshape(2, 16, 16)
    torch.testing.assert_close(pooled, blocks)  # row-major block means
    reference = adapter.mlp[2](F.gelu(adapter.mlp[0](pooled)))
    torch.testing.assert_close(adapter(feats), reference, rtol=0, atol=1e-6)
    with pytest.raises(BadInputError, match="not a multiple"):
        PoolAdapter(16, 24, out_size=4)(torch.randn(1, 1 + 6 * 6, 16))


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_vit_attention_matches_naive_reference(impl: str) -> None:
    torch.manual_seed(0)
    attn = Attention(32, 4, impl)
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(2, 7, 32)
    w_q, w_k, w_v = attn.qkv.weight.chunk(3)
    q, k, v = x @ w_q.T + attn.q_bias, x @ w_k.T, x @ w_v.T + attn.v_bias
    heads = []
    for h in range(4):
        cols = slice(8 * h, 8 * (h + 1))
        scores = q[..., cols] @ k[..., cols].transpose(1, 2) * 8 ** -0.5
        heads.append(torch.softmax(scores, dim=-1) @ v[..., cols])
    reference = attn.proj(torch.cat(heads, dim=-1))
    with torch.no_grad():
        torch.testing.assert_close(attn(x), reference, rtol=0, atol=1e-5)


def test_forward_shapes() -> None:
    model = tiny()
    with torch.no_grad():
        images = torch.randn(3, 3, 56, 56)
        assert model.vision_features(images).shape == (3, 1 + 16, 32)
        visual = model.encode_images(images)
        assert visual.shape == (3, TINY.num_visual_tokens, 64)
        seq = model.assemble_multitask([4, 5, 6], visual[0], [7])
        assert seq.shape == (1 + 3 + 4 + 1, 64)
        logits = model.forward_embeds(seq[None], torch.ones(1, seq.shape[0], dtype=torch.long))
    assert logits.shape == (1, seq.shape[0], TINY.vocab)


def test_pos_embed_interpolation() -> None:
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 16, 8)
    assert torch.equal(interpolate_pos_embed(pos, 4), pos)
    resized = interpolate_pos_embed(pos, 6)
    assert resized.shape == (1, 1 + 36, 8)
    assert torch.equal(resized[:, 0], pos[:, 0])
    vit = EvaViT(56, 14, 32, 1, 4, 64)
    with torch.no_grad():
        assert vit(torch.randn(1, 3, 84, 84)).shape == (1, 1 + 36, 32)
    big = InfMLLM(InfMLLMConfig.from_dict({**TINY.to_dict(), "image_size": 112}))
    report = load_weights(big, tiny().state_dict())
    assert report.interpolated == ["visual_encoder.pos_embed"] and report.ok


def test_pth_round_trip_with_wrappers(tmp_path: Path) -> None:
    source = tiny(seed=1)
    state = source.state_dict()
    variants = {"plain.pth": state, "wrapped.pt": {"model_state_dict": state, "epoch": 3},
                "ddp.bin": {"state_dict": {f"module.{k}": v for k, v in state.items()}}}
    for name, payload in variants.items():
        torch.save(payload, tmp_path / name)
        target = tiny(seed=2)
        assert load_weights(target, load_state_dict(tmp_path / name)).ok
        assert torch.equal(logits_of(target), logits_of(source)), name


def test_sharded_safetensors_folder_round_trip(tmp_path: Path) -> None:
    source = tiny(seed=1)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    keys = list(state)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for shard, names in shards.items():
        save_file({k: state[k] for k in names}, tmp_path / shard)
    weight_map = {k: shard for shard, names in shards.items() for k in names}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    target = tiny(seed=2)
    load_weights(target, load_state_dict(tmp_path))
    assert torch.equal(logits_of(target), logits_of(source))
    assert checkpoint_sha256(tmp_path) == checkpoint_sha256(tmp_path)
    assert checkpoint_sha256(tmp_path) != checkpoint_sha256(tmp_path / next(iter(shards)))


@pytest.mark.parametrize("change", ["missing", "extra", "shape"])
def test_strict_load_names_the_bad_key(change: str) -> None:
    state = dict(tiny().state_dict())
    key = "pooler.mlp.2.bias"
    if change == "missing":
        del state[key]
    elif change == "extra":
        key = "visual_encoder.blocks.9.attn.q_bias"
        state[key] = torch.zeros(32)
    else:
        state[key] = torch.zeros(65)
    target = tiny(seed=3)
    before = logits_of(target)
    word = {"missing": "missing", "extra": "unexpected", "shape": "shape mismatch"}[change]
    with pytest.raises(BadInputError, match=rf"{word}.*{key.replace('.', '[.]')}"):
        load_weights(target, state)
    assert torch.equal(logits_of(target), before)  # strict failure loads nothing
    report = load_weights(target, state, strict=False)
    assert not report.ok and key in report.summary()


def test_unsafe_or_broken_files_are_refused(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1), "code": Path("x")}, tmp_path / "code.pth")
    with pytest.raises(BadInputError, match="pickle with code"):
        load_state_dict(tmp_path / "code.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 8)
    with pytest.raises(BadInputError, match="safetensors"):
        load_state_dict(tmp_path / "junk.safetensors")
    with pytest.raises(BadInputError, match="has none of"):
        load_state_dict(tmp_path)


def test_bf16_forward_on_cpu_is_finite() -> None:
    model = tiny().to_dtype(torch.bfloat16)
    assert model.ln_vision.weight.dtype == torch.float32
    assert model.lm_model.model.rotary_emb.inv_freq.dtype == torch.float32
    with torch.no_grad():
        visual = model.encode_images(torch.randn(2, 3, 56, 56))
        seq = model.assemble_multitask([4, 5], visual[0], [6])
        logits = model.forward_embeds(seq[None], torch.ones(1, seq.shape[0], dtype=torch.long))
    assert visual.dtype == logits.dtype == torch.bfloat16
    assert torch.isfinite(logits.float()).all()


def test_generate_with_left_padded_embeddings() -> None:
    model = tiny()
    torch.manual_seed(5)
    with torch.no_grad():
        visual = model.encode_images(torch.randn(2, 3, 56, 56))
        seqs = [model.assemble_multitask([4, 5, 6, 7, 8], visual[0], [9]),
                model.assemble_multitask([10], visual[1], [11, 12])]
        embeds, mask = model.left_pad(seqs)
        assert mask.tolist()[1][:4] == [0, 0, 0, 1] and mask.sum().item() == 11 + 8
        kwargs = {"max_new_tokens": 6, "do_sample": False, "num_beams": 1,
                  "pad_token_id": TINY.pad_id}
        batched = model.lm_model.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
        for row, seq in enumerate(seqs):
            alone = model.lm_model.generate(inputs_embeds=seq[None], **kwargs,
                                            attention_mask=torch.ones(1, seq.shape[0],
                                                                      dtype=torch.long))
            assert batched[row, : alone.shape[1]].tolist() == alone[0].tolist()
        unmasked = model.lm_model.generate(inputs_embeds=embeds,
                                           attention_mask=torch.ones_like(mask), **kwargs)
    assert not torch.equal(unmasked, batched)  # the padding mask is what makes it work
