"""MME: the official release folder, or an official result folder.

The release folder (``MME_Benchmark``) has one folder per subtask, in one of two layouts:
FLAT (``<stem>.jpg|png`` and ``<stem>.txt`` side by side) or SPLIT (``images/<stem>.*`` and
``questions_answers_YN/<stem>.txt``). Each txt holds the image's two ``question<TAB>Yes|No``
lines. A result folder holds ``<subtask>.txt`` files of ``image<TAB>question<TAB>answer
[<TAB>response]`` lines; as they carry the questions and ground truth, samples can be built
from them alone (images are then unknown).

Sample ids are ``<subtask>/<image stem>#<k>``, k = 0/1 the line of the image's question file
(for a result folder: the order of the image's lines in it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from infmllm_eval.data.common import check_unique
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import InputPolicy, read_bytes
from infmllm_eval.metrics.mme import CATEGORY, SUBTASKS
from infmllm_eval.types import Sample, Scalar

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLIT_QUESTIONS, SPLIT_IMAGES = "questions_answers_YN", "images"


class ResultLine(NamedTuple):
    """One line of an official result file."""

    subtask: str
    image: str  # the image file name, e.g. 0001.jpg
    k: int  # the order of this line among the image's lines
    question: str
    answer: str  # "Yes" or "No"
    response: str | None  # None in a 3-column (template) file

    @property
    def key(self) -> str:
        """The sample id this line answers."""
        return sample_id(self.subtask, Path(self.image).stem, self.k)


def sample_id(subtask: str, stem: str, k: int) -> str:
    """The native MME id of the k-th question about an image."""
    return f"{subtask}/{stem}#{k}"


#: a FIFO, a device or a folder is refused where a text file is expected (a FIFO would block
#: the read, a skipped one would drop a subtask from the score without a word)
_MME_TEXT = InputPolicy(pipes=False, not_regular="{label}: not a regular file (it is {kind}); "
                                                 "an MME text file is expected here")


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines, line ends removed."""
    try:
        text = read_bytes(path, "MME text file", _MME_TEXT).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    # line ends as the official tool's text-mode open() reads them: \n, \r\n or a lone \r
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _yes_no(value: str, where: str) -> str:
    answer = value.strip().capitalize()
    if answer not in ("Yes", "No"):
        raise BadInputError(
            f"{where}: the answer must be Yes or No, got {shown(value.strip(), 40)}")
    return answer


def is_result_folder(root: Path) -> bool:
    """True when ``root`` holds ``<subtask>.txt`` entries rather than subtask folders (what
    is not a regular file among them is refused when read)."""
    return any(os.path.lexists(root / f"{name}.txt") for name in SUBTASKS)


def read_result_folder(root: Path, need_response: bool) -> list[ResultLine]:
    """Every line of the ``<subtask>.txt`` files present in ``root`` (official order)."""
    if not root.is_dir():
        raise BadInputError(f"MME result folder not found: {root}")
    if not is_result_folder(root):
        raise BadInputError(f"{root}: no MME result file (<subtask>.txt, e.g. existence.txt)")
    lines: list[ResultLine] = []
    for subtask in SUBTASKS:
        path = root / f"{subtask}.txt"
        if not os.path.lexists(path):
            continue
        seen: dict[str, int] = {}
        last_line: dict[str, int] = {}
        previous = None
        for number, text in _text_lines(path):
            where = f"{path}: line {number}"
            parts = text.split("\t", 3)
            if len(parts) < (4 if need_response else 3):
                raise BadInputError(f"{where}: expected image<TAB>question<TAB>answer"
                                    f"{'<TAB>response' if need_response else ''} columns")
            if need_response and "\t" in parts[3]:  # calculation.py unpacks exactly four
                raise BadInputError(f"{where}: more than four tab-separated columns; the "
                                    "official eval_tool cannot read this line either: write the "
                                    "response without tabs")
            image = parts[0].strip()
            stem = Path(image).stem
            if stem in last_line and previous != stem:  # the official tool pairs by position
                raise BadInputError(
                    f"{where}: image {shown(image)} is also on line {last_line[stem]}, not "
                    "next to it; the official eval_tool takes every two consecutive lines as "
                    "the questions of one image: keep an image's lines together")
            previous, last_line[stem] = stem, number
            k = seen[stem] = seen.get(stem, -1) + 1
            lines.append(ResultLine(subtask, image, k, parts[1].strip(),
                                    _yes_no(parts[2], where),
                                    parts[3] if len(parts) == 4 else None))
    return lines


def _sample(subtask: str, stem: str, k: int, image: str | None, image_name: str,
            question: str, answer: str) -> Sample:
    meta = {"subtask": subtask, "image": stem, "image_file": image_name,
            "category": CATEGORY[subtask]}
    return Sample(sample_id(subtask, stem, k), image, {"question": question}, answer, meta)


def _from_results(root: Path) -> list[Sample]:
    lines = read_result_folder(root, need_response=False)
    counts: dict[tuple[str, str], int] = {}
    for line in lines:
        image = (line.subtask, Path(line.image).stem)
        counts[image] = counts.get(image, 0) + 1
    for (subtask, stem), count in counts.items():
        if count != 2:
            raise BadInputError(f"{root / (subtask + '.txt')}: image {shown(stem)} has {count} "
                                "line(s); MME asks exactly two questions per image")
    return [_sample(r.subtask, Path(r.image).stem, r.k, None, r.image, r.question, r.answer)
            for r in lines]


def _images_by_stem(folder: Path) -> dict[str, Path]:
    """The image files of a subtask folder by stem; two images of one stem (``x.png`` and
    ``x.jpg``) are refused, as the question file ``x.txt`` could mean either."""
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        other = images.setdefault(path.stem, path)
        if other is not path:
            raise BadInputError(f"{folder}: two images of one stem, {other.name} and "
                                f"{path.name}: remove the one that {path.stem}.txt does not "
                                "ask about")
    return images


def _subtask_samples(root: Path, subtask: str) -> list[Sample]:
    folder = root / subtask
    if not folder.is_dir():
        raise BadInputError(f"{root}: subtask folder {shown(subtask)} not found (is this the "
                            "MME_Benchmark folder of the official release?)")
    split = (folder / SPLIT_QUESTIONS).is_dir()
    qa_dir = folder / SPLIT_QUESTIONS if split else folder
    image_dir = folder / SPLIT_IMAGES if split else folder
    images = _images_by_stem(image_dir) if image_dir.is_dir() else {}
    samples = []
    for txt in sorted(qa_dir.glob("*.txt")):
        lines = _text_lines(txt)
        if len(lines) != 2:
            raise BadInputError(f"{txt}: expected two question lines, found {len(lines)}")
        image = images.get(txt.stem)
        if image is None:
            raise BadInputError(f"{txt}: no image {txt.stem}.* in {image_dir}")
        for k, (number, text) in enumerate(lines):
            parts = text.split("\t")
            if len(parts) != 2:
                raise BadInputError(f"{txt}: line {number}: expected question<TAB>answer")
            answer = _yes_no(parts[1], f"{txt}: line {number}")
            samples.append(_sample(subtask, txt.stem, k, str(image), image.name,
                                   parts[0].strip(), answer))
    if not samples:
        raise BadInputError(f"{qa_dir}: no question files (<image>.txt)")
    return samples


def load_mme(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """All MME questions from the release folder (or from a result folder) at ``files['root']``."""
    root = files["root"]
    if not root.is_dir():
        raise BadInputError(f"MME folder not found: {root}")
    if is_result_folder(root):
        samples = _from_results(root)
    else:
        names = [n.strip() for n in str(args.get("subtasks", ",".join(SUBTASKS))).split(",")
                 if n.strip()]
        unknown = [n for n in names if n not in SUBTASKS]
        if unknown or not names:
            raise BadInputError(f"mme loader: loader_args.subtasks: unknown {', '.join(unknown)}"
                                f"; known: {', '.join(SUBTASKS)}")
        samples = [s for subtask in names for s in _subtask_samples(root, subtask)]
    check_unique([s.id for s in samples], root, "MME question id")
    return samples
