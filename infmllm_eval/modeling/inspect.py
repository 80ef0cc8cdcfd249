"""`weights inspect`: what a checkpoint holds and which model cards it fits, from headers only.

Nothing here reads tensor data: safetensors headers and the index are parsed, torch zip files
are memory-mapped, so a 14 GB folder is inspected in about a second."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infmllm_eval.cards import ModelCard, model_cards
from infmllm_eval.errors import BadInputError, InfmllmEvalError
from infmllm_eval.modeling.arch_check import CARD_SIZES, compare_config
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.layout import PARTS, derived_sizes, few
from infmllm_eval.modeling.weights import WeightSet, open_weights

PART_NAMES = {**PARTS, "lm_head": "lm_head"}
#: sizes no tensor shape shows: always listed beside the cards' values
UNSEEN_IN_SHAPES = {"pool_out_size", "vit_heads", "llm_heads", "rms_norm_eps", "rope_theta"}
CANONICAL = {"vit": "visual_encoder.", "ln_vision": "ln_vision.", "pooler": "pooler.",
             "llm": "lm_model.model.", "lm_head": "lm_model.lm_head."}


def inspect_weights(weights: str, vision_weights: str | None = None,
                    tokenizer: str | None = None, model: str | None = None,
                    key_map: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """A JSON-ready description of a checkpoint (see render_text); ``model`` names the card
    to check it against (its key_map is used), else every InfMLLM card is compared."""
    cards = {n: c for n, c in model_cards().items() if c.adapter == "infmllm" and c.architecture}
    chosen = None
    if model is not None:
        from infmllm_eval.catalog import resolve_model

        chosen = resolve_model(model)
        key_map = key_map or chosen.key_map
    ws = open_weights(weights, vision_weights, key_map, chosen.path if chosen else "",
                      hash_now=False)
    report: dict[str, Any] = {"checkpoint": weights, "vision_weights": vision_weights,
                              "files": _files(ws), "layout": ws.placement.layout,
                              "parts": _parts(ws), "unplaced": ws.placement.unplaced,
                              "ignored": ws.placement.ignored,
                              "problems": ws.placement.problems}
    report["total_bytes"] = sum(f["bytes"] for f in report["files"])
    report["sizes"] = derived_sizes(ws.tensors, ws.placement)
    report["config_json"] = str(ws.config_path) if ws.config_path else None
    report["config"] = ws.config_values
    if tokenizer is None and chosen is not None and chosen.options.get("tokenizer"):
        tokenizer = str(chosen.options["tokenizer"])
    report["tokenizer"] = _tokenizer(weights, tokenizer)
    pieces = (report["tokenizer"] or {}).get("pieces", 0)
    targets = {chosen.name: chosen} if chosen else cards
    report["cards"] = {name: _fit(ws, card, pieces) for name, card in sorted(targets.items())}
    return report


def _files(ws: WeightSet) -> list[dict[str, Any]]:
    root = ws.files[0].parent
    rows = []
    for file in ws.files:
        try:
            name = str(file.relative_to(root))
        except ValueError:
            name = str(file)
        rows.append({"file": name, "bytes": file.stat().st_size})
    return rows


def _parts(ws: WeightSet) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {}
    for part, prefix in CANONICAL.items():
        keys = [k for c, k in ws.placement.mapping.items() if c.startswith(prefix)]
        if not keys:
            continue
        dtypes = sorted({str(ws.tensors[k].dtype).removeprefix("torch.") for k in keys})
        parts[part] = {"at": ws.placement.roots.get(part, ""), "tensors": len(keys),
                       "parameters": sum(ws.tensors[k].numel() for k in keys),
                       "dtypes": dtypes}
    return parts


def _tokenizer(weights: str, tokenizer: str | None) -> dict[str, Any] | None:
    """The tokenizer --tokenizer (or the card) names, else the checkpoint folder's."""
    from infmllm_eval.adapters.infmllm import tokenizer_for

    if not tokenizer:
        place = Path(weights).expanduser()
        folder = place if place.is_dir() else place.parent
        if not (folder / "tokenizer.model").is_file():
            return None
    try:
        tok = tokenizer_for({"tokenizer": tokenizer or ""}, weights)
    except BadInputError as exc:
        return {"file": tokenizer, "error": str(exc)}
    return {"file": str(tok.path), "pieces": tok.vocab_size}


def _fit(ws: WeightSet, card: ModelCard, pieces: int) -> dict[str, Any]:
    """The card's sizes and whether the checkpoint fits it (the first reason when not)."""
    try:
        config = InfMLLMConfig.from_dict(dict(card.architecture), source=card.path)
    except BadInputError as exc:
        return {"fits": False, "reason": str(exc), "sizes": {}}
    sizes: dict[str, Any] = {**config.to_dict(),
                             **{name: get(config) for name, get in CARD_SIZES.items()}}
    try:
        if ws.config_path is not None:
            compare_config(config, ws.config_values, ws.config_path, card.name)
        ws.check(config, card.name, strict=True, interpolate_pos=False)
        if pieces > config.vocab:
            raise BadInputError(f"the tokenizer has {pieces} pieces but the model's vocab is "
                                f"{config.vocab}")
    except InfmllmEvalError as exc:
        return {"fits": False, "reason": str(exc), "sizes": sizes}
    return {"fits": True, "reason": "", "sizes": sizes}


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n} B"


def render_text(report: Mapping[str, Any]) -> str:
    """The report as aligned plain text (stable: tests compare it with golden files)."""
    lines = [f"checkpoint  {report['checkpoint']}"]
    if report["vision_weights"]:
        lines.append(f"vision      {report['vision_weights']}")
    lines.append(f"files       {len(report['files'])}, {_bytes(report['total_bytes'])}")
    lines += [f"  {row['file']}  {_bytes(row['bytes'])}" for row in report["files"]]
    lines.append(f"layout      {report['layout']}")
    table = [["part", "at", "tensors", "parameters", "dtypes"]]
    for part, info in report["parts"].items():
        table.append([PART_NAMES[part], repr(info["at"]), str(info["tensors"]),
                      f"{info['parameters']:,}", ", ".join(info["dtypes"])])
    lines += _aligned(table)
    for what in ("problems", "unplaced", "ignored"):
        if report[what]:
            lines.append(f"{what:<11} {len(report[what])}: {few(report[what])}")
    cards = report["cards"]
    fields = sorted(set(report["sizes"]) | set(report["config"]) | UNSEEN_IN_SHAPES)
    table = [["size", "tensors", "config.json", *cards]]
    for name in fields:
        table.append([name, _cell(report["sizes"].get(name)), _cell(report["config"].get(name)),
                      *(_cell(c["sizes"].get(name)) for c in cards.values())])
    lines.append("sizes       (config.json: " + (report["config_json"] or "none") + ")")
    lines += _aligned(table)
    fits = [name for name, c in cards.items() if c["fits"]]
    lines.append("fits        " + (", ".join(fits) if fits else "no model card"))
    for name, card in cards.items():
        if not card["fits"] and len(cards) == 1:
            lines.append(f"  {name}: {card['reason']}")
    tok = report["tokenizer"]
    lines.append("tokenizer   " + ("none found (give --tokenizer DIR)" if tok is None else
                                   f"{tok['file']}: " + (tok.get("error") or
                                                         f"{tok['pieces']:,} pieces")))
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def unusable(report: Mapping[str, Any]) -> str:
    """Why the checkpoint cannot be loaded ('' when it can, by at least one card)."""
    if report["problems"] or report["unplaced"]:
        return ("parts not found: " + "; ".join(report["problems"]) if report["problems"]
                else f"{len(report['unplaced'])} tensor(s) belong to no part: "
                     f"{few(report['unplaced'])}")
    if len(report["cards"]) == 1:
        card = next(iter(report["cards"].values()))
        return "" if card["fits"] else card["reason"]
    if not any(card["fits"] for card in report["cards"].values()):
        return ("no model card fits it; write one with the sizes above (README: 'Running the "
                "released checkpoints')")
    return ""
