"""Caption loaders (Karpathy COCO/Flickr30k, NoCaps) and the four caption task cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.cards import task_cards
from infmllm_eval.catalog import resolve_tasks
from infmllm_eval.data.coco_karpathy import load_karpathy
from infmllm_eval.data.nocaps import load_nocaps
from infmllm_eval.errors import BadInputError
from infmllm_eval.types import Scalar

CAPTION_TASKS = {"coco_karpathy_test": 5000, "coco_karpathy_val": 5000,
                 "flickr30k_karpathy_test": 1000, "nocaps_val": 4500}
COCO_ARGS: dict[str, Scalar] = {"split": "test", "id_field": "cocoid",
                                "image_pattern": "{filepath}/{filename}"}
FLICKR_ARGS: dict[str, Scalar] = {"split": "test", "id_field": "filename",
                                  "image_pattern": "{filename}"}


def coco_image(i: int, split: str, refs: list[str] | None = None) -> dict[str, Any]:
    refs = refs if refs is not None else [f"A photo number {i}, caption {n}." for n in range(5)]
    return {"filepath": "val2014", "filename": f"COCO_val2014_{i:012d}.jpg", "cocoid": i,
            "imgid": i, "split": split, "sentids": [], "sentences":
            [{"raw": r, "tokens": r.lower().split(), "imgid": i, "sentid": 0} for r in refs]}


def flickr_image(i: int, split: str) -> dict[str, Any]:
    image = coco_image(i, split)
    del image["filepath"], image["cocoid"]
    image["filename"] = f"{1000 + i}.jpg"
    return image


def write_karpathy(path: Path, images: list[dict[str, Any]], dataset: str = "coco") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "dataset": dataset}))
    return path


DOMAINS = ("in-domain", "near-domain", "out-domain")


def nocaps_doc(n_images: int, n_refs: int = 10) -> dict[str, Any]:
    images = [{"id": i, "file_name": f"{i:016x}.jpg", "domain": DOMAINS[i % 3],
               "open_images_id": f"{i:016x}", "height": 480, "width": 640}
              for i in range(n_images)]
    anns = [{"image_id": i, "id": i * n_refs + n, "caption": f"An object {i} seen {n} times."}
            for i in range(n_images) for n in range(n_refs)]
    return {"licenses": [], "info": {}, "images": images, "annotations": anns}


def write_nocaps(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_coco_karpathy_split_ids_images_and_raw_references(tmp_path: Path) -> None:
    path = write_karpathy(tmp_path / "dataset_coco.json",
                          [coco_image(1, "test"), coco_image(2, "val"), coco_image(3, "restval"),
                           coco_image(4, "test", ["Two dogs.\n", "  A cat (grey)  "])])
    samples = load_karpathy({"annotations": path, "images": tmp_path / "coco"}, COCO_ARGS)
    assert [s.id for s in samples] == [1, 4]
    assert samples[0].image == str(tmp_path / "coco" / "val2014" / "COCO_val2014_000000000001.jpg")
    assert samples[1].targets == ["Two dogs.\n", "  A cat (grey)  "]  # raw: PTB comes later
    assert samples[0].fields == {} and samples[0].meta == {"filename": samples[0].image[-29:]}
    val = load_karpathy({"annotations": path}, {**COCO_ARGS, "split": "val"})
    assert [s.id for s in val] == [2] and val[0].image is None


def test_flickr30k_ids_are_file_names(tmp_path: Path) -> None:
    path = write_karpathy(tmp_path / "dataset_flickr30k.json",
                          [flickr_image(0, "train"), flickr_image(1, "test")], "flickr30k")
    samples = load_karpathy({"annotations": path, "images": tmp_path / "imgs"}, FLICKR_ARGS)
    assert [s.id for s in samples] == ["1001.jpg"]
    assert samples[0].image == str(tmp_path / "imgs" / "1001.jpg")
    assert len(samples[0].targets) == 5


@pytest.mark.parametrize(("images", "args", "message"), [
    ([coco_image(1, "train")], COCO_ARGS,
     r"no image has split 'test' \(splits in the file: train\)"),
    ([flickr_image(1, "test")], COCO_ARGS, r"images\[0\] \(1001.jpg\): missing field 'cocoid'"),
    ([coco_image(1, "test", [])], COCO_ARGS, "no reference sentences"),
    ([coco_image(1, "test"), coco_image(1, "test")], COCO_ARGS, "duplicate cocoid 1"),
    ([{**coco_image(1, "test"), "cocoid": "one"}], COCO_ARGS, r"\$.images\[0\].cocoid"),
    ([{**coco_image(1, "test"), "sentences": [{"tokens": []}]}], COCO_ARGS,
     r"missing required field `raw` - at `\$.images\[0\].sentences\[0\]`"),
    ([coco_image(1, "test")], {**COCO_ARGS, "id_field": "sentid"},
     r"loader_args.id_field='sentid' is not one of cocoid, filename, imgid"),
    ([coco_image(1, "test")], {**COCO_ARGS, "image_pattern": "{path}"},
     r"loader_args.image_pattern '\{path\}'"),
])
def test_karpathy_bad_input(tmp_path: Path, images: list[dict[str, Any]],
                            args: dict[str, Scalar], message: str) -> None:
    path = write_karpathy(tmp_path / "dataset_coco.json", images)
    with pytest.raises(BadInputError, match=message) as info:
        load_karpathy({"annotations": path, "images": tmp_path}, args)
    assert "\n" not in str(info.value)


def test_karpathy_malformed_or_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "dataset_coco.json"
    bad.write_text('{"images": [}')
    with pytest.raises(BadInputError, match=r"dataset_coco.json: malformed JSON at line 1"):
        load_karpathy({"annotations": bad}, COCO_ARGS)
    with pytest.raises(BadInputError, match="Karpathy captions file not found"):
        load_karpathy({"annotations": tmp_path / "absent.json"}, COCO_ARGS)


def test_nocaps_references_and_domains(tmp_path: Path) -> None:
    path = write_nocaps(tmp_path / "nocaps_val_4500_captions.json", nocaps_doc(6))
    samples = load_nocaps({"annotations": path, "images": tmp_path / "validation"}, {})
    assert [s.id for s in samples] == list(range(6))
    assert [s.meta["domain"] for s in samples[:3]] == list(DOMAINS)
    assert samples[1].targets == [f"An object 1 seen {n} times." for n in range(10)]
    assert samples[1].image == str(tmp_path / "validation" / "0000000000000001.jpg")
    assert samples[1].fields == {}


def _nocaps_bad(kind: str) -> dict[str, Any]:
    doc = nocaps_doc(3, 2)
    if kind == "unknown image":
        doc["annotations"].append({"image_id": 99, "id": 100, "caption": "x"})
    elif kind == "no captions":
        doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != 2]
    elif kind == "duplicate":
        doc["images"].append(dict(doc["images"][0]))
    elif kind == "no domain":
        del doc["images"][1]["domain"]
    elif kind == "empty domain":
        doc["images"][1]["domain"] = ""
    return doc


@pytest.mark.parametrize(("kind", "message"), [
    ("unknown image", r"annotations\[6\]: image_id 99 is not in 'images'"),
    ("no captions", r"image 2 \(0000000000000002.jpg\) has no captions"),
    ("duplicate", "duplicate image id 0"),
    ("no domain", r"missing required field `domain` - at `\$.images\[1\]`"),
    ("empty domain", "has an empty domain"),
])
def test_nocaps_bad_input(tmp_path: Path, kind: str, message: str) -> None:
    path = write_nocaps(tmp_path / "nocaps.json", _nocaps_bad(kind))
    with pytest.raises(BadInputError, match=message) as info:
        load_nocaps({"annotations": path}, {})
    assert str(path) in str(info.value)


def test_caption_cards() -> None:
    cards = task_cards()
    for name, size in CAPTION_TASKS.items():
        card = cards[name]
        assert (card.family, card.primary_metric, card.size) == ("caption", "CIDEr", size)
        assert "captioning" in card.groups
        assert set(card.files) == {"annotations", "images"}
        gen = card.generation
        assert (gen.num_beams, gen.max_new_tokens, gen.min_new_tokens) == (5, 29, 7)
    assert cards["coco_karpathy_test"].files["annotations"] == "coco/dataset_coco.json"
    assert cards["coco_karpathy_val"].loader_args["split"] == "val"
    assert cards["flickr30k_karpathy_test"].loader_args["id_field"] == "filename"
    assert cards["nocaps_val"].files["images"] == "nocaps/validation"
    assert {c.name for c in resolve_tasks(["captioning"])} == set(CAPTION_TASKS)
    assert {c.name for c in resolve_tasks(["coco"])} == {"coco_karpathy_test",
                                                         "coco_karpathy_val"}
    assert [c.name for c in resolve_tasks(["flickr30k"])] == ["flickr30k_karpathy_test"]
    assert [c.name for c in resolve_tasks(["nocaps"])] == ["nocaps_val"]
