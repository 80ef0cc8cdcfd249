"""Karpathy splits of COCO and Flickr30k: ``dataset_coco.json`` / ``dataset_flickr30k.json``.

Both files hold ``images[{filepath?, filename, cocoid?, imgid, split, sentences[{raw}]}]``;
a task keeps the images of one ``split`` with their raw reference sentences.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from infmllm_eval.data.common import check_unique, image_paths
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.types import Sample, Scalar

ID_FIELDS = ("cocoid", "filename", "imgid")


class _Sentence(msgspec.Struct, gc=False):
    raw: str


class _Image(msgspec.Struct, gc=False):
    filename: str
    split: str
    sentences: list[_Sentence]
    filepath: str = ""
    cocoid: int | None = None
    imgid: int | None = None


class _Dataset(msgspec.Struct, gc=False):
    images: list[_Image]


def _arg(args: dict[str, Scalar], name: str, default: str, choices: tuple[str, ...] = ()) -> str:
    value = str(args.get(name, default))
    if choices and value not in choices:
        raise BadInputError(f"coco_karpathy loader: loader_args.{name}={shown(value)} is not "
                            f"one of {', '.join(choices)}")
    return value


def load_karpathy(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per image of ``split``: id from ``id_field`` (COCO: cocoid, Flickr30k:
    filename), targets = the raw reference sentences, image = images/``image_pattern``."""
    path = files["annotations"]
    split = _arg(args, "split", "test")
    id_field = _arg(args, "id_field", "cocoid", ID_FIELDS)
    pattern = _arg(args, "image_pattern", "{filename}")
    image_of = image_paths(files.get("images"), pattern, path)
    images = read_json(path, "Karpathy captions file", _Dataset).images
    samples: list[Sample] = []
    for index, rec in enumerate(images):
        if rec.split != split:
            continue
        sample_id = getattr(rec, id_field)
        if sample_id is None or not rec.sentences:
            where = f"{path}: images[{index}] ({shown(rec.filename)[1:-1]})"
            if sample_id is None:
                raise BadInputError(f"{where}: missing field '{id_field}' "
                                    "(loader_args.id_field)")
            raise BadInputError(f"{where}: no reference sentences")
        image = image_of(filepath=rec.filepath, filename=rec.filename, id=sample_id)
        samples.append(Sample(sample_id, image, {}, [s.raw for s in rec.sentences],
                              {"filename": rec.filename}))
    if not samples:
        found = sorted({rec.split for rec in images})
        raise BadInputError(f"{path}: no image has split {shown(split)} (splits in the file: "
                            f"{', '.join(found) or 'none'})")
    check_unique([s.id for s in samples], path, id_field)
    return samples
