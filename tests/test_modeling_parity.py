"""Parity with the original InfMLLM on the tiny reference checkpoint in ../shared/conformance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from infmllm_eval.modeling import InfMLLM, InfMLLMConfig, load_state_dict, load_weights
from tests.conftest import CONFORMANCE

PARITY = CONFORMANCE / "infmllm_parity"


@pytest.fixture(scope="module")
def parity() -> Path:
    """The parity folder, or a skip saying why."""
    if not (PARITY / "expected.pt").is_file():
        pytest.skip(f"{PARITY} is not present (reference material lives outside the repository)")
    return PARITY


@pytest.fixture(scope="module")
def expected(parity: Path) -> dict[str, torch.Tensor]:
    data: dict[str, torch.Tensor] = torch.load(parity / "expected.pt", weights_only=True)
    return data


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@torch.no_grad()
def test_original_checkpoint_reproduces_expected(parity: Path, expected: dict[str, torch.Tensor],
                                                 attn: str) -> None:
    torch.manual_seed(0)
    config = InfMLLMConfig.from_dict(json.loads((parity / "config.json").read_text()))
    assert expected["bos_id"] == config.bos_id
    model = InfMLLM(config, attn_implementation=attn).eval()
    report = load_weights(model, load_state_dict(parity / "original_format_checkpoint.pth"))
    assert report.ok and len(report.loaded) == len(model.state_dict())

    features = model.vision_features(expected["images"])
    tokens = model.pool_features(features)
    assert features.shape == expected["vit_ln_features"].shape
    assert (features - expected["vit_ln_features"]).abs().max().item() < 1e-5
    assert tokens.shape == expected["visual_tokens"].shape
    assert (tokens - expected["visual_tokens"]).abs().max().item() < 1e-5
    assert torch.equal(model.encode_images(expected["images"]), tokens)

    before = expected["token_ids_before"].tolist()
    after = expected["token_ids_after"].tolist()
    embeds = torch.stack([model.assemble_multitask(before, tokens[i], after)
                          for i in range(tokens.shape[0])])
    mask = torch.ones(embeds.shape[:2], dtype=torch.long)
    logits = model.forward_embeds(embeds, mask)
    assert logits.shape == expected["logits"].shape
    assert (logits - expected["logits"]).abs().max().item() < 1e-4
