"""ScienceQA: the official ``problems.json`` (pid -> {question, choices, answer (index),
hint, image (a file name or null), subject, topic, grade, split, ...}) and ``pid_splits.json``
(split -> pids); images at ``images/<split>/<pid>/<image>``.

Loader arguments: ``split`` (default test) and ``with_image`` (default true: only the
problems that have an image, the IMG subset MLLM papers report; 2,017 of test's 4,241).
Each sample carries the facets of ScienceQA's ``tools/evaluate_acc.py``: subject (natural,
social, language), context (has_text = a non-empty hint, has_image, no_context) and grade
band (grade_1_6, grade_7_12); a subject or grade outside those is refused (it would fall
out of the breakdown). The prompt's hint is LLaVA-1.5's (its CQM-A prompts, also lmms-eval's
``sqa_doc_to_text``): ``Context: <hint>`` when the hint is non-empty, else nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infmllm_eval.data.common import check_unique, field, image_paths
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar

LETTERS = "ABCDE"  # LLaVA's eval_science_qa.py knows five option letters
SUBJECTS = {"natural science": "natural", "social science": "social",
            "language science": "language"}
GRADES_1_6 = frozenset(f"grade{n}" for n in range(1, 7))
GRADES_7_12 = frozenset(f"grade{n}" for n in range(7, 13))
CONTEXT = "Context: "  # how LLaVA-1.5's ScienceQA prompt introduces a non-empty hint


def facets(problem: dict[str, Any]) -> tuple[str, ...]:
    """The evaluate_acc.py subsets of a validated problem (a falsy hint/image is no
    context)."""
    out = [SUBJECTS[problem["subject"]]]
    if problem.get("hint"):
        out.append("has_text")
    if problem.get("image"):
        out.append("has_image")
    if not problem.get("hint") and not problem.get("image"):
        out.append("no_context")
    out.append("grade_1_6" if problem["grade"] in GRADES_1_6 else "grade_7_12")
    return tuple(out)


def _split_pids(path: Path, split: str) -> list[str]:
    splits = read_json(path, "ScienceQA pid_splits file")
    if not isinstance(splits, dict):
        raise BadInputError(f"{path}: expected an object of split -> list of problem ids")
    if split not in splits:
        raise BadInputError(f"{path}: no split {shown(split)} (splits: "
                            f"{shown(', '.join(map(str, splits)), 120)})")
    pids = splits[split]
    if not isinstance(pids, list) or not all(isinstance(p, str | int) for p in pids):
        raise BadInputError(f"{path}: split {shown(split)} must be a list of problem ids")
    check_unique([str(p) for p in pids], path, f"problem id of split {shown(split)}")
    return [str(p) for p in pids]


def _sample(pid: str, problem: Any, where: str, image_of: Any, split: str) -> Sample:
    question = field(problem, "question", str, where)
    choices = field(problem, "choices", list, where)
    if not 2 <= len(choices) <= len(LETTERS) or not all(isinstance(c, str) for c in choices):
        raise BadInputError(f"{where}: field 'choices' must be 2 to {len(LETTERS)} strings, "
                            f"got {shown(choices, 80)}")
    answer = field(problem, "answer", int, where)
    if not 0 <= answer < len(choices):
        raise BadInputError(f"{where}: answer index {answer} is not one of the "
                            f"{len(choices)} choices")
    hint = problem.get("hint") or ""
    image = problem.get("image")
    if not isinstance(hint, str) or not (image is None or isinstance(image, str)):
        raise BadInputError(f"{where}: field 'hint' must be a string and 'image' a file "
                            "name or null")
    subject, grade = field(problem, "subject", str, where), field(problem, "grade", str, where)
    if subject not in SUBJECTS:
        raise BadInputError(f"{where}: subject {shown(subject)} is not one of ScienceQA's "
                            f"({', '.join(SUBJECTS)})")
    if grade not in GRADES_1_6 | GRADES_7_12:
        raise BadInputError(f"{where}: grade {shown(grade)} is not one of ScienceQA's "
                            "(grade1 ... grade12)")
    category, topic = problem.get("category") or "", problem.get("topic") or ""
    if not isinstance(category, str) or not isinstance(topic, str):
        raise BadInputError(f"{where}: fields 'category' and 'topic' must be strings")
    options = [(LETTERS[i], text) for i, text in enumerate(choices)]
    # ScienceQA's category (e.g. "Velocity") is the finer level, its topic ("physics") the
    # coarser, as the multiple-choice family's category / l2-category
    meta = {"subject": subject, "grade": grade, "category": category, "l2-category": topic,
            "facets": facets(problem)}
    return Sample(pid, image_of(split=split, pid=pid, image=image) if image else None,
                  {"question": question, "hint": f"{CONTEXT}{hint}" if hint else "",
                   "options": options},
                  LETTERS[answer], meta)


def load_scienceqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One sample per problem of the split (those with an image unless with_image=false),
    in pid_splits order."""
    split = str(args.get("split", "test"))
    with_image = args.get("with_image", True)
    if not isinstance(with_image, bool):
        raise BadInputError(f"loader_args.with_image {shown(with_image)}: expected true or "
                            "false")
    path = files["problems"]
    problems = read_json(path, "ScienceQA problems file")
    if not isinstance(problems, dict):
        raise BadInputError(f"{path}: expected an object of problem id -> problem")
    image_of = image_paths(files.get("images"), "{split}/{pid}/{image}", path)
    samples = []
    for pid in _split_pids(files["pid_splits"], split):
        if pid not in problems:
            raise BadInputError(f"{files['pid_splits']}: problem {shown(pid)} of split "
                                f"{shown(split)} is not in {path}")
        problem, where = problems[pid], f"{path}: problem {shown(pid)}"
        if not isinstance(problem, dict):
            raise BadInputError(f"{where}: expected an object, got {type(problem).__name__}")
        if with_image and not problem.get("image"):
            continue
        samples.append(_sample(pid, problem, where, image_of, split))
    if not samples:
        raise BadInputError(f"{path}: split {shown(split)} holds no problems"
                            + (" with an image" if with_image else ""))
    return samples
