"""lmms-eval interoperability (the optional extra ``infmllm-eval[lmms]``).

- :func:`manifest` is the ``lmms_eval.models`` entry point: ``lmms-eval --model infmllm
  --model_args card=infmllm-7b,weights=/ckpt …`` runs :class:`infmllm_eval.lmms.model.InfMLLM`
  (our adapter, batched).
- :mod:`infmllm_eval.lmms.samples` converts lmms-eval ``--log_samples`` files into our
  predictions format (plain JSON parsing: lmms-eval is not needed for it).
- ``tasks/`` holds a small lmms-eval task over the bundled demo data
  (``--include_path`` :data:`TASKS_DIR`).

Nothing here imports lmms_eval at import time: only lmms-eval itself calls into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL_ID = "infmllm"
MODEL_CLASS = "infmllm_eval.lmms.model.InfMLLM"
TASKS_DIR = Path(__file__).resolve().parent / "tasks"


def manifest() -> Any:
    """The ModelManifest lmms-eval loads from our ``lmms_eval.models`` entry point."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=MODEL_CLASS)
