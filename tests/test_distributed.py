"""Distributed runs (torchrun, gloo on CPU): identical to one process, resumable at another
world size."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from infmllm_eval.commands import demo_root
from infmllm_eval.engine.distributed import shard
from tests.conftest import ROOT
from tests.test_caption_data import coco_image, write_karpathy
from tests.test_grounding_refer import IMAGES, write_refcoco

TASKS = ("vqav2_val", "refcoco_testA", "coco_karpathy_test")


def test_shard_balances_and_keeps_groups_together() -> None:
    groups = [[1, 2, 3, 4], [5], [6, 7], [8, 9, 10], [11]]
    shards = shard(groups, 2)
    assert sorted(x for s in shards for x in s) == list(range(1, 12))
    assert sorted(len(s) for s in shards) == [5, 6]
    for group in groups:
        assert sum(all(x in s for x in group) for s in shards) == 1
    assert shard(groups, 2) == shards  # deterministic
    assert [len(s) for s in shard(groups, 7)].count(0) == 2


def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(demo_root() / "data", root)
    write_refcoco(root)
    for image in IMAGES:
        path = root / "coco" / "train2014" / str(image["file_name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (int(image["width"]), int(image["height"])), (90, 140, 30)).save(path)
    ids = [int(p.stem.rsplit("_", 1)[1]) for p in (root / "coco" / "val2014").glob("*.jpg")]
    write_karpathy(root / "coco" / "dataset_coco.json", [coco_image(i, "test") for i in ids])
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(root: Path, out: Path, name: str, procs: int) -> None:
    args = ["run", "--model", "infmllm-tiny", "--tasks", ",".join(TASKS), "--data-root",
            str(root), "--output-dir", str(out), "--run-name", name, "--batch-size", "4",
            "--generation", "num_beams=1", "--generation", "max_new_tokens=4",
            "--generation", "min_new_tokens=1", "--option", "spice=off"]
    launcher = [sys.executable, "-m", "infmllm_eval"] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
        "--master_port", str(free_port()), "-m", "infmllm_eval"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def outputs(run_dir: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    preds = {t: (run_dir / "predictions" / f"{t}.jsonl").read_bytes() for t in TASKS}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return preds, {t: metrics["tasks"][t]["metrics"] for t in TASKS}


@pytest.mark.slow
def test_two_processes_equal_one_and_resume_with_three(tmp_path: Path) -> None:
    root, out = data_root(tmp_path), tmp_path / "runs"
    run(root, out, "single", 1)
    run(root, out, "two", 2)
    single = outputs(out / "single")
    assert outputs(out / "two") == single
    assert not list((out / "two" / "predictions").glob("*.rank*.jsonl"))  # merged
    two = json.loads((out / "two" / "metrics.json").read_text())
    assert two["tasks"]["vqav2_val"]["throughput"]["generated"] == 24
    assert two["tasks"]["vqav2_val"]["throughput"]["vit_forwards"] == 8
    assert len(two["tasks"]["vqav2_val"]["throughput"]["ranks"]) == 2

    # an interrupted 2-process run: part of each task sits in rank shards, the rest is lost
    shutil.copytree(out / "two", out / "resumed")
    for task in TASKS:
        path = out / "resumed" / "predictions" / f"{task}.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        (path.with_name(f"{task}.rank0.jsonl")).write_text("".join(lines[0::4]))
        (path.with_name(f"{task}.rank1.jsonl")).write_text("".join(lines[1::4]))
        path.unlink()
    run(root, out, "resumed", 3)
    assert outputs(out / "resumed") == single
    resumed = json.loads((out / "resumed" / "metrics.json").read_text())
    assert resumed["tasks"]["vqav2_val"]["throughput"]["resumed"] == 12
