"""Generators for tests/bad_inputs/cases_redrun.json (the red-team re-run of issue 23, run
side): symbolic links where a run keeps its files, run.json files of a resumable run with one
field changed, and sparse files (merged into generators.GENERATORS)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def redrun_symlink(out: str, target: str) -> None:
    """A symbolic link ``out`` -> ``target`` (which need not exist)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, out)


def redrun_run_json(out: str, valid: str, change: str = "{}", digits: str = "",
                    bom: str = "") -> None:
    """The run.json of a scripted run of vqav2_val on the shared valid data ({valid}), its
    config updated with the JSON object ``change`` (e.g. '{"tasks": ["nope"]}'); with
    ``digits``, its seed is a number of that many digits; with ``bom``, it starts with a BOM."""
    config: dict[str, Any] = {
        "model": "scripted", "tasks": ["vqav2_val"], "data_root": valid, "batch_size": 8,
        "limit": None, "options": {}, "model_options": {"default": "yes"},
        "files": {"vqav2_val.questions": f"{valid}/vqav2/questions.json",
                  "vqav2_val.annotations": f"{valid}/vqav2/annotations.json"},
        "generation": {}, "seed": 0, "on_image_error": "fail"}
    config.update(json.loads(change))
    text = json.dumps({"run_id": Path(out).parent.name, "config": config})
    if digits:
        text = text.replace('"seed": 0', '"seed": ' + "7" * int(digits))
    Path(out).write_text(("\ufeff" if bom else "") + text, encoding="utf-8")


def redrun_sparse(out: str, size: str) -> None:
    """A sparse file of ``size`` bytes starting with '{' (a "JSON" file that is all holes)."""
    with open(out, "wb") as handle:
        handle.write(b"{")
        handle.truncate(int(size))


GENERATORS: dict[str, Callable[..., None]] = {
    "redrun_symlink": redrun_symlink,
    "redrun_run_json": redrun_run_json,
    "redrun_sparse": redrun_sparse,
}
