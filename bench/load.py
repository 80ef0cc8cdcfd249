"""Benchmark: loading a >1B-parameter InfMLLM checkpoint, the old path against the lean one.

Writes a synthetic checkpoint of the real architecture at a smaller size (1.15 B parameters,
bf16, original key names, safetensors shards of <= 1 GB with an index, as the hub shards),
then, each in a fresh process on a warm page cache:
- read: reading every byte of the files (the floor any loader has to beat);
- before: the path of release 0.x (fp32 model with random init, tensors copied in, cast to
  bf16), with its SHA-256 of the files;
- after: open headers, place, check, build on the meta device, materialise in bf16; SHA-256
  computed (first load) and taken from the hash cache (later loads); and the same followed by
  the NaN/inf scan a run does (every weight read once: the lean load maps the files, pages
  are read on first use).
Wall time and peak RSS (VmHWM, includes the interpreter and torch, reported apart). JSON
to stdout. Usage: python bench/load.py [--folder /tmp/infmllm-load-bench] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ARCH = {"image_size": 224, "patch_size": 14, "vit_width": 1408, "vit_depth": 8, "vit_heads": 16,
        "vit_mlp_ratio": 4.3637, "pool_out_size": 4, "llm_hidden": 2048, "llm_layers": 16,
        "llm_heads": 16, "llm_intermediate": 5504, "vocab": 32000, "rms_norm_eps": 1e-5}
SHARD_BYTES = 10**9


def write_checkpoint(folder: Path) -> int:
    """The synthetic bf16 checkpoint (seeded normal values, scaled); returns its bytes."""
    from safetensors.torch import save_file

    from infmllm_eval.modeling import InfMLLMConfig
    from infmllm_eval.modeling.arch_check import model_shapes

    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    shapes = model_shapes(InfMLLMConfig.from_dict(ARCH))
    shard: dict[str, torch.Tensor] = {}
    weight_map: dict[str, str] = {}
    names: list[list[str]] = []

    def flush() -> None:
        name = f"model-{len(names) + 1:05d}.safetensors"
        save_file(shard, str(folder / name), metadata={"format": "pt"})
        names.append(list(shard))
        weight_map.update(dict.fromkeys(shard, name))
        shard.clear()

    size = 0
    for key, shape in shapes.items():
        tensor = (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)
        if size + tensor.nbytes > SHARD_BYTES and shard:
            flush()
            size = 0
        shard[key] = tensor
        size += tensor.nbytes
    flush()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return sum((folder / n).stat().st_size for n in set(weight_map.values()))


def _peak_rss() -> int:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode: str, folder: str) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    from infmllm_eval.modeling import InfMLLM, InfMLLMConfig, load_weights, read_checkpoint
    from infmllm_eval.modeling.weights import open_weights

    config = InfMLLMConfig.from_dict(ARCH)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    base = _peak_rss()
    started = time.perf_counter()
    if mode == "read":
        total = 0
        for file in sorted(Path(folder).glob("*.safetensors")):
            with file.open("rb") as handle:
                while chunk := handle.read(8 << 20):
                    total += len(chunk)
    elif mode == "before":
        model = InfMLLM(config)
        ckpt = read_checkpoint(folder)
        load_weights(model, ckpt.tensors)
        model = model.to_dtype(torch.bfloat16).eval()
        digest = ckpt.sha256
    else:
        ws = open_weights(folder)
        ws.check(config, "bench", strict=True, interpolate_pos=False)
        model, _ = ws.build(config, torch.device("cpu"), torch.bfloat16, "sdpa", 0)
        digest = ws.sha256
        if mode.endswith("scanned"):  # what a run does next: every weight read once
            from infmllm_eval.adapters.infmllm import _warn_non_finite

            _warn_non_finite(model, folder, torch.bfloat16)
    wall = time.perf_counter() - started
    peak = _peak_rss()
    out = {"mode": mode, "wall_s": round(wall, 3), "peak_rss": peak, "base_rss": base}
    if mode != "read":
        out["sha256"] = digest[:12]
    return out


def measure(mode: str, folder: Path, hash_cache: str) -> dict[str, Any]:
    env = {**os.environ, "INFMLLM_EVAL_HASH_CACHE": hash_cache}
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--folder", str(folder)],
                          check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir())
                        / "infmllm-load-bench")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint afterwards")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, str(args.folder))))
        return
    from infmllm_eval.modeling import InfMLLMConfig

    if not (args.folder / "model.safetensors.index.json").is_file():
        write_checkpoint(args.folder)
    nbytes = sum(f.stat().st_size for f in args.folder.glob("*.safetensors"))
    cache = tempfile.mkdtemp(prefix="load-bench-hash-")
    try:
        measure("read", args.folder, "off")  # warm the page cache
        rows = [measure("read", args.folder, "off"), measure("before", args.folder, "off"),
                measure("after", args.folder, cache + "/h.json"),  # first load: hashes
                measure("after", args.folder, cache + "/h.json"),  # hash remembered
                measure("after+scanned", args.folder, cache + "/h.json")]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(args.folder, ignore_errors=True)
    rows[2]["mode"], rows[3]["mode"] = "after (first load, hashing)", "after (hash cached)"
    read = rows[0]["wall_s"]
    for row in rows:
        row["x_read_time"] = round(row["wall_s"] / read, 2)
        row["rss_over_base_x_ckpt"] = round((row["peak_rss"] - row["base_rss"]) / nbytes, 2)
    params = InfMLLMConfig.from_dict(ARCH).parameter_count()
    print(json.dumps({"parameters": params, "checkpoint_bytes": nbytes, "cpus": os.cpu_count(),
                      "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
