"""Issue 23, red-team re-run of the run side: SIGTERM (a scheduler's stop) ends like Ctrl-C,
a lock file that is a link is never written through, NaN weights are reported, and decoding
settings that overflow in transformers are refused while every usable value is kept."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from infmllm_eval.engine.lock import acquire
from infmllm_eval.errors import BadInputError
from infmllm_eval.types import GenerationConfig
from tests.conftest import CliResult
from tests.test_hardening_engine import ENV, TASK, journal_lines, slow_run, wait_for

Cli = Callable[..., CliResult]


def test_sigterm_ends_like_ctrl_c_and_the_rerun_resumes(tmp_path: Path) -> None:
    """SLURM (and most schedulers) send SIGTERM before the kill: the journal is intact, the
    lock released, one line says how to resume, exit code 143 (128 + SIGTERM)."""
    journal = tmp_path / "term" / "predictions" / f"{TASK}.jsonl"
    proc = slow_run(tmp_path, "term")
    try:
        wait_for(lambda: journal_lines(journal) >= 2, proc, "journaled samples")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == ("terminated (SIGTERM): journaled predictions are kept; rerun the same "
                         "command to resume")
    assert not (tmp_path / "term" / "run.lock").exists()
    kept = journal_lines(journal)
    assert kept >= 2 and journal.read_bytes().endswith(b"\n")
    done = subprocess.run(proc.args, capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stale lock" not in done.stderr
    entry = json.loads((tmp_path / "term" / "metrics.json").read_text())["tasks"][TASK]
    assert entry["throughput"]["resumed"] == kept and entry["n_missing"] == 0


def test_a_lock_file_that_is_a_link_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.lock").symlink_to(target)
    with pytest.raises(BadInputError, match="is a symbolic link"):
        acquire(run_dir)
    assert target.read_text() == "mine\n" and (run_dir / "run.lock").is_symlink()
    (run_dir / "run.lock").unlink()
    with acquire(run_dir) as lock:  # a plain lock works as before, and goes on release
        assert json.loads(lock.path.read_text())["pid"]
    assert not (run_dir / "run.lock").exists()


@pytest.mark.parametrize("overrides", [
    {"do_sample": True, "temperature": 1e-6}, {"do_sample": True, "temperature": 1e6},
    {"do_sample": False, "temperature": 1e300}, {"do_sample": False, "temperature": 0.0},
    {"length_penalty": 32.0}, {"length_penalty": -32.0}, {"length_penalty": 0.0}])
def test_usable_decoding_settings_are_kept(overrides: dict[str, object]) -> None:
    assert GenerationConfig(num_beams=3, **overrides).problem() == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"do_sample": True, "temperature": 1e-7}, "expected 1e-06 to 1e+06"),
    ({"do_sample": True, "temperature": 2e6}, "expected 1e-06 to 1e+06"),
    ({"length_penalty": 33.0}, "expected -32 to 32"),
    ({"length_penalty": -1e308}, "expected -32 to 32")])
def test_decoding_settings_that_overflow_are_refused(overrides: dict[str, object],
                                                     message: str) -> None:
    assert message in GenerationConfig(**overrides).problem()  # type: ignore[arg-type]


def test_nan_weights_are_reported(cli: Cli, tmp_path: Path) -> None:
    """A checkpoint holding NaN is a legal file: it loads and runs, with a warning that its
    outputs (and scores) are meaningless; a clean checkpoint gets no warning."""
    torch = pytest.importorskip("torch")
    from tests.bad_inputs.gen_model import _save, _tiny_state

    state = _tiny_state()
    clean = tmp_path / "clean.safetensors"
    _save(state, str(clean))
    state["pooler.mlp.0.bias"] = torch.full_like(state["pooler.mlp.0.bias"], float("nan"))
    broken = tmp_path / "nan.safetensors"
    _save(state, str(broken))
    data = Path(__file__).resolve().parents[1] / "infmllm_eval" / "demo" / "data"
    for weights, warned in ((broken, True), (clean, False)):
        res = cli("run", "--model", "infmllm-tiny", "--tasks", TASK, "--data-root", str(data),
                  "--limit", "1", "--output-dir", str(tmp_path / "runs"), "--new-run",
                  "--model-option", f"weights={weights}")
        assert res.code == 0, res.err
        text = " ".join(res.err.split())
        assert ("hold NaN or infinite values: pooler.mlp.0.bias" in text) == warned, res.err


def test_new_runs_started_in_one_second_get_their_own_directories(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--new-run names the directory by the second it starts: a second run in that second
    (another seed, from a script) got the first one's directory and was refused as 'a
    different setup' (or resumed it, with the same setup)."""
    from infmllm_eval import commands
    from tests.test_hardening_engine import run_args

    monkeypatch.setattr(commands, "new_run_id", lambda model: f"{model}-20260101-000000")
    names = []
    for seed in ("1", "2", "1"):
        args = run_args(tmp_path, "unused", "--model-option", "default=yes", "--seed", seed,
                        "--generation", "do_sample=true")
        at = args.index("--run-name")
        res = cli(*args[:at], *args[at + 2:], "--new-run")
        assert res.code == 0, res.err
        names.append(res.out.split("run directory: ")[1].split()[0])
    assert [Path(n).name for n in names] == ["scripted-20260101-000000",
                                             "scripted-20260101-000000-2",
                                             "scripted-20260101-000000-3"]
    seeds = [json.loads((Path(n) / "run.json").read_text())["config"]["seed"] for n in names]
    assert seeds == [1, 2, 1]


def test_resume_refuses_data_that_now_asks_other_questions(cli: Cli, tmp_path: Path) -> None:
    """Journaled predictions answer the questions of their run: data files that now ask
    something else under the same ids are refused on resume (they were scored against the
    new questions); annotations that only change the answers are scored afresh."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(Path(__file__).parent / "bad_inputs" / "_valid", data)
    questions, annotations = data / "vqav2" / "questions.json", data / "vqav2" / "annotations.json"
    args = ["run", "--model", "scripted", "--model-option", "default=yes", "--tasks", TASK,
            "--data-root", str(data), "--file", f"{TASK}.questions={questions}",
            "--file", f"{TASK}.annotations={annotations}", "--output-dir", str(tmp_path / "runs"),
            "--run-name", "r"]
    assert cli(*args).code == 0
    annotations.write_text(annotations.read_text().replace('"answer": "', '"answer": "x'))
    res = cli(*args)
    assert res.code == 0, res.err
    questions.write_text(questions.read_text().replace('"question": "', '"question": "Why '))
    res = cli(*args)
    assert res.code == 2 and f"the questions of task {TASK} changed" in res.err
    res = cli("run", "--resume", str(tmp_path / "runs" / "r"))
    assert res.code == 2 and f"the questions of task {TASK} changed" in res.err
