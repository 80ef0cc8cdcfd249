"""The InfMLLM network (PyTorch + transformers): config, EVA ViT, pool-adapter, checkpoints."""

from __future__ import annotations

from infmllm_eval.modeling.checkpoint import (
    Checkpoint,
    checkpoint_sha256,
    load_state_dict,
    read_checkpoint,
)
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.loading import LoadReport, load_weights
from infmllm_eval.modeling.model import InfMLLM, default_position_ids, left_pad

__all__ = [
    "Checkpoint",
    "InfMLLM",
    "InfMLLMConfig",
    "LoadReport",
    "checkpoint_sha256",
    "default_position_ids",
    "left_pad",
    "load_state_dict",
    "load_weights",
    "read_checkpoint",
]
