"""Local lmms-lab datasets (parquet shards, save_to_disk folders): the `lmms_parquet` loader,
its `*_lmms` task cards, image extraction, and doc_id → question_id mapping for imports.

The datasets are generated here from the bundled demo data in the lmms-lab column layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed: it comes with the "
                         "optional extra infmllm-eval[lmms] (the lmms CI step runs these)")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow.parquet is not available")

from infmllm_eval.catalog import resolve_task  # noqa: E402
from infmllm_eval.data import lmms_hf  # noqa: E402
from infmllm_eval.errors import BadInputError  # noqa: E402
from infmllm_eval.taskspec import build_task, load_samples  # noqa: E402
from tests.conftest import ROOT, CliResult  # noqa: E402

Cli = Callable[..., CliResult]
DEMO = ROOT / "infmllm_eval" / "demo" / "data"
DEMO_PREDICTIONS = ROOT / "infmllm_eval" / "demo" / "predictions"
VQAV2_073 = ROOT / "tests" / "lmms_samples" / "20260105_102000_samples_vqav2_val.jsonl"
VQAV2_035 = ROOT / "tests" / "lmms_samples" / "20240611_093000_samples_vqav2_val.jsonl"
OKVQA_073 = ROOT / "tests" / "lmms_samples" / "20260105_103000_samples_ok_vqa_val2014.jsonl"


def vqav2_rows() -> list[dict[str, Any]]:
    """The demo VQAv2 set as lmms-lab/VQAv2 rows (answers as records, image bytes inline)."""
    questions = json.loads((DEMO / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json")
                           .read_text())["questions"]
    anns = {a["question_id"]: a for a in json.loads(
        (DEMO / "vqav2" / "v2_mscoco_val2014_annotations.json").read_text())["annotations"]}
    rows = []
    for q in questions:
        ann = anns[q["question_id"]]
        name = f"COCO_val2014_{q['image_id']:012d}.jpg"
        rows.append({
            "question_type": ann.get("question_type") or "", "multiple_choice_answer": "x",
            "answers": [{"answer": a["answer"], "answer_confidence": "yes", "answer_id": i + 1}
                        for i, a in enumerate(ann["answers"])],
            "image_id": q["image_id"], "answer_type": ann.get("answer_type") or "",
            "question_id": q["question_id"], "question": q["question"],
            "image": {"bytes": (DEMO / "coco" / "val2014" / name).read_bytes(), "path": name},
        })
    return rows


def textvqa_rows() -> list[dict[str, Any]]:
    data = json.loads((DEMO / "textvqa" / "TextVQA_0.5.1_val.json").read_text())["data"]
    return [{"image_id": r["image_id"], "question_id": r["question_id"],
             "question": r["question"], "answers": r["answers"],
             "ocr_tokens": r.get("ocr_tokens", []),
             "image": {"bytes": (DEMO / "textvqa" / "train_images" / f"{r['image_id']}.jpg")
                       .read_bytes(), "path": None}} for r in data]


def write_parquet(folder: Path, split: str, rows: list[dict[str, Any]], shards: int = 2) -> Path:
    """A hub-style copy: data/<split>-0000k-of-0000n.parquet (plus a decoy test split)."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    step = -(-len(rows) // shards)
    for k in range(shards):
        part = rows[k * step:(k + 1) * step]
        name = f"{split}-{k:05d}-of-{shards:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(part), data / name)
    pq.write_table(pa.Table.from_pylist(rows[:1]), data / "test-00000-of-00001.parquet")
    return folder


def write_save_to_disk(folder: Path, split: str, rows: list[dict[str, Any]]) -> Path:
    """The layout of datasets' DatasetDict.save_to_disk: arrow IPC streams + state.json."""
    part = folder / split
    part.mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    names = []
    for k, chunk in enumerate((table.slice(0, 5), table.slice(5))):
        name = f"data-{k:05d}-of-00002.arrow"
        with pa.OSFile(str(part / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(chunk)
        names.append({"filename": name})
    (part / "state.json").write_text(json.dumps({"_data_files": names, "_split": None}))
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": [split]}))
    return folder


@pytest.fixture
def lmms_root(tmp_path: Path) -> Path:
    """A data root with lmms-lab/VQAv2 (parquet) and lmms-lab/textvqa (save_to_disk)."""
    write_parquet(tmp_path / "lmms-lab" / "VQAv2", "validation", vqav2_rows())
    write_save_to_disk(tmp_path / "lmms-lab" / "textvqa", "validation", textvqa_rows())
    return tmp_path


def score(cli: Cli, tmp_path: Path, task: str, predictions: Path, root: Path,
          *extra: str) -> dict[str, Any]:
    out = tmp_path / f"{task}-{len(list(tmp_path.iterdir()))}.metrics.json"
    res = cli("score", "--task", task, "--predictions", str(predictions), "--data-root",
              str(root), "--output", str(out), *extra)
    assert res.code == 0, res.err
    return dict(json.loads(out.read_text()))


@pytest.mark.parametrize(("official", "lmms"), [("vqav2_val", "vqav2_val_lmms"),
                                                ("textvqa_val", "textvqa_val_lmms")])
def test_lmms_copy_scores_like_the_official_files(cli: Cli, tmp_path: Path, lmms_root: Path,
                                                  official: str, lmms: str) -> None:
    preds = DEMO_PREDICTIONS / f"{official}.jsonl"
    want = score(cli, tmp_path, official, preds, DEMO, "--allow-partial")
    got = score(cli, tmp_path, lmms, preds, lmms_root, "--allow-partial")
    assert got["metrics"] == want["metrics"] and got["n_samples"] == want["n_samples"]
    assert got["variant"] == want["variant"]
    assert not (lmms_root / "lmms-lab" / "VQAv2" / "images").exists()  # scoring: no images


def test_samples_and_images(lmms_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = build_task(resolve_task("vqav2_val_lmms"), lmms_root)
    samples = load_samples(spec)
    assert [s.id for s in samples[:3]] == [4200001, 4200002, 4200003]
    first = samples[0]
    assert first.fields == {"question": "What color is the triangle?"}
    assert first.targets[:2] == ["red one", "red"] and first.meta["answer_type"] == "other"
    folder = lmms_root / "lmms-lab" / "VQAv2" / "images"
    assert first.image == str(folder / "42.jpg")
    assert Path(first.image).read_bytes() == (
        DEMO / "coco" / "val2014" / "COCO_val2014_000000000042.jpg").read_bytes()
    assert len(list(folder.glob("*.jpg"))) == len({s.meta["image_id"] for s in samples})

    def no_extraction(*args: Any) -> Any:
        raise AssertionError("images were extracted again")

    monkeypatch.setattr(lmms_hf, "_extract", no_extraction)
    assert load_samples(spec) == samples  # the index is reused


def test_save_to_disk_textvqa(lmms_root: Path) -> None:
    samples = load_samples(build_task(resolve_task("textvqa_val_lmms"), lmms_root))
    assert len(samples) == 8 and samples[0].id == 34602
    assert samples[0].targets[0] == "stop" and "ocr_tokens" in samples[0].fields
    assert Path(samples[0].image or "").name == "0000000000000000.jpg"


def test_real_datasets_save_to_disk(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="the datasets library is not installed")
    rows = textvqa_rows()
    features = datasets.Features({
        "image_id": datasets.Value("string"), "question_id": datasets.Value("int64"),
        "question": datasets.Value("string"), "answers": [datasets.Value("string")],
        "ocr_tokens": [datasets.Value("string")], "image": datasets.Image()})
    ds = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict({"validation": ds}).save_to_disk(str(tmp_path / "lmms-lab" / "textvqa"))
    samples = load_samples(build_task(resolve_task("textvqa_val_lmms"), tmp_path))
    assert [s.id for s in samples] == [r["question_id"] for r in rows]
    assert Path(samples[3].image or "").read_bytes() == rows[3]["image"]["bytes"]


def test_import_maps_doc_ids_through_the_dataset(cli: Cli, tmp_path: Path,
                                                 lmms_root: Path) -> None:
    preds = tmp_path / "p.jsonl"
    res = cli("import", "lmms-eval", str(VQAV2_073), "--task", "vqav2_val", "--dataset",
              str(lmms_root / "lmms-lab" / "VQAv2"), "--output", str(preds))
    assert res.code == 0, res.err
    assert "4 from dataset" in res.err
    assert [json.loads(x)["id"] for x in preds.read_text().splitlines()] == [
        4200001, 4200002, 4200003, 4200004]
    result = score(cli, tmp_path, "vqav2_val", preds, DEMO, "--allow-partial")
    assert result["metrics"]["accuracy"] == pytest.approx(50.0) and result["n_scored"] == 4


def test_import_refuses_a_dataset_in_another_order(cli: Cli, tmp_path: Path) -> None:
    write_parquet(tmp_path / "shuffled", "validation", vqav2_rows()[::-1])
    res = cli("import", "lmms-eval", str(VQAV2_035), "--task", "vqav2_val", "--dataset",
              str(tmp_path / "shuffled"))
    assert res.code == 2 and "not the dataset (or split) this run read" in res.err


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: None, "lmms-lab dataset not found at"),
    (lambda p: write_parquet(p, "train", vqav2_rows()[:2]), "no parquet files for split"),
    (lambda p: write_save_to_disk(p, "test", textvqa_rows()), "no split 'validation'"),
    (lambda p: write_parquet(p, "validation", [{"qid": 1, "question": "q"}]),
     "no column question_id"),
    (lambda p: write_parquet(p, "validation", [{"question_id": 1, "question": "q",
                                                 "answers": []}]),
     "'answers' must be a non-empty list"),
])
def test_bad_datasets(tmp_path: Path, setup: Callable[[Path], Any], message: str) -> None:
    folder = tmp_path / "ds"
    setup(folder)
    with pytest.raises(BadInputError, match=message):
        lmms_hf.load_lmms_vqa({"dataset": folder}, {"split": "validation"})


def test_run_reads_the_extracted_images(cli: Cli, tmp_path: Path, lmms_root: Path) -> None:
    """The tiny model gives the same answers from the lmms-lab copy as from the official
    files: the images reach it byte for byte."""
    outs = {}
    for task, root in (("vqav2_val", DEMO), ("vqav2_val_lmms", lmms_root)):
        res = cli("run", "--model", "infmllm-tiny", "--tasks", task, "--data-root", str(root),
                  "--limit", "3", "--output-dir", str(tmp_path / "runs"), "--run-name", task,
                  "--generation", "num_beams=1")
        assert res.code == 0, res.err
        outs[task] = (tmp_path / "runs" / task / "predictions" / f"{task}.jsonl").read_text()
    assert outs["vqav2_val"] == outs["vqav2_val_lmms"]


def test_import_checks_ids_in_the_task_split(cli: Cli, tmp_path: Path) -> None:
    """okvqa_val's lmms-lab split is val2014 (from okvqa_val_lmms): ids carried by the samples
    are checked against the dataset's rows."""
    questions = json.loads((DEMO / "okvqa" / "OpenEnded_mscoco_val2014_questions.json")
                           .read_text())["questions"]
    rows = [{"question_id": q["question_id"], "question": q["question"], "answers": ["x"]}
            for q in questions]
    write_parquet(tmp_path / "okvqa", "val2014", rows, shards=1)
    out = tmp_path / "p.jsonl"
    res = cli("import", "lmms-eval", str(OKVQA_073), "--task", "okvqa_val", "--dataset",
              str(tmp_path / "okvqa"), "--output", str(out))
    assert res.code == 0, res.err
    assert "2 from submission" in res.err


def test_images_referring_to_files(tmp_path: Path) -> None:
    """A datasets Image may hold a file path instead of bytes: that file is used as it is."""
    image = DEMO / "coco" / "val2014" / "COCO_val2014_000000000042.jpg"
    rows = [{"question_id": 7, "question": "q?", "answers": ["a"],
             "image": {"bytes": None, "path": str(image)}}]
    write_parquet(tmp_path / "ds", "validation", rows, shards=1)
    (sample,) = lmms_hf.load_lmms_vqa({"dataset": tmp_path / "ds", "images": tmp_path / "img"},
                                      {"split": "validation"})
    assert sample.image == str(image)
    rows[0]["image"] = {"bytes": None, "path": "relative.jpg"}
    write_parquet(tmp_path / "bad", "validation", rows, shards=1)
    with pytest.raises(BadInputError, match="neither bytes nor an existing file path"):
        lmms_hf.load_lmms_vqa({"dataset": tmp_path / "bad", "images": tmp_path / "img2"},
                              {"split": "validation"})
