"""The LaTeX table compiles with pdflatex, and the HTML report renders in headless Chromium
with every table and chart and no console error. Both skip, saying why, when the tool is not
installed (CI installs them: texlive-latex-base texlive-latex-recommended chromium).

How console errors are caught (two independent nets):
1. A probe script is put in a copy of the page as the first element of <head>, before the
   report's Content-Security-Policy (which forbids scripts from that point on). It records
   window error events (script errors and failed resource loads, caught in the capture
   phase), CSP violations and console.error calls, and on load writes them, with what it
   measured of every table and image, into a <pre> that --dump-dom prints.
2. Chromium runs with --enable-logging=stderr --v=0, which logs every console message as a
   CONSOLE line on stderr; the report page must produce none.
The screenshot is taken of the unmodified report. Artifacts (report, screenshot, LaTeX, PDF)
go to $INFMLLM_EVAL_ARTIFACTS, default results/runs/report-checks/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infmllm_eval.report.reference import load_reference
from infmllm_eval.report.render import render_report
from infmllm_eval.report.runs import RunResult, load_runs
from tests.conftest import ROOT
from tests.test_report_fixtures import make_runs, tasks_a, write_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--hide-scrollbars")
SPECIAL_NAME = r"odd_model 100% & co #1 $x$ {y} ~z ^w \v <a> |b| [c]"
PROBE = """<script>
window.__probe = {errors: []};
addEventListener("error", e => __probe.errors.push("error: " + (e.message ||
  (e.target && (e.target.src || e.target.href)) || "unknown")), true);
addEventListener("unhandledrejection", e => __probe.errors.push("rejection: " + e.reason));
addEventListener("securitypolicyviolation", e =>
  __probe.errors.push("csp: " + e.violatedDirective + " " + e.blockedURI));
const consoleError = console.error;
console.error = (...args) => { __probe.errors.push("console: " + args.join(" "));
  consoleError.apply(console, args); };
addEventListener("load", () => {
  const size = el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  __probe.tables = [...document.querySelectorAll("table")].map(t =>
    ({id: t.id, rows: t.rows.length, size: size(t)}));
  __probe.images = [...document.querySelectorAll("img")].map(i =>
    ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0, size: size(i)}));
  __probe.height = document.documentElement.scrollHeight;
  const out = document.createElement("pre");
  out.id = "__probe";
  out.textContent = JSON.stringify(__probe);
  document.body.appendChild(out);
});
</script>
"""


def artifacts() -> Path:
    folder = Path(os.environ.get("INFMLLM_EVAL_ARTIFACTS",
                                 ROOT / "results" / "runs" / "report-checks"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report_runs(tmp_path: Path) -> list[RunResult]:
    """The fixture runs plus a model whose name holds every LaTeX special character."""
    run_a, run_b = make_runs(tmp_path)
    odd = write_run(tmp_path, "odd", SPECIAL_NAME, tasks_a())
    return load_runs([run_a, run_b, odd])


@pytest.mark.slow
def test_latex_compiles_with_pdflatex(tmp_path: Path) -> None:
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base "
                    "texlive-latex-recommended)")
    table = render_report(report_runs(tmp_path), "latex", [load_reference("infmllm-paper")],
                          baseline="infmllm-7b", show_ci=True)
    (tmp_path / "table.tex").write_text(table, encoding="utf-8")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
        "\\usepackage{graphicx}\n\\begin{document}\n\\input{table.tex}\n\\end{document}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert not re.search(r"^! |Undefined control sequence|Missing \$ inserted", log, re.M)
    out = artifacts()
    shutil.copy(tmp_path / "table.tex", out / "leaderboard.tex")
    shutil.copy(tmp_path / "doc.pdf", out / "leaderboard.pdf")


def _chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def _run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    page = render_report(report_runs(tmp_path), "html", [load_reference("infmllm-paper")],
                         baseline="infmllm-7b", show_ci=True)
    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>\n", "<head>\n" + PROBE, 1), encoding="utf-8")
    done = _run_browser(browser, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                        "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="__probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading:\n{done.stderr[-3000:]}"
    probe = json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">")
                       .replace("&amp;", "&"))
    assert probe["errors"] == []
    assert [line for line in done.stderr.splitlines() if "CONSOLE" in line] == []
    expected_tables = re.findall(r'<table id="([^"]+)"', page)
    assert [t["id"] for t in probe["tables"]] == expected_tables
    assert all(t["rows"] >= 3 and min(t["size"]) > 0 for t in probe["tables"])
    expected_images = re.findall(r'<img src="[^"]*" alt="([^"]+)"', page)
    assert [i["alt"] for i in probe["images"]] == expected_images and len(expected_images) == 7
    assert all(i["loaded"] and min(i["size"]) > 50 for i in probe["images"])
    screenshot = artifacts() / "report.png"
    height = min(16000, max(800, int(probe["height"])))
    shot = _run_browser(browser, tmp_path / "profile2", f"--window-size=1400,{height}",
                        f"--screenshot={screenshot}", report.as_uri())
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    shutil.copy(report, artifacts() / "report.html")
