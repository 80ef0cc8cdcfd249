"""RefCOCO / RefCOCO+ / RefCOCOg in the refer toolkit's files: ``refs(unc).p`` or
``refs(umd).p`` (a Python-2 pickle: a list of refs, each with its sentences) and
``instances.json`` (COCO style: images with sizes, annotations with bbox [x, y, w, h]).

One sample per referring expression (id = sent_id). The prompt gets ``sent["sent"]`` (the
lower-cased, tokenised text), which is what the original InfMLLM evaluation feeds the model;
``sent["raw"]`` is kept in meta. The refs pickle is read through the restricted unpickler.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec

from infmllm_eval.data.common import check_unique, field, image_paths
from infmllm_eval.data.safe_pickle import load_plain_pickle
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.metrics.boxes import xywh_to_xyxy
from infmllm_eval.types import Sample, Scalar

# the splits each partition of the refer toolkit defines
SPLITS_BY = {"unc": ("train", "val", "testA", "testB"), "umd": ("train", "val", "test"),
             "google": ("train", "val")}


class _Image(msgspec.Struct, gc=False):
    id: int
    file_name: str
    width: int
    height: int


class _Annotation(msgspec.Struct, gc=False):
    id: int
    image_id: int
    bbox: tuple[float, float, float, float]


class _Instances(msgspec.Struct, gc=False):
    images: list[_Image]
    annotations: list[_Annotation]


def _split_arg(args: dict[str, Scalar]) -> tuple[str, str]:
    """(split, split_by) from the card's loader_args, checked against each other."""
    split, split_by = str(args.get("split", "")), str(args.get("split_by", ""))
    if split_by not in SPLITS_BY:
        raise BadInputError(f"refer loader: loader_args.split_by {shown(split_by)} is not one of "
                            f"{', '.join(SPLITS_BY)}")
    if split not in SPLITS_BY[split_by]:
        raise BadInputError(f"refer loader: loader_args.split {shown(split)} is not a split of the "
                            f"{split_by} partition ({', '.join(SPLITS_BY[split_by])})")
    return split, split_by


def _instances(path: Path) -> tuple[dict[int, _Image], dict[int, _Annotation]]:
    doc = read_json(path, "COCO instances file", _Instances)
    # one id twice: a dict keeps the last copy, whose size or box then scores the samples
    check_unique([im.id for im in doc.images], path, "image id")
    check_unique([a.id for a in doc.annotations], path, "annotation id")
    return {im.id: im for im in doc.images}, {a.id: a for a in doc.annotations}


def _refs(path: Path, split: str) -> list[dict[str, Any]]:
    """The refs of ``split``; an error lists the splits the file has when none match."""
    refs = load_plain_pickle(path, "refs pickle")
    if not isinstance(refs, list):
        raise BadInputError(f"{path}: expected a list of refs, got {type(refs).__name__}")
    chosen, seen = [], set()
    for i, ref in enumerate(refs):
        name = field(ref, "split", str, f"{path}: ref #{i}")
        seen.add(name)
        if name == split:
            chosen.append(ref)
    if not chosen:
        raise BadInputError(f"{path}: no refs in split {shown(split)} (the file has: "
                            f"{', '.join(sorted(seen)) or 'none'}); wrong refs file?")
    return chosen


def _ref_samples(ref: dict[str, Any], where: str, image: _Image, ann: _Annotation,
                 image_file: str | None, split: str) -> list[Sample]:
    box = list(xywh_to_xyxy(*ann.bbox))
    meta_base = {"width": image.width, "height": image.height, "image_id": image.id,
                 "ref_id": ref["ref_id"], "ann_id": ann.id, "split": split}
    out = []
    for k, sent in enumerate(field(ref, "sentences", list, where)):
        at = f"{where}, sentence #{k}"
        sample = Sample(
            id=field(sent, "sent_id", int, at), image=image_file,
            fields={"expression": field(sent, "sent", str, at)}, targets=box,
            meta={**meta_base, "raw": sent.get("raw", "")},
        )
        if not isinstance(sample.meta["raw"], str):  # kept in meta: written out later
            field(sent, "raw", str, at)
        out.append(sample)
    return out


def _check_instance(path: Path, image: _Image, ann: _Annotation) -> None:
    """A referred object needs a real image size and a box of positive size inside the
    plane (finite, x and y not negative): anything else scores silently wrong."""
    where = f"{path}: annotation {ann.id} (image {image.id})"
    if image.width <= 0 or image.height <= 0:
        raise BadInputError(f"{where}: image size {image.width}x{image.height}; width and "
                            "height must be positive; fix the instances file")
    x, y, w, h = ann.bbox
    if not all(math.isfinite(v) for v in ann.bbox) or x < 0 or y < 0 or w <= 0 or h <= 0:
        raise BadInputError(f"{where}: bbox {shown(list(ann.bbox))} is not a box [x, y, "
                            "width, height] with x, y >= 0 and a positive width and height; "
                            "fix the instances file")


def load_refer(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """Samples of the card's split; targets = the referred object's box [x1, y1, x2, y2]."""
    split, _ = _split_arg(args)
    refs_path, inst_path = files["refs"], files["instances"]
    refs = _refs(refs_path, split)
    images, anns = _instances(inst_path)
    image_of = image_paths(files.get("images"), "{file_name}", inst_path)
    samples: list[Sample] = []
    seen: set[Any] = set()
    for ref in refs:
        where = f"{refs_path}: ref_id {shown(ref.get('ref_id'))}"
        field(ref, "ref_id", int, where)
        ann_id, image_id = field(ref, "ann_id", int, where), field(ref, "image_id", int, where)
        ann, image = anns.get(ann_id), images.get(image_id)
        if ann is None:
            raise BadInputError(f"{where}: annotation {shown(ann_id)} is not in {inst_path}")
        if image is None or ann.image_id != image_id:
            raise BadInputError(f"{where}: image {shown(image_id)} is not in {inst_path} or is "
                                f"not the image of annotation {shown(ann_id)}; mismatched files?")
        _check_instance(inst_path, image, ann)
        new = _ref_samples(ref, where, image, ann, image_of(file_name=image.file_name), split)
        ids = [s.id for s in new]
        if seen.intersection(ids) or len(set(ids)) != len(ids):  # checked ref by ref: refs
            check_unique([s.id for s in samples] + ids, refs_path, "sent_id")  # sharing one
        seen.update(ids)  # list of sentences (a crafted pickle) stop at the second ref
        samples += new
    return samples
