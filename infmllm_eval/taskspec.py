"""A task card resolved against a data root, file overrides and user options."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from infmllm_eval.cards import ModelCard, TaskCard, generation_with, task_cards
from infmllm_eval.catalog import resolve_tasks
from infmllm_eval.data import get_loader
from infmllm_eval.data.common import check_unique
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.families import get_family
from infmllm_eval.families.base import Family, resolve_options
from infmllm_eval.registry import PluginError, did_you_mean
from infmllm_eval.toy import BUNDLED_TASKS as TOY_TASKS
from infmllm_eval.toy import DATA_ROOT as TOY_DATA_ROOT
from infmllm_eval.types import GenerationConfig, Sample

DATA_ROOT_ENV = "INFMLLM_EVAL_DATA"
DEMO_TASKS = ("vqav2_val", "okvqa_val", "textvqa_val", "gqa_testdev_balanced")
# data shipped with the package, and the tasks it serves when the data root does not hold
# their files: the toy benchmarks. The demo's mini sets (24 drawn questions in the layouts of
# VQAv2, OK-VQA, TextVQA, GQA) serve `demo --replay` only, which names their folder: a real
# benchmark card never scores them because a --data-root was mistyped
BUNDLED_ROOTS = {"toy": TOY_DATA_ROOT}


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to load and score one task."""

    card: TaskCard
    family: Family
    files: dict[str, Path]
    options: dict[str, str]
    generation: GenerationConfig
    bundled: str = ""  # "toy" when the files are the package's own, not the data root's

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def data_source(self) -> str:
        """Where the task's files come from, for `list tasks`, `data check` and a run."""
        if not self.bundled:
            return "data root"
        return f"bundled: {self.bundled} data ({BUNDLED_ROOTS[self.bundled]})"


def default_data_root() -> Path:
    """$INFMLLM_EVAL_DATA, else ./data."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def parse_pairs(items: Iterable[str], flag: str) -> dict[str, str]:
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'} (a key given again overrides, as later options
    do); a malformed item, or an empty --file path (it would mean the current folder), is a
    one-line error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"{flag} {shown(item)}: expected KEY=VALUE")
        key = key.strip()
        if flag == "--file" and not value.strip():
            raise BadInputError(f"--file {shown(item)}: empty path; give KEY=PATH")
        out[key] = value
    return out


def split_file_overrides(
    cards: list[TaskCard], overrides: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Route ``KEY=PATH`` (every task with that key) and ``TASK.KEY=PATH`` to their tasks."""
    by_task: dict[str, dict[str, str]] = {c.name: {} for c in cards}
    for key, path in overrides.items():
        task, dot, file_key = key.rpartition(".")
        targets = [c for c in cards if c.name == task] if dot else cards
        if dot and not targets:
            raise BadInputError(f"--file {key}: task {shown(task)} is not selected")
        hits = [c for c in targets if file_key in c.files]
        if not hits:
            keys = sorted({k for c in targets for k in c.files})
            raise BadInputError(
                f"--file {key}: no selected task has a file {shown(file_key)}."
                f"{did_you_mean(file_key, keys)} Keys: {', '.join(keys)}"
            )
        for card in hits:
            by_task[card.name][file_key] = path
    return by_task


def build_task(
    card: TaskCard, data_root: Path, file_overrides: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None, model: ModelCard | None = None,
    generation: Mapping[str, str] | None = None,
) -> TaskSpec:
    """Resolve files (data root + card path, or the user's override), scoring options and
    decoding settings (task card, then the model card's ``generation``, then ``generation``)."""
    overrides = dict(file_overrides or {})
    for key in overrides:
        if key not in card.files:
            raise BadInputError(
                f"--file {key}: task {card.name} has no file {shown(key)}."
                f"{did_you_mean(key, sorted(card.files))} Keys: {', '.join(sorted(card.files))}"
            )
    bundled = "" if overrides else bundled_source(card, data_root)
    root = BUNDLED_ROOTS[bundled] if bundled else data_root
    files = {key: Path(overrides[key]) if key in overrides else root / rel
             for key, rel in card.files.items()}
    from infmllm_eval.outputs import usable_paths

    usable_paths(("--data-root", data_root),
                 *((f"--file {key}" if key in overrides else f"the {key} file of {card.name}",
                    path) for key, path in files.items()))
    family = get_family(card.family)
    user = dict(options or {})
    if model is not None:
        specs = {o.name for o in family.options}
        user = {k: v for k, v in user.items() if k in specs}  # run: options span several tasks
    resolved = resolve_options(family, card.options, user, card.path,
                               model.task_options if model else None,
                               model.path if model else "")
    problem = family.unproduced(card.primary_metric, resolved)  # before any generation
    if problem:
        given = ", ".join(f"{k}={v}" for k, v in user.items() if k in resolved) or "these options"
        raise BadInputError(f"task {card.name}: its primary metric {card.primary_metric!r} is "
                            f"not produced with {given}.{problem}; use a task card whose "
                            "primary_metric is one of them")
    gen = card.generation
    if model is not None:
        gen = generation_with(gen, model.generation, model.path)
    gen = generation_with(gen, dict(generation or {}), "--generation")
    return TaskSpec(card, family, files, resolved, gen, bundled)


def bundled_source(card: TaskCard, data_root: Path) -> str:
    """``toy`` when ``card`` is a toy task whose files the data root holds none of and the
    package holds all of, else ''. A data root with some of the files is the user's (what is
    missing there is reported, never filled in from the package)."""
    # os.path.exists: False, never an error, for a path the OS refuses (usable_paths reports it)
    if (card.name not in TOY_TASKS or not card.files
            or any(os.path.exists(data_root / rel) for rel in card.files.values())
            or not all(os.path.exists(TOY_DATA_ROOT / rel) for rel in card.files.values())):
        return ""
    return "toy"


def missing_files(spec: TaskSpec) -> dict[str, Path]:
    """The task's files (or image folders) that do not exist."""
    return {key: path for key, path in spec.files.items() if not path.exists()}


def load_samples(spec: TaskSpec, limit: int | None = None, images: bool = True) -> list[Sample]:
    """Load the task's samples (the first ``limit`` when given); ``images=False`` leaves the
    image paths out (scoring does not need them)."""
    absent = missing_files(spec)
    needed = {k: p for k, p in absent.items() if k != "images"}
    if needed:
        key, path = next(iter(needed.items()))
        raise BadInputError(
            f"task {spec.name}: file '{key}' not found at {path} "
            f"(set --data-root, or --file {key}=PATH)"
        )
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise BadInputError(f"limit {shown(limit)}: expected a positive number of samples")
    files = {k: p for k, p in spec.files.items() if images or k != "images"}
    samples = get_loader(spec.card.loader)(files, spec.card.loader_args)
    _check_loaded(spec, samples)
    return samples[:limit] if limit is not None else samples


def _check_loaded(spec: TaskSpec, samples: object) -> None:
    """A loader (a plug-in's too) must return a list of Samples with distinct ids: a sample
    given twice would be scored twice."""
    where = f"loader {spec.card.loader!r} (task {spec.name})"
    if not isinstance(samples, list):
        raise PluginError(f"{where} returned {type(samples).__name__}, not a list of Samples")
    if not all(type(s) is Sample for s in samples):
        bad = next(s for s in samples if type(s) is not Sample)
        raise PluginError(f"{where} returned a {type(bad).__name__} among its samples, not a "
                          "Sample")
    try:
        keys = list(map(str, map(itemgetter(0), samples)))
    except ValueError:  # an integer id past str()'s limit: refused by scoring.check_samples
        return
    check_unique(keys, where, "sample id")  # compared as strings: 1 and '1' are one id


def build_specs(tasks: Sequence[str], data_root: Path, files: Sequence[str],
                options: Sequence[str], model: ModelCard | None = None,
                generation: Sequence[str] = ()) -> list[TaskSpec]:
    """Task specs for several tasks: with a model, ``--option`` applies to the tasks whose
    family has that option, and an option no selected task has is an error."""
    cards = resolve_tasks(list(tasks)) if tasks else list(task_cards().values())
    overrides = split_file_overrides(cards, parse_pairs(files, "--file"))
    user_options = parse_pairs(options, "--option")
    gen = parse_pairs(generation, "--generation")
    specs = [build_task(c, data_root, overrides[c.name], user_options, model, gen)
             for c in cards]
    known = {o.name for s in specs for o in s.family.options}
    for name in user_options:
        if name not in known:
            raise BadInputError(f"--option {name}: no selected task has this option."
                                f"{did_you_mean(name, sorted(known))}")
    return specs
