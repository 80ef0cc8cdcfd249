"""Loaders for the official benchmark file formats, looked up lazily by the name in a card."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from infmllm_eval.errors import UnknownNameError, shown
from infmllm_eval.registry import did_you_mean
from infmllm_eval.types import Sample, Scalar

Loader = Callable[[dict[str, Path], dict[str, Scalar]], list[Sample]]

# loader name -> "module:function"; modules are imported only when a card needs them
LOADERS: dict[str, str] = {
    "vqa": "infmllm_eval.data.vqa:load_vqa",
    "textvqa": "infmllm_eval.data.textvqa:load_textvqa",
    "gqa": "infmllm_eval.data.gqa:load_gqa",
    "coco_karpathy": "infmllm_eval.data.coco_karpathy:load_karpathy",
    "nocaps": "infmllm_eval.data.nocaps:load_nocaps",
    "refer": "infmllm_eval.data.refer:load_refer",
    "mme": "infmllm_eval.data.mme:load_mme",
    "mmbench": "infmllm_eval.data.mmbench:load_mmbench",
    "lmms_parquet": "infmllm_eval.data.lmms_hf:load_lmms_vqa",
}


def get_loader(name: str) -> Loader:
    """The loader function registered under ``name``."""
    if name not in LOADERS:
        raise UnknownNameError(
            f"unknown loader {shown(name)}.{did_you_mean(name, sorted(LOADERS))}")
    module, func = LOADERS[name].split(":")
    loader: Loader = getattr(importlib.import_module(module), func)
    return loader
