"""Functions of the lmms-eval task ``infmllm_demo_vqav2`` (``tasks/infmllm_demo_vqav2.yaml``):
the bundled mini VQAv2 set (``infmllm_eval/demo/data``) as an lmms-eval task, read from local
files only. Scores with our VQA accuracy, so lmms-eval's number equals `infmllm-eval score`'s
on the imported samples."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from infmllm_eval.data.vqa import load_vqa
from infmllm_eval.families import get_family
from infmllm_eval.types import Sample

DEMO_DATA = Path(__file__).resolve().parent.parent / "demo" / "data"
OPTIONS = {"normalization": "always", "postprocess": "none"}  # as vqav2_val


@cache
def _samples() -> dict[int, Sample]:
    files = {"questions": DEMO_DATA / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json",
             "annotations": DEMO_DATA / "vqav2" / "v2_mscoco_val2014_annotations.json"}
    return {int(s.id): s for s in load_vqa(files, {})}


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    path = DEMO_DATA / "coco" / "val2014" / f"COCO_val2014_{int(doc['image_id']):012d}.jpg"
    with Image.open(path) as image:
        return [image.convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
                ) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def doc_to_target(doc: dict[str, Any]) -> str:
    """The most frequent human answer (the question's 10 answers are used for scoring)."""
    answers = _samples()[int(doc["question_id"])].targets
    return str(Counter(answers).most_common(1)[0][0])


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """VQA accuracy in percent, and the question_id with the raw answer (as lmms-eval's own
    VQA tasks record a ``submission``), which ``infmllm-eval import lmms-eval`` reads."""
    sample = _samples()[int(doc["question_id"])]
    answer = results[0]
    scores = get_family("vqa").score([sample], {sample.key: answer}, OPTIONS)
    return {"vqa_accuracy": scores.metrics["accuracy"],
            "submission": {"question_id": sample.id, "answer": answer}}
