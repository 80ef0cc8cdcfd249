"""Crash safety, resume, image failures, determinism and no network (issue 8)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.commands import demo_root
from tests.conftest import ROOT, CliResult

Cli = Callable[..., CliResult]
DATA = demo_root() / "data"
ANSWERS = demo_root() / "predictions"
FAST = ["--generation", "num_beams=1", "--generation", "max_new_tokens=4"]


def test_same_command_resumes_and_new_run_starts_over(cli: Cli, tmp_path: Path) -> None:
    args = ["run", "--model", "scripted", "--tasks", "vqav2", "--data-root", str(DATA),
            "--model-option", f"answers={ANSWERS}", "--output-dir", str(tmp_path)]
    assert cli(*args).code == 0
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("scripted-")
    first = (run_dir / "predictions" / "vqav2_val.jsonl").read_bytes()
    assert cli(*args, "--batch-size", "3").code == 0  # same command: same directory, resumed
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tasks"]["vqav2_val"]["throughput"]["resumed"] == 24
    assert (run_dir / "predictions" / "vqav2_val.jsonl").read_bytes() == first
    assert cli(*args, "--new-run").code == 0
    assert len(list(tmp_path.iterdir())) == 2
    res = cli("run", "--resume", str(run_dir))
    assert res.code == 0, res.err
    res = cli(*args, "--option", "normalization=evalai", "--run-name", run_dir.name)
    assert res.code == 2 and "options: {} -> {'normalization': 'evalai'}" in res.err
    assert "--new-run" in res.err
    res = cli("run", "--resume", str(tmp_path / "nope"))
    assert res.code == 2 and "not a run directory" in res.err


def corrupt_copy(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    bad = sorted((data / "coco" / "val2014").glob("*.jpg"))[0]
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return data, bad


def test_image_errors_fail_fast_or_are_recorded(cli: Cli, tmp_path: Path) -> None:
    data, bad = corrupt_copy(tmp_path)
    base = ["run", "--model", "infmllm-tiny", "--tasks", "vqav2", "--data-root", str(data),
            "--output-dir", str(tmp_path / "runs"), *FAST]
    res = cli(*base, "--run-name", "fail")
    assert res.code == 2
    assert "task vqav2_val, sample 42000" in res.err and bad.name in res.err
    assert "--on-image-error skip" in res.err and "Traceback" not in res.err
    res = cli(*base, "--run-name", "skip", "--on-image-error", "skip")
    assert res.code == 0, res.err
    entry = json.loads((tmp_path / "runs" / "skip" / "metrics.json").read_text())["tasks"][
        "vqav2_val"]
    assert entry["failed"]["count"] == 3  # the image has 3 questions
    assert all(bad.name in e for e in entry["failed"]["errors"].values())
    failed = {s["id"]: s for s in entry["per_sample"] if str(s["id"]) in entry["failed"]["errors"]}
    assert len(failed) == 3 and all(s["score"] == 0.0 for s in failed.values())
    assert entry["n_scored"] == 24
    res = cli(*base, "--run-name", "x", "--on-image-error", "ignore")
    assert res.code == 2 and "expected fail or skip" in res.err


def test_predictions_are_byte_identical_at_any_batch_size(cli: Cli, tmp_path: Path) -> None:
    outputs = []
    for size in ("1", "8", "5"):
        res = cli("run", "--model", "infmllm-tiny", "--tasks", "vqav2,gqa", "--data-root",
                  str(DATA), "--output-dir", str(tmp_path), "--run-name", f"b{size}",
                  "--batch-size", size, *FAST)
        assert res.code == 0, res.err
        outputs.append([(tmp_path / f"b{size}" / "predictions" / f"{t}.jsonl").read_bytes()
                        for t in ("vqav2_val", "gqa_testdev_balanced")])
    assert outputs[0] == outputs[1] == outputs[2]


def test_runs_with_sockets_disabled(cli: Cli, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # even if a hub lookup were allowed
    res = cli("run", "--model", "infmllm-tiny", "--tasks", "vqav2_val,gqa", "--data-root",
              str(DATA), "--output-dir", str(tmp_path), *FAST)
    assert res.code == 0, res.err


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path: Path) -> None:
    """Kill `run` with SIGKILL at 5 random moments, resuming each time: the end result has
    no missing and no duplicated predictions and equals an uninterrupted run."""
    def command(name: str) -> list[str]:
        return [sys.executable, "-m", "infmllm_eval", "run", "--model", "scripted", "--tasks",
                "vqa", "--data-root", str(DATA), "--model-option", f"answers={ANSWERS}",
                # ~11 s of work in all, so every kill lands before the run ends
                "--model-option", "delay=0.2", "--batch-size", "1",
                "--output-dir", str(tmp_path), "--run-name", name]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command("clean"), check=True, capture_output=True, env=env)
    rng = random.Random(7)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(command("killed"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(0.6, 2.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3
    subprocess.run(command("killed"), check=True, capture_output=True, env=env)
    for task in ("vqav2_val", "okvqa_val", "textvqa_val", "gqa_testdev_balanced"):
        lines = (tmp_path / "killed" / "predictions" / f"{task}.jsonl").read_text().splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert len(ids) == len(set(ids))
        clean = (tmp_path / "clean" / "predictions" / f"{task}.jsonl").read_text()
        assert "\n".join(lines) + "\n" == clean
    metrics = [json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("clean",
                                                                                 "killed")]
    for task, entry in metrics[0]["tasks"].items():
        assert metrics[1]["tasks"][task]["metrics"] == entry["metrics"]
        assert metrics[1]["tasks"][task]["n_missing"] == 0
