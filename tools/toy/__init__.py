"""Writes the toy world that ships in ``infmllm_eval/toy/``: the scene generator
(:mod:`tools.toy.world`), the question templates (:mod:`tools.toy.questions`), the benchmark
writer (:mod:`tools.toy.build`), the tokenizer builder (:mod:`tools.toy.tokenizer`) and the
trainer (:mod:`tools.toy.train`, with :mod:`tools.toy.vision_stage` and :mod:`tools.toy.focus`).
Run from the repository root, e.g. ``python -m tools.toy.train --out
infmllm_eval/toy/weights/model.safetensors``; the training log is docs/toy-training.md.
"""
