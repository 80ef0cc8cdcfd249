"""Loaders for the official benchmark file formats, looked up by the name in a card.

A loader is ``(files, loader_args) -> list[Sample]``; other packages add loaders through
the ``infmllm_eval.loaders`` entry-point group."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infmllm_eval.registry import Registry
from infmllm_eval.types import Sample, Scalar

Loader = Callable[[dict[str, Path], dict[str, Scalar]], list[Sample]]

LOADERS: Registry[Loader] = Registry("loader", "infmllm_eval.loaders")
for _name, _path in (
    ("vqa", "infmllm_eval.data.vqa:load_vqa"),
    ("textvqa", "infmllm_eval.data.textvqa:load_textvqa"),
    ("gqa", "infmllm_eval.data.gqa:load_gqa"),
    ("coco_karpathy", "infmllm_eval.data.coco_karpathy:load_karpathy"),
    ("nocaps", "infmllm_eval.data.nocaps:load_nocaps"),
    ("refer", "infmllm_eval.data.refer:load_refer"),
    ("mme", "infmllm_eval.data.mme:load_mme"),
    ("mmbench", "infmllm_eval.data.mmbench:load_mmbench"),
    ("lmms_parquet", "infmllm_eval.data.lmms_hf:load_lmms_vqa"),
    ("pope", "infmllm_eval.data.pope:load_pope"),
    ("scienceqa", "infmllm_eval.data.scienceqa:load_scienceqa"),
    ("seedbench", "infmllm_eval.data.seedbench:load_seedbench"),
    ("ocrvqa", "infmllm_eval.data.ocrvqa:load_ocrvqa"),
):
    LOADERS.lazy(_name, _path)


def get_loader(name: str) -> Loader:
    """The loader function registered under ``name``."""
    return LOADERS.get(name)
