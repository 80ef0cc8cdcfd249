"""NoCaps: ``nocaps_val_4500_captions.json`` (COCO style; each image carries its ``domain``)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from infmllm_eval.data.common import check_unique, image_paths
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar


class _Image(msgspec.Struct, gc=False):
    id: int
    file_name: str
    domain: str


class _Annotation(msgspec.Struct, gc=False):
    image_id: int
    caption: str


class _CaptionFile(msgspec.Struct, gc=False):
    images: list[_Image]
    annotations: list[_Annotation]


def load_nocaps(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per image: id = image id, targets = its reference captions (10 in val),
    meta domain = in-domain / near-domain / out-domain."""
    path = files["annotations"]
    doc = read_json(path, "NoCaps captions file", _CaptionFile)
    check_unique([img.id for img in doc.images], path, "image id")
    refs: dict[int, list[str]] = {img.id: [] for img in doc.images}
    for index, ann in enumerate(doc.annotations):
        captions = refs.get(ann.image_id)
        if captions is None:
            raise BadInputError(f"{path}: annotations[{index}]: image_id {ann.image_id} is not "
                                "in 'images'")
        captions.append(ann.caption)
    image_of = image_paths(files.get("images"), "{file_name}", path)
    samples = []
    for img in doc.images:
        if not refs[img.id] or not img.domain:
            name = shown(img.file_name)[1:-1]
            raise BadInputError(f"{path}: image {img.id} ({name}) has "
                                f"{'no captions' if not refs[img.id] else 'an empty domain'}")
        samples.append(Sample(img.id, image_of(file_name=img.file_name), {},
                              refs[img.id], {"domain": img.domain}))
    return samples
