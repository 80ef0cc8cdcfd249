#!/usr/bin/env bash
# Golden snapshot of the user-visible outputs on the bundled data: the toy demo run, the
# replay demo, `score` on the bundled predictions, and reports (md, csv, latex, html) and a
# gate over those runs. Timings, run ids, dates and absolute paths are masked, so two
# checkouts can be compared byte for byte:
#   bash tools/golden.sh OUT_DIR [CHECKOUT]   (CHECKOUT defaults to this one)
#   diff -r OLD_OUT NEW_OUT
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd); root=$(cd "${2:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
ie() { PYTHONPATH="$root" python -m infmllm_eval "$@"; }
ie demo --output-dir "$work/toy" > /dev/null
ie demo --replay --output-dir "$work/replay" > /dev/null
toy=$(ls -d "$work"/toy/*/); replay=$(ls -d "$work"/replay/*/)
cp "$toy/metrics.json" "$out/toy.metrics.json"; cp "$replay/metrics.json" "$out/replay.metrics.json"
for p in infmllm_eval/demo/predictions/*.jsonl; do
  t=$(basename "$p" .jsonl)
  ie score --task "$t" --predictions "$p" --data-root infmllm_eval/demo/data \
     --output "$out/score.$t.json" > /dev/null
done
for f in md csv tex html; do
  ie report "$toy" "$replay" --reference infmllm-paper --ci -o "$out/report.$f" > /dev/null
done
ie baseline "$toy" -o "$work/base.json" > /dev/null
ie gate "$toy" --baseline "$work/base.json" > "$out/gate.txt" || true
# mask what differs between two runs of the same thing
python - "$out" "$work" "$root" <<'PY'
import json, pathlib, re, sys
out, work, root = sys.argv[1:]
masks = [(re.escape(work), "<WORK>"), (re.escape(root), "<ROOT>"),
         (r"demo-(toy|replay)-\d{8}-\d{6}(-\d+)?|infmllm-tiny-toy-\d{8}-\d{6}(-\d+)?|infmllm-tiny-toy-[0-9a-f]{10}", "<RUN>"),
         (r"(scripted|replay)[-\w]*-\d{8}-\d{6}(-\d+)?|(scripted|replay)[-\w]*-[0-9a-f]{10}", "<RUN>"),
         (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:?\d\d| UTC)?", "<DATE>")]
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()
                if k not in ("throughput", "engine", "wall_s", "timings", "created", "run_id")}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v
for p in sorted(pathlib.Path(out).iterdir()):
    text = p.read_text()
    if p.suffix == ".json":
        text = json.dumps(clean(json.loads(text)), indent=1, sort_keys=True)
    for pat, rep in masks:
        text = re.sub(pat, rep, text)
    p.write_text(text)
PY
ls "$out"
