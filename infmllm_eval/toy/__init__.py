"""The toy world: generated benchmarks in the official formats and a trained tiny InfMLLM.

``DATA_ROOT`` is the data root of the ``toy_*`` task cards (the committed test splits, written
by ``python -m infmllm_eval.toy.build``); ``WEIGHTS`` the checkpoint of the model card
``infmllm-tiny-toy`` (written by ``python -m infmllm_eval.toy.train``).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / "data"
WEIGHTS = HERE / "weights" / "model.safetensors"
TASKS = ("toy_caption", "toy_vqa", "toy_grounding", "toy_mme", "toy_mmbench")
