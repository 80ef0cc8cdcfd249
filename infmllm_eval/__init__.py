"""infmllm-eval: evaluate InfMLLM and similar multimodal LLMs on the standard benchmarks."""

__version__ = "0.1.0"
