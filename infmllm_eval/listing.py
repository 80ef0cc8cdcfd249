"""What `list tasks|models|plugins` and `data check` show: one row per card or plug-in."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infmllm_eval.cards import model_cards, task_cards
from infmllm_eval.errors import InfmllmEvalError
from infmllm_eval.taskspec import TaskSpec, build_specs, build_task, load_samples, missing_files


def _data_status(spec: TaskSpec, data_root: Path) -> str:
    absent = missing_files(spec)
    if not data_root.is_dir() and not set(spec.files) - set(absent):
        return f"no data root ({data_root})"
    if not absent:
        return f"ready ({spec.data_source})" if spec.bundled else "ready"
    return f"missing {', '.join(sorted(absent))}"


def shown_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Table cells as literal text: card fields and paths (a description such as '[/red]'
    is Rich markup, a MarkupError traceback) are markup-escaped, and control characters
    other than the cells' own line breaks are shown escaped."""
    from rich.markup import escape

    from infmllm_eval.errors import one_line

    def cell(text: str) -> str:
        if not text.replace("\n", "").isprintable():
            text = "\n".join(one_line(part) for part in text.split("\n"))
        return escape(text)

    return [{key: cell(value) for key, value in row.items()} for row in rows]


def task_rows(data_root: Path, details: bool) -> list[dict[str, str]]:
    """One row per task card, for `list tasks` (literal text)."""
    rows = []
    for card in task_cards().values():
        spec = build_task(card, data_root)
        row = {"name": card.name, "family": card.family, "split": card.split,
               "size": f"{card.size:,}", "primary metric": card.primary_metric,
               "data": _data_status(spec, data_root)}
        if details:
            row["groups"] = ", ".join(card.groups)
            row["files (--file KEY=PATH)"] = "\n".join(f"{k}: {v}" for k, v in card.files.items())
            row["options (--option)"] = "\n".join(
                f"{o.name}={spec.options[o.name]} ({'|'.join(o.choices)})"
                for o in spec.family.options)
        rows.append(row)
    return rows


def task_records(data_root: Path) -> list[dict[str, Any]]:
    """One object per task card, for `list tasks --json` (every field, --details or not)."""
    records = []
    for card in task_cards().values():
        spec = build_task(card, data_root)
        records.append({
            "name": card.name, "family": card.family, "split": card.split, "size": card.size,
            "primary_metric": card.primary_metric, "data": _data_status(spec, data_root),
            "groups": list(card.groups), "files": dict(card.files),
            "options": {o.name: {"value": spec.options[o.name], "choices": list(o.choices)}
                        for o in spec.family.options},
            "description": card.description, "source": card.source})
    return records


def model_records() -> list[dict[str, Any]]:
    """One object per model card, for `list models --json`."""
    return [{"name": c.name, "adapter": c.adapter, "prompt_style": c.prompt_style,
             "description": c.description} for c in model_cards().values()]


def model_rows() -> list[dict[str, str]]:
    """One row per model card, for `list models` (literal text)."""
    return [{"name": r["name"], "adapter": r["adapter"], "prompt style": r["prompt_style"] or "-",
             "description": r["description"]} for r in model_records()]


def plugin_rows() -> list[dict[str, str]]:
    """One row per registered family, loader, adapter, prompt style, post-processor and
    judge, with where it comes from, for `list plugins` (literal text; the same keys for
    `--json`)."""
    from infmllm_eval.adapters import ADAPTERS
    from infmllm_eval.data import LOADERS
    from infmllm_eval.families import FAMILIES
    from infmllm_eval.families.multiple_choice import EXTRACTORS
    from infmllm_eval.metrics.judge import JUDGES
    from infmllm_eval.metrics.postprocess import POSTPROCESSORS
    from infmllm_eval.modeling.prompts import PROMPT_STYLES
    from infmllm_eval.registry import Registry

    registries: list[Registry[Any]] = [FAMILIES, LOADERS, ADAPTERS, PROMPT_STYLES,
                                       POSTPROCESSORS, JUDGES, EXTRACTORS]
    return [{"kind": r.kind, "name": name, "from": r.source(name)}
            for r in registries for name in r.names()]


#: how many missing image names a `data check` row shows (--json lists them all)
SHOW_MISSING = 5


def _under(path: str, folder: Path) -> str:
    """An image's path relative to the images folder (ScienceQA names every image
    image.png: ``test/2/image.png`` says which), else as it is."""
    relative = os.path.relpath(path, folder)
    return path if relative.startswith("..") else relative


def check_data(data_root: Path, tasks: Sequence[str], files: Sequence[str], images: bool,
               ) -> tuple[list[dict[str, str]], list[dict[str, Any]], bool]:
    """Rows for `data check` (literal text), the same as records for `--json` and whether
    every selected task is complete. An incomplete task's row says where to get its data
    (the card's ``source``)."""
    from infmllm_eval.data.images import DATA_URI_PREFIX

    rows, records, all_ok = [], [], True
    for spec in build_specs(tasks, data_root, files, []):
        absent = missing_files(spec)
        found = "\n".join(f"{k}: {p}" for k, p in spec.files.items() if k not in absent)
        if spec.bundled:  # the data root holds none of its files: the package's own are used
            found = f"{spec.data_source}\n{found}"
        missing = "\n".join(f"{k}: {p}" for k, p in absent.items())
        count, ok = "-", not absent
        problems: list[str] = []
        n_samples: int | None = None
        missing_images: list[str] = []
        if not {k for k in absent if k != "images"}:
            try:
                samples = load_samples(spec)
            except InfmllmEvalError as exc:
                count, ok = f"error: {exc}", False
                problems.append(str(exc))
            else:
                n_samples = len(samples)
                count = f"{len(samples):,} / {spec.card.size:,}"
                ok = ok and len(samples) == spec.card.size
                if images and "images" not in absent:
                    image_files = {s.image for s in samples
                             if s.image and not s.image.startswith(DATA_URI_PREFIX)}
                    # os.path.isfile: False (never an OSError) for a name the OS refuses
                    # (too long), a folder, a FIFO or a device - what a run would refuse too
                    lost = sorted(p for p in image_files if not os.path.isfile(p))
                    if lost:
                        first = ", ".join(_under(p, spec.files["images"])
                                          for p in lost[:SHOW_MISSING])
                        more = ", ..." if len(lost) > SHOW_MISSING else ""
                        missing += (f"\n{len(lost):,} image file(s) missing or not regular "
                                    f"files ({len(image_files) - len(lost):,} of "
                                    f"{len(image_files):,} present): {first}{more}")
                        problems.append(f"{len(lost)} image file(s) missing or not regular "
                                        "files")
                        missing_images = lost
                        ok = False
        all_ok = all_ok and ok
        source = spec.card.source or "(the task card names no source)"
        rows.append({"task": spec.name, "status": "ok" if ok else "INCOMPLETE",
                     "found": found, "missing": missing.strip() or "-",
                     "samples / expected": count, "get it from": "" if ok else source})
        records.append({
            "task": spec.name, "ok": ok, "data": spec.data_source,
            "found": {k: str(p) for k, p in spec.files.items() if k not in absent},
            "missing": {k: str(p) for k, p in absent.items()}, "problems": problems,
            "missing_images": missing_images,
            "samples": n_samples, "expected": spec.card.size, "source": spec.card.source})
    return rows, records, all_ok
