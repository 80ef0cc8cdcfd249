#!/usr/bin/env bash
# `infmllm-eval score` on a VQAv2-val-sized synthetic set, alternating fresh processes of an
# older checkout (OLD) and this one, so both see the same machine load; prints each wall time
# and whether the two metrics files agree (apart from the predictions path).
# Usage: git worktree add /tmp/old <rev>; bash bench/score_ab.sh /tmp/old [RUNS]
set -euo pipefail
old=$(cd "$1" && pwd); runs=${2:-5}; new=$(cd "$(dirname "$0")/.." && pwd)
data=$(mktemp -d)
python "$new/bench/synth_vqa.py" "$data" > /dev/null
for i in $(seq "$runs"); do
  for side in old new; do
    root=$old; [ "$side" = new ] && root=$new
    start=$(date +%s.%N)
    PYTHONPATH=$root python -m infmllm_eval score --task vqav2_val \
      --predictions "$data/predictions.jsonl" --file "questions=$data/questions.json" \
      --file "annotations=$data/annotations.json" --output "$data/$side.json" > /dev/null
    echo "$side run $i: $(echo "$(date +%s.%N) - $start" | bc) s"
  done
done
python - "$data" <<'PY'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/{s}.json")) for s in ("old", "new"))
a.pop("predictions"); b.pop("predictions")
print("metrics identical:", a == b)
PY
rm -rf "$data"
