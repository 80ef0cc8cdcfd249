"""The Python API: evaluate a model (a card name, or an adapter object such as the checkpoint a
training loop holds) on tasks, or score predictions, with the scorers of the command line.

    import infmllm_eval

    result = infmllm_eval.evaluate("infmllm-tiny-toy", ["toy_vqa"], data_root=...)
    result["toy_vqa"].value          # the primary metric
    infmllm_eval.score("vqav2_val", {"1": "yes"}, data_root=...)

Bad input raises :class:`infmllm_eval.errors.InfmllmEvalError` subclasses with the messages
the command line prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infmllm_eval.errors import BadInputError

if TYPE_CHECKING:
    from infmllm_eval.adapters import ModelAdapter


@dataclass(frozen=True)
class TaskResult:
    """One task's scores: the primary metric's value, every metric, and the full metrics.json
    entry (breakdowns, per-sample scores, interval, counts)."""

    task: str
    primary_metric: str
    metrics: dict[str, float]
    entry: dict[str, Any] = field(repr=False)

    @property
    def value(self) -> float:
        """The primary metric's value."""
        return self.metrics[self.primary_metric]


@dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` returns: results per task and the run directory; ``not_scored``
    names the tasks a run could not score and why (e.g. no Java for the caption metrics:
    their predictions are kept, and evaluating again with the tool installed scores them)."""

    run_dir: Path
    tasks: dict[str, TaskResult]
    metrics: dict[str, Any] = field(repr=False)  # the whole metrics.json
    not_scored: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, task: str) -> TaskResult:
        return self.tasks[task]


def _pairs(values: Mapping[str, Any] | None) -> list[str]:
    return [f"{k}={v}" for k, v in (values or {}).items()]


def _result(task: str, entry: dict[str, Any]) -> TaskResult:
    if "metrics" not in entry:  # a submission-only task has no scores
        return TaskResult(task, "", {}, entry)
    return TaskResult(task, entry["primary_metric"], dict(entry["metrics"]), entry)


def evaluate(
    model: str | ModelAdapter, tasks: str | Sequence[str], *,
    data_root: str | Path | None = None, output_dir: str | Path = "results/runs",
    run_name: str | None = None, new_run: bool = False, batch_size: int | str = 8,
    limit: int | None = None, options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None, files: Mapping[str, Any] | None = None,
    generation: Mapping[str, Any] | None = None, seed: int = 0,
    on_image_error: str = "fail", progress: bool = False, threads: int | None = None,
) -> EvalResult:
    """Run ``model`` on ``tasks`` (names or groups) exactly as ``infmllm-eval run`` does:
    journaled predictions in a run directory (rerunning resumes), then scored.

    ``model`` is a model card name, or a :class:`~infmllm_eval.adapters.ModelAdapter`
    object (``model_options`` then do not apply; its ``name`` names the run). The keyword
    arguments are the command's options as mappings (``options={"normalization": "always"}``);
    ``threads`` sets torch's CPU threads (default: as ``run --threads``).
    """
    from infmllm_eval.adapters import ModelAdapter
    from infmllm_eval.commands import check_run_name, run_command
    from infmllm_eval.taskspec import default_data_root

    adapter = model if isinstance(model, ModelAdapter) else None
    if adapter is None and not isinstance(model, str):
        raise BadInputError(f"model: expected a model card name or a ModelAdapter object, got "
                            f"{type(model).__name__}")
    if adapter is not None and model_options:
        raise BadInputError("model_options apply to a model card; an adapter object is "
                            "already built")
    name = (adapter.name or type(adapter).__name__) if adapter is not None else str(model)
    if adapter is not None:
        check_run_name(name, Path(output_dir), "the adapter's name")  # it names the run folder
    names = [tasks] if isinstance(tasks, str) else list(tasks or [])
    if not names or not all(isinstance(t, str) and t for t in names):
        raise BadInputError(f"tasks: expected task or group names, got {tasks!r:.80}")
    root = Path(data_root) if data_root is not None else default_data_root()
    run_dir, metrics = run_command(
        name, names, root, batch_size, limit, Path(output_dir), run_name, _pairs(options),
        _pairs(model_options), _pairs(files), seed, _pairs(generation), new_run,
        on_image_error, adapter=adapter, show_progress=progress, threads=threads)
    results = {task: _result(task, entry) for task, entry in metrics["tasks"].items()}
    skipped = {task: entry["reason"] for task, entry in metrics.get("not_scored", {}).items()}
    return EvalResult(run_dir, results, metrics, skipped)


def score(
    task: str, predictions: str | Path | Mapping[str, str], *,
    data_root: str | Path | None = None, files: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None, allow_partial: bool = False,
) -> TaskResult:
    """Score predictions of ``task`` as ``infmllm-eval score`` does, without writing files:
    ``predictions`` is a predictions file (or an official result folder) or a mapping of
    sample id to answer text."""
    from infmllm_eval.catalog import resolve_task
    from infmllm_eval.predictions import Predictions, read_prediction_source
    from infmllm_eval.scoring import check_ids, score_task
    from infmllm_eval.taskspec import build_task, default_data_root, load_samples, parse_pairs

    root = Path(data_root) if data_root is not None else default_data_root()
    spec = build_task(resolve_task(task), root, parse_pairs(_pairs(files), "--file"),
                      parse_pairs(_pairs(options), "--option"))
    if spec.card.submission_only:
        raise BadInputError(f"task {task} has no public answers: write its submission file "
                            "with `infmllm-eval score`")
    if isinstance(predictions, Mapping):
        bad = next(((k, v) for k, v in predictions.items()
                    if not isinstance(v, str) or not isinstance(k, str | int)), None)
        if bad is not None:
            raise BadInputError(f"predictions[{bad[0]!r:.40}]: expected an id (str or int) and "
                                f"the answer text, got {type(bad[1]).__name__}")
        preds = Predictions(Path("<predictions mapping>"),
                            {str(k): v for k, v in predictions.items()}, "item")
    elif not isinstance(predictions, str | Path):
        raise BadInputError(f"predictions: expected a file path or a mapping of id to text, "
                            f"got {type(predictions).__name__}")
    else:
        preds = read_prediction_source(Path(predictions), spec.family)
    samples = load_samples(spec, images=False)
    missing = check_ids(spec, samples, preds)
    entry = score_task(spec, samples, preds.text, missing=missing, partial=allow_partial,
                       failed=preds.failed)
    return _result(task, entry)
