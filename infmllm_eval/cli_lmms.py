"""The ``import lmms-eval`` command (added to the CLI by :func:`register`): lmms-eval
``--log_samples`` files become predictions that `score`, `report` and `gate` read. Works
without lmms-eval installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from infmllm_eval.errors import BadInputError
from infmllm_eval.ui import err, out

import_app = typer.Typer(help="Convert results of other evaluation tools into predictions.",
                         no_args_is_help=True)


def import_lmms_eval(
    samples: Annotated[Path, typer.Argument(
        metavar="SAMPLES.jsonl", help="An lmms-eval --log_samples file "
        "(<output_path>/…/<date>_samples_<task>.jsonl).", show_default=False)],
    task: Annotated[str, typer.Option(
        "--task", help="Our task the samples are for, e.g. vqav2_val, textvqa_val, okvqa_val "
        "(VQA tasks: ids are question_ids).")],
    output: Annotated[Path | None, typer.Option(
        "--output", help="Predictions JSONL to write \\[default: "
        "<samples>.predictions.jsonl next to the samples file].")] = None,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset", metavar="PATH", help="The local lmms-lab dataset the lmms-eval run read "
        "(parquet files or a save_to_disk folder): maps doc_id to question_id when the samples "
        "do not record it, and checks it when they do.")] = None,
    split: Annotated[str | None, typer.Option(
        "--split", help="Split of --dataset \\[default: that of the task's lmms-lab card "
        "(okvqa_val_lmms: val2014), else validation].")] = None,
    response: Annotated[str, typer.Option(
        "--response", help="filtered: the answer lmms-eval scored (filtered_resps); raw: the "
        "model's text before the task's filters (resps).")] = "filtered",
) -> None:
    """Convert an lmms-eval samples file into our predictions ({"id", "prediction"} per line),
    to score it with the official scorers here: `infmllm-eval score --task T --predictions
    OUT`."""
    from infmllm_eval.catalog import resolve_task
    from infmllm_eval.lmms.samples import convert_samples, default_output, write_predictions
    from infmllm_eval.outputs import refuse_overwrite, usable_paths

    usable_paths(("the samples file", samples), ("--output", output), ("--dataset", dataset))
    card = resolve_task(task)
    target = output or default_output(samples)
    inputs = [("the samples file", samples)]
    if card.path:
        inputs.append((f"the task card of {card.name}", Path(card.path)))
    if dataset is not None:
        inputs.append(("the --dataset", dataset))
    refuse_overwrite(target, "--output" if output is not None else f"the output {target}",
                     inputs, "choose another --output")
    if card.family != "vqa":
        raise BadInputError(f"import lmms-eval --task {task}: a {card.family} task; only VQA "
                            "tasks (VQAv2, OK-VQA, TextVQA: question_id ids) can be imported")
    ids = None
    if dataset is not None:
        from infmllm_eval.data.lmms_hf import read_columns

        name = split or _lmms_split(card.name)
        _, columns = read_columns(dataset, name, ("question_id",))
        ids = columns["question_id"]
    result = convert_samples(samples, response, ids)
    write_predictions(target, result.records)
    sources = ", ".join(f"{n} from {s}" for s, n in sorted(result.id_sources.items()))
    what = f" (lmms-eval task {result.lmms_task})" if result.lmms_task else ""
    err.print(f"{len(result.records)} predictions{escape(what)}; question ids: {sources}")
    out.print(f"wrote {escape(str(target))}")
    err.print(f"score them: infmllm-eval score --task {escape(task)} --predictions "
              f"{escape(str(target))} --data-root DIR", soft_wrap=True)


def _lmms_split(task: str) -> str:
    """The lmms-lab split of a task: its own card's, or its ``<task>_lmms`` twin's."""
    from infmllm_eval.cards import task_cards

    cards = task_cards()
    for name in (task, f"{task}_lmms"):
        card = cards.get(name)
        if card is not None and card.loader == "lmms_parquet":
            return str(card.loader_args.get("split", "validation"))
    return "validation"


def register(app: typer.Typer) -> None:
    """Add ``import lmms-eval`` to ``app``."""
    import_app.command("lmms-eval")(import_lmms_eval)
    app.add_typer(import_app, name="import")
