"""COCO caption metrics through pycocoevalcap: PTB tokenization once, then BLEU-1..4, METEOR 1.5,
ROUGE-L, CIDEr-D and, when its Stanford CoreNLP jars are installed, SPICE.

Pure functions over ``{image_key: [captions]}``: :func:`tokenize_sets` (one JVM for references
and hypotheses together), then :func:`compute_caption_metrics`. BLEU, ROUGE-L and CIDEr are
pycocoevalcap's own classes; its Java wrappers are replaced by equivalent calls (same jars,
same arguments, same METEOR protocol) that report failures as one-line errors, keep temporary
files out of site-packages and never download anything. Values are pycocoevalcap's (0-1 scale;
CIDEr up to 10).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from importlib import import_module
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

from infmllm_eval.errors import BadInputError, MissingToolError, shown

# pycocoevalcap ships no type information: its modules are loaded as Any
_bleu: Any = import_module("pycocoevalcap.bleu.bleu")
_cider: Any = import_module("pycocoevalcap.cider.cider")
_rouge: Any = import_module("pycocoevalcap.rouge.rouge")
_meteor_mod: Any = import_module("pycocoevalcap.meteor.meteor")
_spice_mod: Any = import_module("pycocoevalcap.spice.spice")
_corenlp: Any = import_module("pycocoevalcap.spice.get_stanford_models")
_ptb: Any = import_module("pycocoevalcap.tokenizer.ptbtokenizer")

Captions = Mapping[str, Sequence[str]]

PTB_JAR = Path(_ptb.__file__).parent / _ptb.STANFORD_CORENLP_3_4_1_JAR
METEOR_JAR = Path(_meteor_mod.__file__).parent / _meteor_mod.METEOR_JAR
SPICE_JAR = Path(_spice_mod.__file__).parent / _spice_mod.SPICE_JAR
SPICE_LIB = Path(_corenlp.__file__).parent / _corenlp.SPICELIB  # where SPICE looks for CoreNLP
SPICE_CORENLP = (f"{_corenlp.JAR}.jar", f"{_corenlp.JAR}-models.jar")
PUNCTUATION = frozenset(_ptb.PUNCTUATIONS)  # tokens the official tokenizer step drops

SCORERS = ("BLEU", "METEOR", "ROUGE_L", "CIDEr", "SPICE")
# characters the Java tokenizer treats as line ends: one would shift every later caption
_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\x0b\x0c\u2028\u2029", " "))


class CaptionScores(NamedTuple):
    """Corpus values and per-image values (in ``keys`` order) of each computed metric, and the
    reason for each requested metric that could not be computed."""

    corpus: dict[str, float]
    per_image: dict[str, list[float]]
    keys: list[str]
    unavailable: dict[str, str]


def find_java(user: str) -> str:
    """The java executable on PATH, or a MissingToolError naming what needs it."""
    java = shutil.which("java")
    if java is None:
        raise MissingToolError(
            f"Java not found on PATH: {user} (pycocoevalcap) runs on Java; install a Java "
            "runtime (e.g. OpenJDK 17) or put `java` on PATH")
    return java


def _first_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[0][:300] if lines else "no error output"


def tokenize(texts: Sequence[str]) -> list[str]:
    """pycocoevalcap's PTB tokenization (Stanford PTBTokenizer 3.4.1, lower-cased, one line per
    text, punctuation tokens dropped) of all ``texts`` in a single Java call."""
    if not texts:
        return []
    user = "the PTB tokenizer of the caption metrics (BLEU, METEOR, ROUGE_L, CIDEr, SPICE)"
    java = find_java(user)
    with tempfile.TemporaryDirectory(prefix="infmllm-ptb-") as tmp:
        source = Path(tmp) / "captions.txt"
        # "replace": a lone surrogate (possible in JSON text) is no character to tokenize
        source.write_bytes("\n".join(t.translate(_LINE_BREAKS) for t in texts)
                           .encode("utf-8", "replace"))
        cmd = [java, "-cp", str(PTB_JAR), "edu.stanford.nlp.process.PTBTokenizer",
               "-preserveLines", "-lowerCase", str(source)]
        try:
            proc = subprocess.run(cmd, capture_output=True, check=False)
        except OSError as exc:
            raise MissingToolError(f"cannot run Java for {user}: {exc}") from None
    if proc.returncode != 0:
        raise BadInputError(f"Java failed running {user} (exit {proc.returncode}): "
                            f"{_first_line(proc.stderr)}")
    lines = proc.stdout.decode("utf-8", "replace").split("\n")
    if len(lines) < len(texts) or any(line.strip() for line in lines[len(texts):]):
        raise BadInputError(f"Java running {user} returned {len(lines)} lines for "
                            f"{len(texts)} captions")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATION)
            for line in lines[: len(texts)]]


def tokenize_sets(gts: Captions, res: Captions) -> tuple[dict[str, list[str]],
                                                         dict[str, list[str]]]:
    """References and hypotheses tokenized together in one Java call (pycocoevalcap's
    COCOEvalCap tokenizes each set separately, lmms-eval once per metric)."""
    flat = [c for caps in gts.values() for c in caps] + [c for caps in res.values() for c in caps]
    tokens = iter(tokenize(flat))
    gts_tok = {k: [next(tokens) for _ in caps] for k, caps in gts.items()}
    res_tok = {k: [next(tokens) for _ in caps] for k, caps in res.items()}
    return gts_tok, res_tok


class _Meteor:
    """One METEOR 1.5 JVM in ``-stdio`` mode, driven as pycocoevalcap's wrapper drives it: a
    SCORE line per image returns its statistics; one EVAL line over all of them returns the
    per-image scores and then the corpus score. Lines are written from a thread, so the
    images are pipelined instead of one round trip each."""

    def __init__(self) -> None:
        java = find_java("METEOR")
        self._stderr = "no error output"
        self._err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (lives with the JVM)
        cmd = [java, "-jar", "-Xmx2G", METEOR_JAR.name, "-", "-", "-stdio", "-l", "en", "-norm"]
        try:
            self._proc = subprocess.Popen(cmd, cwd=METEOR_JAR.parent, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._err)
        except OSError as exc:
            self._err.close()
            raise MissingToolError(f"cannot start Java for METEOR: {exc}") from None

    def _fail(self, problem: str) -> BadInputError:
        self.close()
        return BadInputError(f"Java failed while computing METEOR ({problem}): {self._stderr}")

    def _exchange(self, lines: list[str], n_out: int) -> list[str]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        stdin, stdout = self._proc.stdin, self._proc.stdout
        payload = "".join(f"{line}\n" for line in lines).encode()

        def write() -> None:
            try:
                stdin.write(payload)
                stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the reader sees the end of output and reports the failure

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        out = []
        for _ in range(n_out):
            raw = stdout.readline()
            if not raw:
                writer.join()
                raise self._fail("the process ended early")
            out.append(raw.decode("utf-8", "replace").strip())
        writer.join()
        return out

    def score(self, gts: Captions, res: Captions, keys: list[str]) -> tuple[float, list[float]]:
        """Corpus METEOR and the per-image values, in ``keys`` order."""
        lines = [" ||| ".join(("SCORE", " ||| ".join(gts[k]),
                               res[k][0].replace("|||", "").replace("  ", " "))) for k in keys]
        stats = self._exchange(lines, len(lines))
        values = self._exchange(["EVAL ||| " + " ||| ".join(stats)], len(keys) + 1)
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            raise self._fail("unexpected output") from None
        return numbers[-1], numbers[:-1]

    def close(self) -> None:
        """Stop the JVM and keep its error output for messages."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(OSError):  # a pipe broken by the dead JVM
            self._proc.stdin.close()  # type: ignore[union-attr]
        if not self._err.closed:
            self._err.seek(0)
            self._stderr = _first_line(self._err.read())
            self._err.close()


def spice_unavailable() -> str | None:
    """None when SPICE can run, else why not (it is never downloaded at run time)."""
    missing = [name for name in SPICE_CORENLP if not (SPICE_LIB / name).is_file()]
    if not missing:
        return None
    return (f"unavailable: Stanford CoreNLP jars not found in {SPICE_LIB} ({', '.join(missing)});"
            " SPICE is never downloaded at run time")


def _spice(gts: Captions, res: Captions, keys: list[str]) -> tuple[float, list[float]]:
    """pycocoevalcap's SPICE call (without its parse cache); per-image F-score of 'All'."""
    java = find_java("SPICE")
    items = [{"image_id": i, "test": res[k][0], "refs": list(gts[k])} for i, k in enumerate(keys)]
    with tempfile.TemporaryDirectory(prefix="infmllm-spice-") as tmp:
        source, target = Path(tmp) / "input.json", Path(tmp) / "output.json"
        source.write_text(json.dumps(items))
        cmd = [java, "-jar", "-Xmx8G", str(SPICE_JAR), str(source), "-out", str(target),
               "-subset", "-silent"]
        proc = subprocess.run(cmd, cwd=SPICE_JAR.parent, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"Java exit {proc.returncode}: {_first_line(proc.stderr)}")
        results = json.loads(target.read_text())
    by_index = {item["image_id"]: item["scores"]["All"]["f"] for item in results}
    per_image = [math.nan if by_index[i] is None else float(by_index[i]) for i in range(len(keys))]
    return sum(per_image) / len(per_image), per_image


def _check_sets(gts: Captions, res: Captions) -> list[str]:
    keys = list(gts)
    if not keys:
        raise BadInputError("caption metrics: no images to score")
    if set(res) != set(keys):
        odd = next(iter(set(res) ^ set(keys)))
        raise BadInputError(f"caption metrics: image {shown(odd)} is not in both references and "
                            "hypotheses")
    for key in keys:
        if not gts[key]:
            raise BadInputError(f"caption metrics: image {shown(key)} has no reference caption")
        if len(res[key]) != 1:
            raise BadInputError(f"caption metrics: image {shown(key)} needs exactly one "
                                f"hypothesis, got {len(res[key])}")
    if not any(ref for key in keys for ref in gts[key]):  # pycocoevalcap's CIDEr fails then
        raise BadInputError(f"caption metrics: no reference caption of the {len(keys)} "
                            "image(s) has a word after tokenization")
    return keys


class CaptionScorer:
    """Scores tokenized caption sets; a context manager whose METEOR JVM (started on first
    use) serves every :meth:`score` call, e.g. the entire split and then each domain."""

    def __init__(self, scorers: Sequence[str] = SCORERS) -> None:
        unknown = [s for s in scorers if s not in SCORERS]
        if unknown:
            raise BadInputError(f"unknown caption metric(s) {unknown}; known: {SCORERS}")
        self.scorers = tuple(scorers)
        self._meteor: _Meteor | None = None

    def __enter__(self) -> CaptionScorer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the METEOR JVM if one was started."""
        if self._meteor is not None:
            self._meteor.close()
            self._meteor = None

    def score(self, gts: Captions, res: Captions) -> CaptionScores:
        """Every requested metric over the whole set (CIDEr's document frequencies are those
        of this set's references); ``res`` holds one hypothesis per image."""
        keys = _check_sets(gts, res)
        gts_d = {k: list(gts[k]) for k in keys}
        res_d = {k: [res[k][0]] for k in keys}
        corpus: dict[str, float] = {}
        per_image: dict[str, list[float]] = {}
        unavailable: dict[str, str] = {}

        def put(name: str, value: Any, values: Any) -> None:
            corpus[name] = float(value)
            per_image[name] = [float(v) for v in values]

        if "BLEU" in self.scorers:
            bleu, bleus = _bleu.Bleu(4).compute_score(gts_d, res_d, verbose=0)
            for n in range(4):
                put(f"Bleu_{n + 1}", bleu[n], bleus[n])
        if "METEOR" in self.scorers:
            self._meteor = self._meteor or _Meteor()
            put("METEOR", *self._meteor.score(gts_d, res_d, keys))
        if "ROUGE_L" in self.scorers:
            put("ROUGE_L", *_rouge.Rouge().compute_score(gts_d, res_d))
        if "CIDEr" in self.scorers:
            put("CIDEr", *_cider.Cider().compute_score(gts_d, res_d))
        if "SPICE" in self.scorers:
            reason = spice_unavailable()
            try:
                if reason is None:
                    put("SPICE", *_spice(gts_d, res_d, keys))
            except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
                reason = f"unavailable: SPICE failed ({exc})"
            if reason is not None:
                unavailable["SPICE"] = reason
        return CaptionScores(corpus, per_image, keys, unavailable)


def compute_caption_metrics(gts: Captions, res: Captions,
                            metrics: Sequence[str] = SCORERS) -> CaptionScores:
    """The requested metrics (names from :data:`SCORERS`) over tokenized sets, with pycocoevalcap's
    values: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, and SPICE when available."""
    with CaptionScorer(metrics) as scorer:
        return scorer.score(gts, res)
