"""RefCOCO files: the refer loader, the cards, and `score` end to end on a fixture in the
official formats (a protocol-2 refs pickle written as Python 2 wrote it + instances.json)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.cards import task_cards
from infmllm_eval.catalog import resolve_tasks
from infmllm_eval.data.refer import load_refer
from infmllm_eval.errors import BadInputError
from tests.conftest import CliResult
from tests.test_grounding_pickle import SystemCall, py2_pickle

Cli = Callable[..., CliResult]

IMAGES = [
    {"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "width": 640, "height": 480,
     "license": 1},
    {"id": 2, "file_name": "COCO_train2014_000000000002.jpg", "width": 256, "height": 512},
]
ANNOTATIONS = [
    {"id": 10, "image_id": 1, "bbox": [100, 50, 200, 100], "category_id": 1, "area": 20000,
     "segmentation": [[100, 50, 300, 50, 300, 150]], "iscrowd": 0},
    {"id": 20, "image_id": 2, "bbox": [32, 128, 64, 256], "category_id": 1},
    {"id": 30, "image_id": 1, "bbox": [0.0, 0.0, 320.0, 240.0], "category_id": 3},
]


def ref(ref_id: int, ann_id: int, image_id: int, split: str,
        sents: list[tuple[int, str, str]]) -> dict[str, Any]:
    """One record as in refs(unc).p."""
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "split": split,
            "category_id": 1, "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg",
            "sent_ids": [s[0] for s in sents],
            "sentences": [{"sent_id": i, "sent": sent, "raw": raw, "tokens": sent.split()}
                          for i, sent, raw in sents]}


REFS = [
    ref(1, 10, 1, "testA", [(101, "man in red", "Man in red."), (102, "left guy", "left guy")]),
    ref(2, 20, 2, "testA", [(103, "woman on the right", "woman on the right")]),
    ref(3, 30, 1, "testB", [(201, "top left dog", "top-left dog"),
                            (202, "the cafe sign", "the café sign")]),
    ref(4, 10, 1, "val", [(301, "man in red", "man in red")]),
    ref(5, 20, 2, "train", [(401, "woman", "woman")]),
]


def write_refcoco(root: Path, refs: list[dict[str, Any]] | None = None,
                  instances: dict[str, Any] | None = None) -> Path:
    """<root>/refcoco/{refs(unc).p, instances.json} in the official formats."""
    folder = root / "refcoco"
    folder.mkdir(parents=True, exist_ok=True)
    py2_pickle(REFS if refs is None else refs, folder / "refs(unc).p")
    doc = instances or {"info": {}, "images": IMAGES, "annotations": ANNOTATIONS,
                        "categories": [{"id": 1, "name": "person"}]}
    (folder / "instances.json").write_text(json.dumps(doc))
    return root


def files(root: Path) -> dict[str, Path]:
    return {"refs": root / "refcoco" / "refs(unc).p",
            "instances": root / "refcoco" / "instances.json",
            "images": root / "coco" / "train2014"}


# --- the loader ---------------------------------------------------------------------------

def test_loader_gives_one_sample_per_expression(tmp_path: Path) -> None:
    root = write_refcoco(tmp_path)
    samples = load_refer(files(root), {"split": "testA", "split_by": "unc"})
    assert [s.id for s in samples] == [101, 102, 103]
    first = samples[0]
    assert first.fields == {"expression": "man in red"}  # sent["sent"], as InfMLLM fed it
    assert first.targets == [100, 50, 300, 150]            # [x, y, w, h] -> [x1, y1, x2, y2]
    assert first.image == str(root / "coco" / "train2014" / "COCO_train2014_000000000001.jpg")
    assert first.meta == {"width": 640, "height": 480, "image_id": 1, "ref_id": 1,
                          "ann_id": 10, "split": "testA", "raw": "Man in red."}
    assert samples[2].targets == [32, 128, 96, 384]
    testb = load_refer(files(root), {"split": "testB", "split_by": "unc"})
    assert [s.meta["raw"] for s in testb] == ["top-left dog", "the café sign"]
    no_images = {k: v for k, v in files(root).items() if k != "images"}
    assert load_refer(no_images, {"split": "val", "split_by": "unc"})[0].image is None


def _bad_ref(**changes: Any) -> list[dict[str, Any]]:
    record = ref(9, 10, 1, "val", [(901, "x", "x")])
    record.update(changes)
    return [record]


@pytest.mark.parametrize(("refs", "args", "message"), [
    (None, {"split": "testA", "split_by": "umd"}, "'testA' is not a split of the umd"),
    (None, {"split": "val", "split_by": "unk"}, "split_by 'unk' is not one of"),
    (None, {"split": "test", "split_by": "umd"},
     r"no refs in split 'test' \(the file has: testA, testB, train, val\); wrong refs file"),
    ({"refs": []}, {"split": "val", "split_by": "unc"}, "expected a list of refs, got dict"),
    (_bad_ref(ann_id=99), {"split": "val", "split_by": "unc"}, "annotation 99 is not in"),
    (_bad_ref(image_id=2), {"split": "val", "split_by": "unc"}, "mismatched files"),
    (_bad_ref(ann_id="10"), {"split": "val", "split_by": "unc"},
     "ref_id 9: field 'ann_id' must be int, got str"),
    (_bad_ref(sentences=[{"sent": "x"}]), {"split": "val", "split_by": "unc"},
     "sentence #0: missing field 'sent_id'"),
    (REFS + _bad_ref(sentences=[{"sent_id": 301, "sent": "x"}]),
     {"split": "val", "split_by": "unc"}, "duplicate sent_id 301"),
    ([{"ref_id": 1}], {"split": "val", "split_by": "unc"}, "ref #0: missing field 'split'"),
])
def test_loader_bad_input(tmp_path: Path, refs: Any, args: dict[str, Any],
                          message: str) -> None:
    root = write_refcoco(tmp_path, refs)
    with pytest.raises(BadInputError, match=message) as info:
        load_refer(files(root), args)
    assert "\n" not in str(info.value)


def test_instances_errors_name_the_field(tmp_path: Path) -> None:
    doc = {"images": IMAGES, "annotations": [{"id": 10, "image_id": 1, "bbox": [1, 2, 3]}]}
    root = write_refcoco(tmp_path, instances=doc)
    with pytest.raises(BadInputError, match=r"instances.json: .*\$\.annotations\[0\]\.bbox"):
        load_refer(files(root), {"split": "val", "split_by": "unc"})


# --- cards and `score` end to end ----------------------------------------------------------

SIZES = {"refcoco_val": 10834, "refcoco_testA": 5657, "refcoco_testB": 5095,
         "refcocoplus_val": 10758, "refcocoplus_testA": 5726, "refcocoplus_testB": 4889,
         "refcocog_val": 4896, "refcocog_test": 9602}


def test_cards() -> None:
    cards = task_cards()
    for name, size in SIZES.items():
        card = cards[name]
        assert (card.size, card.family, card.loader, card.primary_metric) == (
            size, "grounding", "refer", "acc@0.5")
        assert card.loader_args["split"] == card.split == name.rsplit("_", 1)[1]
        assert card.files["images"] == "coco/train2014"
        gen = card.generation
        assert (gen.num_beams, gen.length_penalty, gen.max_new_tokens, gen.min_new_tokens) == (
            5, 1.0, 29, 1)
    assert cards["refcocog_test"].files["refs"] == "refcocog/refs(umd).p"
    assert cards["refcocoplus_val"].files["refs"] == "refcoco+/refs(unc).p"
    plus = {c.name for c in resolve_tasks("refcoco+")}
    assert plus == {c.name for c in resolve_tasks("refcocoplus")} == {
        "refcocoplus_val", "refcocoplus_testA", "refcocoplus_testB"}
    assert {c.name for c in resolve_tasks("grounding")} == set(SIZES)
    assert {c.name for c in resolve_tasks("refcocog")} == {"refcocog_val", "refcocog_test"}


def score(cli: Cli, root: Path, task: str, rows: dict[int, str], *options: str,
          ) -> dict[str, Any]:
    preds = root / f"{task}.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n"
                             for k, v in rows.items()))
    opts = [a for o in options for a in ("--option", o)]
    res = cli("score", "--task", task, "--predictions", str(preds), "--data-root", str(root),
              "--output", str(root / f"{task}.metrics.json"), *opts)
    assert res.code == 0, res.err
    result: dict[str, Any] = json.loads((root / f"{task}.metrics.json").read_text())
    return result


def test_score_refcoco_splits_by_hand(cli: Cli, tmp_path: Path) -> None:
    root = write_refcoco(tmp_path)
    # testA. 101 (640x480, gt [100,50,300,150]): -> [100,60,300,150], IoU 18000/20000 = 0.9.
    # 102: no box (parse failure). 103 (256x512, gt [32,128,96,384], area 16384):
    # -> [32,128,96,256], area 8192 inside the gt, IoU exactly 0.5 (a hit: IoU >= 0.5).
    got = score(cli, root, "refcoco_testA", {
        101: "[0.15625,0.125,0.46875,0.3125]", 102: "the man on the left",
        103: "(0.125, 0.25), (0.375, 0.5)"})
    m = got["metrics"]
    assert m["acc@0.5"] == pytest.approx(200 / 3) and m["acc@0.3"] == pytest.approx(200 / 3)
    assert m["acc@0.7"] == pytest.approx(100 / 3) and m["acc@0.9"] == pytest.approx(100 / 3)
    assert m["mean_iou"] == pytest.approx(100 * 1.4 / 3)
    assert got["parse_failures"] == 1 and got["n_samples"] == 3 and got["n_missing"] == 0
    per = {r["id"]: r for r in got["per_sample"]}
    assert per[101]["box"] == [100, 60, 300, 150] and per[101]["iou"] == pytest.approx(0.9)
    assert per[102]["box"] is None and per[102]["score"] == 0.0
    assert per[103]["iou"] == 0.5 and per[103]["score"] == 100.0
    assert got["variant"] == {"box_format": "unit", "image_transform": "squash"}
    # testB. 201: reversed corners -> [0,0,320,240] = gt, IoU 1. 202: [160,120,480,360] vs
    # [0,0,320,240]: 19200 / (76800 + 76800 - 19200) = 1/7.
    got = score(cli, root, "refcoco_testB", {201: "(0.5,0.5),(0,0)",
                                             202: "[0.25,0.25,0.75,0.75]"})
    assert got["metrics"]["acc@0.5"] == 50.0 and got["metrics"]["acc@0.9"] == 50.0
    assert got["metrics"]["mean_iou"] == pytest.approx(100 * (1 + 1 / 7) / 2)
    assert got["parse_failures"] == 0 and got["breakdown"] == {"split": {"testB": 50.0}}


def test_score_with_a_chat_models_coordinate_space(cli: Cli, tmp_path: Path) -> None:
    """val 301 (640x480, gt [100,50,300,150]). On the 640x640 padded square (image pasted
    80 px down) the box is [100,130,300,230], i.e. 0-1000: 156.25, 203.125, 468.75, 359.375."""
    root = write_refcoco(tmp_path)
    answer = {301: "<box>(156.25,203.125),(468.75,359.375)</box>"}
    got = score(cli, root, "refcoco_val", answer, "box_format=thousand",
                "image_transform=expand2square")
    assert got["metrics"]["acc@0.5"] == 100.0 and got["per_sample"][0]["iou"] == 1.0
    assert got["per_sample"][0]["box"] == [100, 50, 300, 150]
    # read as the multitask model's 0-1 squash boxes, the same answer is out of range
    got = score(cli, root, "refcoco_val", answer)
    assert got["metrics"]["acc@0.5"] == 0.0 and got["parse_failures"] == 1


def test_score_refuses_a_malicious_refs_file(cli: Cli, tmp_path: Path) -> None:
    root = write_refcoco(tmp_path)
    marker = tmp_path / "pwned"
    (root / "refcoco" / "refs(unc).p").write_bytes(
        pickle.dumps([*REFS, SystemCall(marker)], protocol=2))
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 301, "prediction": "[0,0,1,1]"}\n')
    res = cli("score", "--task", "refcoco_val", "--predictions", str(preds),
              "--data-root", str(root))
    assert res.code == 2
    assert "names the global posix.system" in res.err or "names the global nt.system" in res.err
    assert "Traceback" not in res.err
    assert not marker.exists()


@pytest.mark.parametrize(("option", "message"), [
    ("box_format=normalized", "box_format='normalized' is not one of unit, thousand, pixels"),
    ("image_transform=pad", "image_transform='pad' is not one of squash, expand2square"),
])
def test_score_bad_options(cli: Cli, tmp_path: Path, option: str, message: str) -> None:
    root = write_refcoco(tmp_path)
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 301, "prediction": "[0,0,1,1]"}\n')
    res = cli("score", "--task", "refcoco_val", "--predictions", str(preds),
              "--data-root", str(root), "--option", option)
    assert res.code == 2 and message in res.err
