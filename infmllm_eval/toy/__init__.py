"""The toy world as shipped: generated benchmarks in the official formats and a trained tiny
InfMLLM.

``DATA_ROOT`` is the data root of the ``toy_*`` task cards (the committed test splits);
``WEIGHTS`` the checkpoint of the model card ``infmllm-tiny-toy`` and ``TOKENIZER`` its
tokenizer folder. The code that writes them lives outside the package, in the repository's
``tools/toy/`` (``python -m tools.toy.build``, ``python -m tools.toy.tokenizer``,
``python -m tools.toy.train``; docs/toy-training.md).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / "data"
WEIGHTS = HERE / "weights" / "model.safetensors"
TOKENIZER = HERE / "tokenizer"
TASKS = ("toy_caption", "toy_vqa", "toy_grounding", "toy_mme", "toy_mmbench")
#: toy task cards that read the bundled data but are not part of the demo (other inferencers)
BUNDLED_TASKS = (*TASKS, "toy_mmbench_likelihood")
