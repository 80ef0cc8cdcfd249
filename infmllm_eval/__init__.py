"""infmllm-eval: evaluate InfMLLM and similar multimodal LLMs on the standard benchmarks.

Python API: :func:`evaluate` (run a model card or an adapter object on tasks) and
:func:`score` (score predictions); see :mod:`infmllm_eval.api`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["EvalResult", "TaskResult", "__version__", "evaluate", "score"]

if TYPE_CHECKING:
    from infmllm_eval.api import EvalResult, TaskResult, evaluate, score


def __getattr__(name: str) -> Any:
    """The API, imported on first use (the command line does not pay for it)."""
    if name in ("evaluate", "score", "EvalResult", "TaskResult"):
        from infmllm_eval import api

        return getattr(api, name)
    raise AttributeError(f"module 'infmllm_eval' has no attribute {name!r}")
