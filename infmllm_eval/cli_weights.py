"""The ``weights`` commands (added to the CLI by :func:`register`): inspect a checkpoint from
its headers, convert it to the canonical folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from infmllm_eval.errors import EXIT_BAD_INPUT, BadInputError
from infmllm_eval.ui import err, out, print_json

weights_app = typer.Typer(help="Inspect and convert InfMLLM checkpoints (local files only).",
                          no_args_is_help=True)

VisionWeights = Annotated[str | None, typer.Option(
    "--vision-weights", metavar="PATH", help="A second checkpoint holding the ViT, ln_vision "
    "and pool adapter, when PATH is a plain HF LLaMA/Vicuna folder.", show_default=False)]
Tokenizer = Annotated[str | None, typer.Option(
    "--tokenizer", metavar="DIR", help="Folder (or file) of the SentencePiece tokenizer.model "
    "\\[default: the checkpoint's folder].", show_default=False)]


@weights_app.command("inspect")
def inspect(
    path: Annotated[str, typer.Argument(metavar="PATH", help="Checkpoint file, folder or "
                                        "*.index.json.", show_default=False)],
    vision_weights: VisionWeights = None,
    tokenizer: Tokenizer = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Check against this model card only (and use its key_map) \\[default: "
        "compare with every InfMLLM card].", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """What a checkpoint holds and which model cards it fits (headers only).

    Reads the safetensors headers and the index, never tensor data: the files and their
    bytes, the layout found, tensors, parameters and dtypes per part, a table of sizes (from
    the tensor shapes, from config.json, and each card's), which cards fit, what is missing or
    left over. Exits 2 when it cannot be loaded (with --model: by that card)."""
    from infmllm_eval.modeling.inspect import inspect_weights, render_text, unusable

    report = inspect_weights(path, vision_weights, tokenizer, model)
    if as_json:
        print_json(report)
    else:
        sys.stdout.write(render_text(report))
    problem = unusable(report)
    if problem:
        err.print(f"error: checkpoint {escape(path)} cannot be loaded: {escape(problem)}",
                  soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT)


@weights_app.command("convert")
def convert(
    src: Annotated[str, typer.Argument(metavar="SRC", help="Checkpoint file, folder or "
                                       "*.index.json, in any layout `weights inspect` places.",
                                       show_default=False)],
    dst: Annotated[Path, typer.Argument(metavar="DST", help="New folder to write.",
                                        show_default=False)],
    model: Annotated[str, typer.Option("--model", help="The model card of this checkpoint "
                                       "(its architecture goes into config.json).")],
    vision_weights: VisionWeights = None,
    tokenizer: Tokenizer = None,
    dtype: Annotated[str | None, typer.Option(
        "--dtype", help="Cast to float32, bfloat16 or float16 \\[default: keep each tensor's "
        "dtype]; ln_vision stays as it is.", show_default=False)] = None,
    shard_size: Annotated[str, typer.Option(
        "--shard-size", help="Largest shard, 1 MB to 1 TB: e.g. 2GB, 500MB, 4GiB (KB/MB/GB "
        "are powers of 1000, KiB/MiB/GiB of 1024).")] = "2GB",
) -> None:
    """Write a checkpoint as one canonical folder.

    DST gets the original key names in safetensors shards with an index, a config.json of the
    card's architecture and the tokenizer.model: loads of DST are direct and its hash no
    longer depends on how the release was packed. Written to a temporary sibling folder and
    renamed when complete."""
    from infmllm_eval.catalog import resolve_model
    from infmllm_eval.modeling.convert import convert as run_convert
    from infmllm_eval.modeling.convert import parse_size

    card = resolve_model(model)
    if card.adapter != "infmllm":
        raise BadInputError(f"--model {model}: a {card.adapter} model card; convert needs an "
                            "InfMLLM card")
    result = run_convert(src, dst, card, vision_weights, tokenizer, dtype,
                         parse_size(shard_size), lambda line: err.print(escape(line)))
    out.print(f"wrote {escape(str(dst))}: {result['tensors']} tensors, "
              f"{result['bytes']:,} bytes in {len(result['files'])} files (from the "
              f"{escape(result['source_layout'])} layout); sha256 {result['sha256']}",
              soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``weights inspect`` and ``weights convert`` to ``app``."""
    app.add_typer(weights_app, name="weights")
