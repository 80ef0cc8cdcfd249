"""Task and model cards: YAML data files, validated on load with one-line file:field errors."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from infmllm_eval.card_yaml import read_card_yaml
from infmllm_eval.data import LOADERS
from infmllm_eval.errors import CardError, shown
from infmllm_eval.families import FAMILIES
from infmllm_eval.registry import Registry, did_you_mean
from infmllm_eval.types import GenerationConfig, Scalar

CARD_PATH_ENV = "INFMLLM_EVAL_CARD_PATH"


@dataclass(frozen=True)
class TaskCard:
    """A benchmark split: where its files are (relative to the data root) and how it is scored."""

    name: str
    family: str
    loader: str
    split: str
    size: int
    primary_metric: str
    files: dict[str, str]
    description: str = ""
    groups: tuple[str, ...] = ()
    #: the figure a group reports: the unweighted mean of this metric over the group's tasks
    #: (POPE: mean F1 of the three splits, as LLaVA-1.5's eval_pope.py "average f1")
    group_mean: str = ""
    options: dict[str, Scalar] = field(default_factory=dict)
    loader_args: dict[str, Scalar] = field(default_factory=dict)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    submission_only: bool = False
    source: str = ""
    path: str = ""


@dataclass(frozen=True)
class ModelCard:
    """A model: which adapter builds it and with which settings."""

    name: str
    adapter: str
    description: str = ""
    prompt_style: str = ""
    options: dict[str, Scalar] = field(default_factory=dict)
    architecture: dict[str, Scalar] = field(default_factory=dict)
    task_options: dict[str, Scalar] = field(default_factory=dict)
    generation: dict[str, Scalar] = field(default_factory=dict)
    key_map: dict[str, str | None] = field(default_factory=dict)
    path: str = ""


# field name -> (expected python type(s), required)
_TASK_SCHEMA: dict[str, tuple[Any, bool]] = {
    "name": (str, True), "family": (str, True), "loader": (str, True), "split": (str, True),
    "size": (int, True), "primary_metric": (str, True), "files": (dict, True),
    "description": (str, False), "groups": (list, False), "options": (dict, False),
    "loader_args": (dict, False), "generation": (dict, False), "submission_only": (bool, False),
    "source": (str, False), "group_mean": (str, False),
}
_MODEL_SCHEMA: dict[str, tuple[Any, bool]] = {
    "name": (str, True), "adapter": (str, True), "description": (str, False),
    "prompt_style": (str, False), "options": (dict, False), "architecture": (dict, False),
    "task_options": (dict, False), "generation": (dict, False), "key_map": (dict, False),
}
#: decoding setting -> its type (GenerationConfig's fields are ints, floats and bools)
_GEN_KINDS: dict[str, type] = {
    f.name: {"int": int, "float": float, "bool": bool}[str(f.type)]
    for f in dataclasses.fields(GenerationConfig)}


def _type_name(value: Any) -> str:
    return type(value).__name__


def _key(key: Any) -> str:
    """A key as written into a message: itself when it is a short name, else bounded."""
    return key if isinstance(key, str) and len(key) <= 60 and key.isprintable() else shown(key)


def _has_type(value: Any, expected: Any) -> bool:
    """Whether a YAML value has the type: a bool is not a number; an int is a float too."""
    if isinstance(value, bool):
        return expected is bool
    return isinstance(value, (int, float) if expected is float else expected)


def _check_type(where: str, key: str, value: Any, expected: Any) -> None:
    if not _has_type(value, expected):
        raise CardError(
            f"{where}: field '{key}': expected {expected.__name__}, got {_type_name(value)} "
            f"({shown(value)})"
        )


def _validate(where: str, raw: Any, schema: dict[str, tuple[Any, bool]]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CardError(f"{where}: expected a mapping of fields, got {_type_name(raw)}")
    for key in raw:
        if key not in schema:
            raise CardError(f"{where}: unknown field {shown(key)} (allowed: {', '.join(schema)})")
    for key, (expected, required) in schema.items():
        if key not in raw:
            if required:
                raise CardError(f"{where}: missing required field '{key}'")
            continue
        _check_type(where, key, raw[key], expected)
    return dict(raw)


def _scalar_map(where: str, key: str, value: dict[str, Any]) -> dict[str, Scalar]:
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float | bool):
            raise CardError(f"{where}: field '{key}.{_key(k)}': expected a string, number or "
                            "boolean")
    return dict(value)


def _relative_files(where: str, files: dict[str, Any]) -> dict[str, str]:
    for key, rel in files.items():
        if not isinstance(rel, str) or not rel:
            raise CardError(f"{where}: field 'files.{_key(key)}': expected a path string")
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts:
            raise CardError(
                f"{where}: field 'files.{_key(key)}': {shown(rel)} must be relative to the data "
                "root without '..' (use --file KEY=PATH for files elsewhere)"
            )
    return dict(files)


def _generation_overrides(where: str, raw: dict[str, Any]) -> dict[str, Scalar]:
    """A card's decoding settings, checked by name and type (bad ones raise CardError)."""
    return {key: _generation_value(where, key, value, card=True) for key, value in raw.items()}


def _generation(where: str, raw: dict[str, Any]) -> GenerationConfig:
    return generation_with(GenerationConfig(), _generation_overrides(where, raw), where)


def generation_with(base: GenerationConfig, overrides: dict[str, Any],
                    where: str) -> GenerationConfig:
    """``base`` with the (name-checked, type-coerced, range-checked) ``overrides`` applied."""
    values = {key: _generation_value(where, key, value, card=False)
              for key, value in overrides.items()}
    result = dataclasses.replace(base, **values)
    problem = result.problem() or _without_effect(result, values)
    if problem:
        raise CardError(f"{where}: {problem}")
    return result


def _without_effect(gen: GenerationConfig, given: dict[str, Any]) -> str:
    """A setting ``given`` here that these decoding settings never use ('' when none): it
    would be recorded in run.json as if it had shaped the answers. Neutral values (the
    defaults, temperature 0 meaning greedy) are accepted."""
    if given.get("temperature", 1.0) not in (0.0, 1.0) and not gen.do_sample:
        return (f"temperature={given['temperature']} does nothing: decoding is greedy "
                "(do_sample=false) and only sampling uses a temperature; add do_sample=true, "
                "or drop temperature")
    if given.get("length_penalty", 1.0) != 1.0 and gen.num_beams == 1:
        return (f"length_penalty={given['length_penalty']} does nothing: num_beams=1 and only "
                "beam search uses a length penalty; set num_beams > 1, or drop length_penalty")
    return ""


def _generation_value(where: str, key: Any, value: Any, card: bool) -> Any:
    """The one check of a decoding setting: a known name, a value of its type. A card's value
    must have the type already (a card field); an override (``--generation``, a model card's
    settings on a task) may also be a string, parsed (true/false/1/0/yes/no for a bool)."""
    kind = _GEN_KINDS.get(key)
    if kind is None:
        what = f"field 'generation.{_key(key)}'" if card else f"generation setting {shown(key)}"
        raise CardError(f"{where}: unknown {what} (allowed: {', '.join(_GEN_KINDS)})")
    if card:
        _check_type(where, f"generation.{key}", value, kind)
        return value
    if _has_type(value, kind):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if kind is not bool:
            try:
                return kind(text)
            except ValueError:
                pass
        elif text in ("1", "true", "yes", "0", "false", "no"):
            return text in ("1", "true", "yes")
    raise CardError(f"{where}: {key}={shown(value)} is not {_KIND_NAMES[kind]}")


_KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false"}


def _check_choice(where: str, key: str, value: str, known: Registry[Any]) -> None:
    if value not in known:
        names = known.names()
        raise CardError(f"{where}: field '{key}': unknown {key} {shown(value)}."
                        f"{did_you_mean(value, names)} Known: {', '.join(names)}")


def _check_name(where: str, path: Path, name: str) -> None:
    if name != path.stem:
        raise CardError(f"{where}: field 'name': {shown(name)} must equal the file name "
                        f"{shown(path.stem)}")


def _check_primary_metric(where: str, family_name: str, primary: str,
                          options: dict[str, Scalar], key: str = "primary_metric") -> None:
    """Refuse a primary metric the family does not produce with the card's options (before
    any generation: a typo would otherwise lose a whole run)."""
    from infmllm_eval.families import get_family

    family = get_family(family_name)
    problem = family.unproduced(
        primary, family.default_options() | {k: str(v) for k, v in options.items()})
    if problem:
        raise CardError(f"{where}: field '{key}': {shown(primary)} is not a metric of "
                        f"the {family_name} family with this card's options.{problem}")


def load_task_card(path: Path) -> TaskCard:
    """Read and validate one task card."""
    where = str(path)
    raw = _validate(where, read_card_yaml(path), _TASK_SCHEMA)
    _check_name(where, path, raw["name"])
    _check_choice(where, "family", raw["family"], FAMILIES)
    _check_choice(where, "loader", raw["loader"], LOADERS)
    if raw["size"] < 0:
        raise CardError(f"{where}: field 'size': the number of samples cannot be negative, got "
                        f"{shown(raw['size'])}")
    groups = raw.get("groups", [])
    if not all(isinstance(g, str) for g in groups):
        raise CardError(f"{where}: field 'groups': expected a list of names")
    options = _scalar_map(where, "options", raw.get("options", {}))
    _check_primary_metric(where, raw["family"], raw["primary_metric"], options)
    if raw.get("group_mean"):
        if not groups:
            raise CardError(f"{where}: field 'group_mean': the card declares no group")
        _check_primary_metric(where, raw["family"], raw["group_mean"], options,
                              "group_mean")
    return TaskCard(
        name=raw["name"], family=raw["family"], loader=raw["loader"], split=raw["split"],
        size=raw["size"], primary_metric=raw["primary_metric"],
        files=_relative_files(where, raw["files"]), description=raw.get("description", ""),
        groups=tuple(groups), group_mean=raw.get("group_mean", ""), options=options,
        loader_args=_scalar_map(where, "loader_args", raw.get("loader_args", {})),
        generation=_generation(where, raw.get("generation", {})),
        submission_only=raw.get("submission_only", False), source=raw.get("source", ""),
        path=where,
    )


def load_model_card(path: Path) -> ModelCard:
    """Read and validate one model card."""
    where = str(path)
    raw = _validate(where, read_card_yaml(path), _MODEL_SCHEMA)
    _check_name(where, path, raw["name"])
    return ModelCard(
        name=raw["name"], adapter=raw["adapter"], description=raw.get("description", ""),
        prompt_style=raw.get("prompt_style", ""),
        options=_scalar_map(where, "options", raw.get("options", {})),
        architecture=_scalar_map(where, "architecture", raw.get("architecture", {})),
        task_options=_scalar_map(where, "task_options", raw.get("task_options", {})),
        generation=_generation_overrides(where, raw.get("generation", {})),
        key_map=_key_map(where, raw.get("key_map", {})), path=where,
    )


def _key_map(where: str, value: dict[str, Any]) -> dict[str, str | None]:
    """Checkpoint rename rules: regular expression → replacement, or null to drop the key."""
    for pattern, replacement in value.items():
        if not isinstance(pattern, str) or not pattern:
            raise CardError(f"{where}: field 'key_map': {shown(pattern)} is not a pattern")
        if replacement is not None and not isinstance(replacement, str):
            raise CardError(f"{where}: field 'key_map.{_key(pattern)}': expected a replacement "
                            "string or null (drop)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CardError(f"{where}: field 'key_map.{_key(pattern)}': not a regular "
                            f"expression ({exc})") from None
    return dict(value)


def builtin_card_root() -> Path:
    """The folder holding tasks/ and models/: the repository checkout or the installed copy."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "tasks").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return Path(__file__).resolve().parent / "_cards"


#: a plug-in package ships cards in ``<folder>/tasks`` and ``<folder>/models``, naming the
#: folder's package in this entry-point group, e.g. ``my_plugin = "my_plugin.cards"``
CARDS_GROUP = "infmllm_eval.cards"


def plugin_card_roots() -> list[Path]:
    """The card folders installed packages declare (``infmllm_eval.cards`` entry points)."""
    import importlib.util
    from importlib.metadata import entry_points

    roots = []
    for ep in sorted(entry_points(group=CARDS_GROUP), key=lambda e: e.name):
        try:  # imports the parent packages, which may be missing or broken
            spec = importlib.util.find_spec(ep.value.partition(":")[0])
        except Exception as exc:
            raise CardError(f"card plug-in {ep.name!r}: {ep.value!r} cannot be found "
                            f"({type(exc).__name__}: {exc})") from None
        if spec is None or not spec.submodule_search_locations:
            raise CardError(f"card plug-in {ep.name!r}: {ep.value!r} is not a package folder "
                            f"(entry point group {CARDS_GROUP})")
        roots.append(Path(next(iter(spec.submodule_search_locations))))
    return roots


def card_dirs(kind: str) -> list[Path]:
    """Folders searched for cards of ``kind`` ('tasks' or 'models'): built-ins, then those of
    installed plug-ins, then $INFMLLM_EVAL_CARD_PATH."""
    roots = [builtin_card_root(), *plugin_card_roots()]
    extra = os.environ.get(CARD_PATH_ENV, "")
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    return [r / kind for r in roots if (r / kind).is_dir()]


@cache
def _all_cards(kind: str, dirs: tuple[Path, ...]) -> dict[str, Any]:
    loader = load_task_card if kind == "tasks" else load_model_card
    cards: dict[str, Any] = {}
    group_of: dict[str, str] = {}  # group name -> the first card that declares it
    for folder in dirs:
        for path in sorted(folder.glob("*.yaml")):
            card = loader(path)
            if card.name in cards:
                raise CardError(f"{path}: {kind[:-1]} {shown(card.name)} is also defined in "
                                f"{cards[card.name].path}")
            if card.name in group_of:
                raise CardError(f"{path}: task {shown(card.name)} has the name of the group "
                                f"declared by {group_of[card.name]}; rename the task")
            cards[card.name] = card
            for group in getattr(card, "groups", ()):
                if group in cards:
                    raise CardError(f"{path}: group {shown(group)} has the name of the task "
                                    f"defined in {cards[group].path}; rename the group")
                group_of.setdefault(group, str(path))
    _check_group_means(cards)
    return cards


def _check_group_means(cards: dict[str, Any]) -> None:
    """The tasks of a group declare one group_mean, or none of them does."""
    means: dict[str, tuple[str, str]] = {}
    for card in cards.values():
        for group in getattr(card, "groups", ()):
            first = means.setdefault(group, (card.group_mean, card.path))
            if first[0] != card.group_mean:
                raise CardError(f"{card.path}: field 'group_mean': {shown(card.group_mean)} "
                                f"differs from {shown(first[0])} in {first[1]} (same group "
                                f"{shown(group)})")


def task_cards() -> dict[str, TaskCard]:
    """All task cards by name (validated; cached per set of folders)."""
    return dict(_all_cards("tasks", tuple(card_dirs("tasks"))))


def model_cards() -> dict[str, ModelCard]:
    """All model cards by name."""
    return dict(_all_cards("models", tuple(card_dirs("models"))))
