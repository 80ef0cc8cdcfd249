"""Loader of ``{"id", "sentence", "count"}`` JSON lines (no images)."""

from __future__ import annotations

import json
from pathlib import Path

from infmllm_eval.types import Sample, Scalar


def load_sentences(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One sample per line of ``files["sentences"]``."""
    samples = []
    for line in files["sentences"].read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            samples.append(Sample(rec["id"], None, {"sentence": rec["sentence"]},
                                  int(rec["count"]), {}))
    return samples
