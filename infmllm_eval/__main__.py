"""``python -m infmllm_eval`` (also what torchrun launches)."""

from infmllm_eval.cli import main

main()
