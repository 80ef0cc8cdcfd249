"""Issue 23, engine: journal line separators, journal integrity, disk full, the run-directory
lock, Ctrl-C, and distributed runs whose ranks start at different times."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.commands import demo_root
from infmllm_eval.engine import journal as journal_module
from infmllm_eval.engine.journal import Journal, journal_line
from infmllm_eval.errors import BadInputError
from tests.conftest import ROOT, CliResult

Cli = Callable[..., CliResult]
DATA = demo_root() / "data"
ANSWERS = demo_root() / "predictions"
TASK = "vqav2_val"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

# every character str.splitlines() breaks a line on
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
               "\u2029"]


def answers() -> dict[int, str]:
    lines = (ANSWERS / f"{TASK}.jsonl").read_text(encoding="utf-8").splitlines()
    return {rec["id"]: rec["prediction"] for rec in map(json.loads, lines)}


def run_args(out: Path, name: str, *extra: str) -> list[str]:
    return ["run", "--model", "scripted", "--tasks", TASK, "--data-root", str(DATA),
            "--output-dir", str(out), "--run-name", name, *extra]


def write_answers(path: Path, texts: dict[int, str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "prediction": t}) + "\n"
                            for i, t in texts.items()), encoding="utf-8")
    return path


def test_journal_lines_hold_no_line_break_but_the_last(tmp_path: Path) -> None:
    for sep in LINE_BREAKS:
        line = journal_line({"id": 1, "prediction": f"a{sep}b"})
        assert line.endswith("\n") and len(line.splitlines()) == 1, repr(sep)
        assert json.loads(line)["prediction"] == f"a{sep}b"
    # not valid Unicode (a lone surrogate): still one line of valid UTF-8; the surrogate, which
    # no UTF-8 file (metrics.json) can hold, is journaled and read back as U+FFFD
    path = tmp_path / "j.jsonl"
    Journal(path).append([(1, "a\ud800\u2028b")])
    assert path.read_bytes().decode("utf-8").count("\n") == 1
    assert Journal(path).read() == {"1": "a\ufffd\u2028b"}


def test_every_line_break_round_trips_through_run_resume_and_score(cli: Cli,
                                                                   tmp_path: Path) -> None:
    """Predictions holding each of the characters str.splitlines() splits on: the run, a
    resume of it and `score` on its journal all see exactly the predicted text."""
    texts = {i: f"{text}{LINE_BREAKS[n % len(LINE_BREAKS)]}tail"
             for n, (i, text) in enumerate(sorted(answers().items()))}
    assert len(texts) >= len(LINE_BREAKS)
    source = write_answers(tmp_path / "answers.jsonl", texts)
    args = run_args(tmp_path / "runs", "seps", "--model-option", f"answers={source}",
                    "--batch-size", "5")
    res = cli(*args)
    assert res.code == 0, res.err
    run_dir = tmp_path / "runs" / "seps"
    path = run_dir / "predictions" / f"{TASK}.jsonl"
    data = path.read_bytes()
    assert data.count(b"\n") == len(texts)  # one record per line, separated by \n only
    assert {int(k): v for k, v in Journal(path).read().items()} == texts
    metrics = json.loads((run_dir / "metrics.json").read_text())["tasks"][TASK]
    assert {s["id"]: s["prediction"] for s in metrics["per_sample"]} == texts
    assert metrics["n_missing"] == 0

    res = cli(*args)  # the same command resumes: nothing is generated again
    assert res.code == 0, res.err
    resumed = json.loads((run_dir / "metrics.json").read_text())["tasks"][TASK]
    assert resumed["throughput"]["resumed"] == len(texts)
    assert resumed["throughput"]["generated"] == 0
    assert resumed["metrics"] == metrics["metrics"]
    assert path.read_bytes() == data
    res = cli("run", "--resume", str(run_dir))
    assert res.code == 0, res.err

    out = tmp_path / "scored.json"
    res = cli("score", "--task", TASK, "--data-root", str(DATA), "--predictions", str(path),
              "--output", str(out))
    assert res.code == 0, res.err
    scored = json.loads(out.read_text())
    assert scored["metrics"] == metrics["metrics"]
    assert {s["id"]: s["prediction"] for s in scored["per_sample"]} == texts


def test_journal_written_raw_by_older_versions_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    rows = {"1": "a\u2028b", "2": "c\x85d\u2029e"}
    path.write_text("".join(json.dumps({"id": int(k), "prediction": v}, ensure_ascii=False)
                            + "\n" for k, v in rows.items()), encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    assert Journal(path).read() == rows


def test_journal_integrity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1, "prediction": "a"}\n{"id": 1, "prediction": "a"}\n'
                    '{"id": 2, "prediction": null}\n{"id": 3, "prediction": "c"}\n')
    assert Journal(path).read() == {"1": "a", "3": "c"}  # null: missing, not "None"
    path.write_text('{"id": 1, "prediction": "a"}\n{"id": 2, "prediction": "b"}\n'
                    '{"id": 1, "prediction": "z"}\n')
    with pytest.raises(BadInputError, match=r"line 3: id '1' has a second, different "
                                            r"prediction \(the first is on line 1\)"):
        Journal(path).read()
    path.write_text('{"id": 1, "prediction": "a"}\n{"id": 2, "predic')
    journal = Journal(path)
    assert journal.read() == {"1": "a"}
    assert journal.dropped_torn_line
    assert "dropped an incomplete last line" in capsys.readouterr().err  # on the terminal
    assert path.read_text() == '{"id": 1, "prediction": "a"}\n'
    damaged = b'{"id": 1, "prediction": "a"}\nnot json\n{"id": 2, "predic'
    path.write_bytes(damaged)
    with pytest.raises(BadInputError, match="line 2: corrupt journal line"):
        Journal(path).read()
    assert path.read_bytes() == damaged  # an error leaves the journal as it was
    path.write_bytes(b'\xef\xbb\xbf{"id": 1, "prediction": "a"}\r\n')  # edited elsewhere
    assert Journal(path).read() == {"1": "a"}
    shard = journal.shard(0)
    shard.path.write_text('{"id": 1, "prediction": "b"}\n')
    with pytest.raises(BadInputError, match="has a different prediction in"):
        journal.read_all()


def test_disk_full_while_journaling_keeps_the_journal(cli: Cli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC on the third append: one line on stderr saying the journal is intact, the
    journal holds exactly the first two batches (the failed write is undone), and a rerun
    with space again resumes from there."""
    real_fsync, calls = os.fsync, []

    def full(fd: int) -> None:  # os.fsync of every module: count the journal's only
        if os.readlink(f"/proc/self/fd/{fd}").endswith(f"{TASK}.jsonl"):
            calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", full)
    args = run_args(tmp_path, "full", "--model-option", f"answers={ANSWERS}",
                    "--batch-size", "4")
    res = cli(*args)
    assert res.code == 2
    lines = [line for line in res.err.splitlines()  # less the plain progress lines
             if line.strip() and not line.startswith("progress: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err
    assert "No space left on device" in lines[0] and "journaled before are intact" in lines[0]
    path = tmp_path / "full" / "predictions" / f"{TASK}.jsonl"
    assert lines[0].startswith(f"error: {path}")
    assert len(path.read_bytes().splitlines()) == 8 and path.read_bytes().endswith(b"\n")
    assert not (tmp_path / "full" / "run.lock").exists()
    monkeypatch.setattr(journal_module.os, "fsync", real_fsync)
    res = cli(*args)
    assert res.code == 0, res.err
    entry = json.loads((tmp_path / "full" / "metrics.json").read_text())["tasks"][TASK]
    assert entry["throughput"]["resumed"] == 8 and entry["n_missing"] == 0


def slow_args(out: Path, name: str) -> list[str]:
    """`run` slow enough (0.1 s a sample) to be caught mid-run."""
    return run_args(out, name, "--model-option", f"answers={ANSWERS}", "--model-option",
                    "delay=0.1", "--batch-size", "1")


def slow_run(out: Path, name: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "infmllm_eval", *slow_args(out, name)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


def wait_for(check: Callable[[], Any], proc: subprocess.Popen[str], what: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {what} after 60 s")


def journal_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def test_a_second_run_on_one_directory_is_refused_and_a_stale_lock_taken_over(
        cli: Cli, tmp_path: Path) -> None:
    run_dir = tmp_path / "busy"
    lock, journal = run_dir / "run.lock", run_dir / "predictions" / f"{TASK}.jsonl"
    proc = slow_run(tmp_path, "busy")
    try:
        holder = wait_for(lambda: lock.is_file() and lock.read_text() and json.loads(
            lock.read_text()), proc, "lock")
        assert holder["pid"] == proc.pid and holder["host"] == socket.gethostname()
        wait_for(lambda: journal_lines(journal) >= 1, proc, "journaled sample")
        res = cli(*slow_args(tmp_path, "busy"))
        assert res.code == 2
        lines = [line for line in res.err.splitlines() if line.strip()]
        assert len(lines) == 1, res.err
        assert f"{run_dir}: another run is using this run directory (pid {proc.pid} on host " \
               f"{socket.gethostname()}" in lines[0]
        assert "another --run-name" in lines[0]
        proc.send_signal(signal.SIGKILL)  # a killed run leaves its lock file behind
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(lock.read_text())["pid"] == proc.pid
    done = journal_lines(journal)
    res = cli(*slow_args(tmp_path, "busy"))
    assert res.code == 0, res.err
    assert f"took over a stale lock left by pid {proc.pid} on host {socket.gethostname()}" \
        in " ".join(res.err.split())
    assert not lock.exists()
    entry = json.loads((run_dir / "metrics.json").read_text())["tasks"][TASK]
    assert entry["throughput"]["resumed"] == done and entry["n_missing"] == 0


def test_stale_lock_of_a_dead_process_is_taken_over(cli: Cli, tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.lock").write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}))
    res = cli(*run_args(tmp_path, "r", "--model-option", f"answers={ANSWERS}"))
    assert res.code == 0, res.err
    assert f"took over a stale lock left by pid {pid}" in " ".join(res.err.split())
    assert "that process is gone" in " ".join(res.err.split())
    assert not (tmp_path / "r" / "run.lock").exists()


def test_ctrl_c_says_what_is_kept_and_the_rerun_resumes(tmp_path: Path) -> None:
    journal = tmp_path / "int" / "predictions" / f"{TASK}.jsonl"
    proc = slow_run(tmp_path, "int")
    try:
        wait_for(lambda: journal_lines(journal) >= 2, proc, "journaled samples")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "interrupted: journaled predictions are kept; rerun the same command to resume" \
        in err
    assert not (tmp_path / "int" / "run.lock").exists()
    kept = journal_lines(journal)
    assert kept >= 2
    done = subprocess.run(proc.args, capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    entry = json.loads((tmp_path / "int" / "metrics.json").read_text())["tasks"][TASK]
    assert entry["throughput"]["resumed"] == kept and entry["n_missing"] == 0


def test_ctrl_c_on_a_terminal_takes_the_bar_down(tmp_path: Path) -> None:
    """On a terminal the progress bar is erased and the cursor shown again before the line."""
    pty = pytest.importorskip("pty")
    import select

    journal = tmp_path / "tty" / "predictions" / f"{TASK}.jsonl"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the pseudo-terminal
        os.environ.update(ENV)
        os.execv(sys.executable, [sys.executable, "-m", "infmllm_eval",
                                  *slow_args(tmp_path, "tty")])
    shown, sent, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        if not sent and journal_lines(journal) >= 2:
            os.kill(pid, signal.SIGINT)
            sent = True
        if select.select([fd], [], [], 0.05)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child is gone
                break
            if not chunk:
                break
            shown += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert sent and os.waitstatus_to_exitcode(status) == 130, shown[-2000:]
    tail = shown.rsplit(b"\x1b[?25h", 1)  # the cursor is shown again ...
    assert len(tail) == 2 and b"interrupted: journaled predictions are kept" in tail[1]
    assert b"Traceback" not in shown


def test_help_and_usage_errors(cli: Cli) -> None:
    res = cli("run", "--help")
    assert res.code == 0 and "--run-name" in res.out
    res = cli("run", "--limt", "3")
    assert res.code == 2 and res.out == ""
    assert res.err.strip().splitlines() == [
        "error: No such option: --limt (Possible options: --limit); "
        "see 'infmllm-eval run --help'"]


# rank 1 reaches generate_task late: it waits (up to 4 s) until rank 0 has journaled something.
# When every rank planned from its own read of the journal, rank 1 then saw rank 0's fresh
# appends and planned differently (samples lost or generated twice); with rank 0's plan
# broadcast, rank 0 waits for rank 1 in the broadcast and writes nothing before it.
LATE_RANK = """
import os, sys, time
import infmllm_eval.engine.run as run_module
from infmllm_eval.cli import main

real = run_module.generate_task

def late(spec, samples, model, journal, *args, **kwargs):
    if os.environ["RANK"] == "1":
        first = journal.shard(0).path
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and not (first.exists() and first.stat().st_size):
            time.sleep(0.01)
    return real(spec, samples, model, journal, *args, **kwargs)

run_module.generate_task = late
sys.argv = ["infmllm-eval", *sys.argv[1:]]
main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_rank_that_starts_late_loses_and_repeats_nothing(tmp_path: Path) -> None:
    script = tmp_path / "late_rank.py"
    script.write_text(LATE_RANK)
    args = run_args(tmp_path / "runs", "late", "--model-option", f"answers={ANSWERS}",
                    "--model-option", "delay=0.05", "--batch-size", "1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(free_port()), str(script)]
    done = subprocess.run([*launcher, *args], capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "late"
    entry = json.loads((run_dir / "metrics.json").read_text())["tasks"][TASK]
    expected = answers()
    ranks = entry["throughput"]["ranks"]
    assert [r["generated"] for r in ranks] and all(r["generated"] > 0 for r in ranks)
    assert sum(r["generated"] for r in ranks) == len(expected)  # each sample exactly once
    assert entry["n_missing"] == 0
    lines = (run_dir / "predictions" / f"{TASK}.jsonl").read_text().splitlines()
    assert {json.loads(line)["id"]: json.loads(line)["prediction"] for line in lines} == expected
    assert len(lines) == len(expected)
    assert not (run_dir / "run.lock").exists()


def test_atomic_writes_get_the_usual_permissions(tmp_path: Path) -> None:
    """Run outputs are readable by colleagues as far as the umask allows (mkstemp alone would
    leave them 0600 on a shared cluster)."""
    from infmllm_eval.jsonio import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
