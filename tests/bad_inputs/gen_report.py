"""Generators for tests/bad_inputs/cases_report.json (merged into generators.GENERATORS):
results files for report/diff/gate/baseline (run directories' metrics.json, baselines), files
that are not regular files, links, and lmms-eval samples files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASELINE_FORMAT = "infmllm-eval-baseline"


def _vqa_entry(n: int, wrong: int, first_id: int) -> dict[str, Any]:
    """vqav2_val over ``n`` samples, ids first_id…, the first ``wrong`` scored 0, the rest
    100: accuracy is the mean of the per-sample scores, as the harness writes it."""
    scores = [0.0 if i < wrong else 100.0 for i in range(n)]
    rows = [{"id": first_id + i, "score": s} for i, s in enumerate(scores)]
    return {"family": "vqa", "primary_metric": "accuracy",
            "metrics": {"accuracy": sum(scores) / n}, "variant": {"normalization": "always"},
            "n_samples": n, "n_scored": n, "n_missing": 0, "partial": False,
            "ci95": {"accuracy": None}, "per_sample": rows}


def report_results(out: str, kind: str = "run", n: str = "40", wrong: str = "0",
                   first_id: str = "1", tamper: str = "", task: str = "vqav2_val") -> None:
    """A results file with one vqav2_val entry: ``kind`` 'run' (a run directory's
    metrics.json) or 'baseline' (a baseline file). ``tamper`` damages it: 'cut' (per-sample
    list cut to 5 rows), 'dup' (row 3 repeats the id of row 2), 'scores' (the per-sample scores
    no longer average to the metric), 'primary' (another primary metric), 'null' (the metric
    is null), 'bigint' (a 400-digit metric), 'huge' (1.7e308: finite, but no chart draws it),
    'variant' (variant is a list), 'ci' (ci95 is a string), 'breakdown' (breakdown is a
    list), 'count' (n_samples is a string)."""
    entry = _vqa_entry(int(n), int(wrong), int(first_id))
    rows = entry["per_sample"]
    edits: dict[str, Callable[[], None]] = {
        "cut": lambda: entry.__setitem__("per_sample", rows[:5]),
        "dup": lambda: rows[2].__setitem__("id", rows[1]["id"]),
        "scores": lambda: [row.__setitem__("score", 0.0) for row in rows[: len(rows) // 2]],
        "primary": lambda: (entry.__setitem__("primary_metric", "accuracy_other"),
                            entry["metrics"].__setitem__("accuracy_other", 50.0)),
        "null": lambda: entry["metrics"].__setitem__("accuracy", None),
        "bigint": lambda: entry["metrics"].__setitem__("accuracy", 10 ** 400),
        "huge": lambda: entry["metrics"].__setitem__("accuracy", 1.7e308),
        "variant": lambda: entry.__setitem__("variant", ["normalization=always"]),
        "ci": lambda: entry.__setitem__("ci95", "[40, 60]"),
        "breakdown": lambda: entry.__setitem__("breakdown", [1, 2]),
        "count": lambda: entry.__setitem__("n_samples", "forty"),
    }
    if tamper:
        edits[tamper]()
    doc: dict[str, Any] = {"run_id": "r", "model": "m", "tasks": {task: entry}}
    if kind == "baseline":
        doc = {"format": BASELINE_FORMAT, "version": 1, "model": "m", "tolerances": {},
               "tasks": {task: entry}}
    Path(out).write_text(json.dumps(doc, indent=1), encoding="utf-8")


def report_text(out: str, text: str) -> None:
    """A file holding ``text`` (UTF-8)."""
    Path(out).write_text(text, encoding="utf-8")


def report_fifo(out: str) -> None:
    """A named pipe (reading it blocks until a writer comes, which never does)."""
    os.mkfifo(out)


def report_symlink(out: str, target: str) -> None:
    """A symbolic link ``out`` -> ``target``."""
    os.symlink(target, out)


def report_hardlink(out: str, target: str) -> None:
    """A hard link: ``out`` is a second name of the file ``target``."""
    os.link(target, out)


def report_lmms_samples(out: str, text: str = "Red") -> None:
    """An lmms-eval 0.4+ samples file for vqav2_val whose submission records carry the
    question ids of tests/bad_inputs/_valid/vqav2 (11, 21); ``text`` is the first answer."""
    records = [{"doc_id": i, "target": "answer", "filtered_resps": [answer],
                "submission": {"question_id": qid, "answer": answer}}
               for i, (qid, answer) in enumerate([(11, text), (21, "3")])]
    Path(out).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


GENERATORS: dict[str, Callable[..., None]] = {f.__name__: f for f in (
    report_results, report_text, report_fifo, report_symlink, report_hardlink, report_lmms_samples)}
