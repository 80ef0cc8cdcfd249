"""The run directory: run.json (provenance), metrics.json and summary.md, written atomically."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from infmllm_eval import __version__
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import InputPolicy, read_bytes
from infmllm_eval.jsonio import decode_json, write_atomic, write_json


def file_sha256(path: str | Path) -> str:
    """Hex digest of a file's bytes ('' when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def git_sha() -> str:
    """Commit of the infmllm-eval checkout this code runs from ('' when not a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def versions() -> dict[str, str]:
    """Versions of Python, this package and the libraries that can change a score."""
    from importlib import metadata  # only runs need it: kept off the import of `score`

    found = {"python": platform.python_version(), "infmllm-eval": __version__}
    for dist in ("numpy", "torch", "transformers", "pycocoevalcap"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def new_run_id(model: str) -> str:
    """``<model>-<UTC timestamp>``, sortable by time."""
    return f"{model}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def write_run_json(run_dir: Path, config: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Resolved config plus everything needed to reproduce or compare the run."""
    try:
        _write_run_json(run_dir, config, provenance)
    except BadInputError as exc:  # disk full, read-only …: written atomically, so unchanged
        raise BadInputError(f"{exc}; no prediction was lost: make room (or choose another "
                            "--output-dir) and rerun the same command") from None


def _write_run_json(run_dir: Path, config: dict[str, Any], provenance: dict[str, Any]) -> None:
    write_json(run_dir / "run.json", {
        "run_id": run_dir.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "config": config,
        "git_sha": git_sha(),
        "versions": versions(),
        **provenance,
    })


def read_json_file(path: Path) -> Any:
    """A JSON file the harness wrote itself."""
    return json.loads(path.read_text(encoding="utf-8"))


MAX_RUN_JSON = 64 << 20  # a run.json holds a few kilobytes; anything this big is not one
_DAMAGED = "the run directory is damaged: pass --new-run (or fix run.json)"
_PAIRS = ("options", "model_options", "files", "generation")
#: reading a FIFO would wait forever
_RUN_JSON_FILE = InputPolicy(
    max_bytes=MAX_RUN_JSON, pipes=False,
    not_regular="{label} is {kind}: not a regular file (a pipe, a device …); " + _DAMAGED,
    too_large="{label}: {size} bytes, not the run.json of a run (at most {limit_mb} MB); "
              + _DAMAGED)


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """A run directory's run.json, checked where resuming relies on it: an object whose
    ``config`` has the fields of a run's configuration with their types."""
    path = run_dir / "run.json"
    doc = decode_json(read_bytes(path, "run.json", _RUN_JSON_FILE), path)
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: expected a JSON object, got {type(doc).__name__}; "
                            f"{_DAMAGED}")
    cfg = doc.get("config")
    if not isinstance(cfg, dict):
        raise BadInputError(f"{path}: 'config' is missing or not an object; {_DAMAGED}")

    def bad(field: str, expected: str) -> BadInputError:
        return BadInputError(f"{path}: config.{field}: expected {expected}, got "
                             f"{shown(cfg.get(field))}; {_DAMAGED}")

    for name in ("model", "data_root"):
        if not isinstance(cfg.get(name), str) or not cfg[name]:
            raise bad(name, "a non-empty string")
    tasks = cfg.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(
            isinstance(t, str) and t for t in tasks):
        raise bad("tasks", "a non-empty list of task names")
    for name, low in (("batch_size", 1), ("seed", None), ("limit", 1)):
        value = cfg.get(name)
        if value is None and name != "batch_size":
            continue
        if name == "batch_size" and name not in cfg:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or (
                low is not None and value < low):
            raise bad(name, "an integer" + (f" >= {low}" if low is not None else ""))
    for name in _PAIRS:
        value = cfg.get(name, {})
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise bad(name, "an object of strings")
    if not isinstance(cfg.get("on_image_error", "fail"), str):
        raise bad("on_image_error", "fail or skip")
    for name in ("cards", "model"):
        if not isinstance(doc.get(name, {}), dict):
            raise BadInputError(f"{path}: '{name}' is not an object; {_DAMAGED}")
    return doc


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def summary_markdown(metrics: dict[str, Any]) -> str:
    """One row per task: primary metric, 95% interval, counts and the scoring variant."""
    lines = ["| task | metric | value | 95% CI | samples | missing | variant |",
             "|---|---|---|---|---|---|---|"]
    for task, entry in metrics["tasks"].items():
        if "submission" in entry:
            lines.append(f"| {task} | submission | {entry['submission']} | | "
                         f"{entry['n_samples']} | | |")
            continue
        primary = entry["primary_metric"]
        ci = entry["ci95"].get(primary)
        interval = f"{ci[0]:.2f}–{ci[1]:.2f}" if ci else ""
        variant = ", ".join(f"{k}={v}" for k, v in entry["variant"].items())
        partial = " (partial)" if entry["partial"] else ""
        lines.append(f"| {task} | {primary}{partial} | {_fmt(entry['metrics'][primary])} | "
                     f"{interval} | {entry['n_scored']} | {entry['n_missing']} | {variant} |")
    return "\n".join(lines) + "\n"


def check_outputs(run_dir: Path) -> None:
    """Refuse, before any model work, a run directory whose output paths cannot be written
    (a folder where metrics.json goes, a file where the predictions folder goes …)."""
    for name, folder in (("run.json", False), ("metrics.json", False), ("summary.md", False),
                         ("predictions", True), ("submissions", True)):
        path = run_dir / name
        if path.exists() and path.is_dir() != folder:
            kind = "a folder" if not folder else "not a folder"
            raise BadInputError(f"{path}: {kind}, where the run writes its "
                                f"{'outputs' if folder else name}; move it away (or pass "
                                "--new-run)")
    if not (run_dir / "run.json").exists():  # a run writes run.json before anything else
        for name in ("metrics.json", "summary.md"):
            if (run_dir / name).exists():
                raise BadInputError(f"{run_dir / name}: the folder is not a run directory (it "
                                    f"has no run.json), and the run would overwrite this "
                                    "file; choose another --output-dir or --run-name")


def write_results(run_dir: Path, metrics: dict[str, Any]) -> None:
    """metrics.json and summary.md of a run."""
    try:
        write_json(run_dir / "metrics.json", metrics)
        write_atomic(run_dir / "summary.md", summary_markdown(metrics))
    except BadInputError as exc:  # disk full …: what was generated is safe in the journals
        raise BadInputError(f"{exc}; the predictions are journaled: make room and rerun the "
                            "same command to score them") from None
