"""Read InfMLLM checkpoints (.pth/.pt/.bin, .safetensors, sharded folders) and hash them."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import threading
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch
from torch import Tensor

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import decode_json
from infmllm_eval.modeling import hash_cache

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")
DIR_CANDIDATES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")
_CHUNK = 8 << 20  # with sequential read-ahead: ~3x the cold-disk throughput of 1 MiB reads
MAX_INDEX_BYTES = 64 << 20  # a real 70B index is ~100 KB


@dataclass
class Checkpoint:
    """The tensors of a checkpoint and the SHA-256 of exactly the files they were read from.

    The hash is computed by a thread that reads the files while the caller uses the tensors
    (they are memory-mapped: copying them into a model reads the same pages), so ``sha256``
    waits for it; ``cancel()`` stops it when the checkpoint is given up."""

    tensors: dict[str, Tensor]
    files: list[Path]
    hasher: _Hasher = field(repr=False)

    @property
    def sha256(self) -> str:
        """SHA-256 as defined by checkpoint_sha256 (waits for the hashing thread)."""
        return self.hasher.result()[0]

    @property
    def size(self) -> int:
        """Bytes read and hashed."""
        return self.hasher.result()[1]

    def cancel(self) -> None:
        """Stop hashing (the checkpoint was refused)."""
        self.hasher.cancel()


@dataclass
class _Plan:
    """The files a checkpoint path stands for: one file, or an index and its shards."""

    files: list[Path]
    root: Path
    weight_map: dict[str, str] | None = None


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file or folder, on CPU, with wrappers and `module.` removed."""
    return read_checkpoint(path).tensors


def read_checkpoint(path: str | Path, hash_now: bool = True) -> Checkpoint:
    """Load a checkpoint (lazily: safetensors and zip .pth/.bin tensors are memory-mapped, so
    only headers are read here) and hash every byte, in one pass over the files: a thread
    hashes the files while they are used (the page cache serves the second reader); with
    ``hash_now=False`` the hash is computed when first asked for. See checkpoint_sha256 for
    what the hash covers; a hash already computed for the same files (same size, times and
    inode) is taken from the cache (hash_cache.py)."""
    plan = _plan(path)
    hasher = _Hasher(plan)
    if hash_now:
        hasher.start()
    try:
        tensors = _load_plan(plan)
    except BaseException:
        hasher.cancel()
        raise
    return Checkpoint(tensors, plan.files, hasher)


def checkpoint_sha256(path: str | Path) -> str:
    """SHA-256 of the bytes a checkpoint is loaded from. One file (or a folder holding one
    model.safetensors / pytorch_model.bin): the file's bytes. A sharded checkpoint (an
    *.index.json, or a folder holding one): the index then every shard it names, in sorted
    order, each as its path relative to the index, its size and its bytes - so swapping a
    shard changes the hash, while unrelated files in the folder do not."""
    return _Hasher(_plan(path)).result()[0]


def _plan(path: str | Path) -> _Plan:
    if not str(path).strip():
        raise BadInputError("checkpoint path is empty")
    try:
        return _plan_files(Path(path).expanduser())
    except OSError as exc:  # a name too long, a permission denied ...
        raise BadInputError(f"checkpoint {shown(str(path))} cannot be opened: "
                            f"{_os_reason(exc)}") from None


def _plan_files(path: Path) -> _Plan:
    if path.is_dir():
        for name in DIR_CANDIDATES:
            if (path / name).is_file():
                return _plan_files(path / name)
        raise BadInputError(f"checkpoint folder {path} has none of {', '.join(DIR_CANDIDATES)}")
    if not path.exists():
        raise BadInputError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise BadInputError(f"checkpoint {path} is not a regular file; give a checkpoint file "
                            "or folder")
    if path.name.endswith(".index.json"):
        weight_map = _read_index(path)
        shards = [_shard(path, name) for name in sorted(set(weight_map.values()))]
        return _Plan([path, *shards], path.parent, weight_map)
    _check_suffix(path, "checkpoint")
    return _Plan([path], path.parent)


def _check_suffix(path: Path, what: str) -> None:
    if path.suffix != ".safetensors" and path.suffix not in TORCH_SUFFIXES:
        raise BadInputError(f"{what} {path}: unknown file type (expected .pth, .pt, .bin, "
                            ".safetensors, a *.index.json or a folder)")


def _read_index(index: Path) -> dict[str, str]:
    if index.stat().st_size > MAX_INDEX_BYTES:
        raise BadInputError(f"checkpoint index {index} is larger than "
                            f"{MAX_INDEX_BYTES >> 20} MB: not a checkpoint index")
    try:
        data = decode_json(index.read_bytes(), index)  # refuses duplicated keys
        weight_map = data["weight_map"]
    except BadInputError as exc:  # malformed JSON, a duplicated key …: named by decode_json
        raise BadInputError(f"checkpoint index {index} has no readable weight_map: "
                            f"{str(exc).removeprefix(f'{index}: ')}") from None
    except (OSError, KeyError, TypeError) as exc:
        raise BadInputError(f"checkpoint index {index} has no readable weight_map: "
                            f"{_first_line(exc)}") from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise BadInputError(f"checkpoint index {index}: weight_map must be a non-empty object")
    for key, shard in weight_map.items():
        if not isinstance(shard, str) or not shard:
            raise BadInputError(f"checkpoint index {index}: weight_map[{shown(key)}] is "
                                f"{shown(shard)}, not a shard file name")
    return weight_map


def _shard(index: Path, name: str) -> Path:
    """A shard named by an index: a relative path inside the index's folder, a regular file."""
    parts = PureWindowsPath(name).parts if "\\" in name else PurePosixPath(name).parts
    if "\0" in name or len(name) > 1024:
        raise _shard_error(index, name, "is not a valid file name")
    if (PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute()
            or PureWindowsPath(name).drive or ".." in parts):
        raise _shard_error(index, name, "is outside the index's folder; shards must be files "
                           "next to the index (relative names without '..')")
    shard = index.parent / name
    try:
        shard.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _shard_error(index, name, f"cannot be opened: {_os_reason(exc)}") from None
    if not shard.exists():
        raise _shard_error(index, name, "does not exist")
    if not shard.is_file():
        raise _shard_error(index, name, "is not a regular file")
    _check_suffix(shard, f"checkpoint index {index}: shard")
    return shard


def _shard_error(index: Path, name: str, problem: str) -> BadInputError:
    return BadInputError(f"checkpoint index {index} names shard {shown(name)}, which {problem}")


def _load_plan(plan: _Plan) -> dict[str, Tensor]:
    if plan.weight_map is None:
        return _normalize(_load_file(plan.files[0]), plan.files[0])
    index, shards = plan.files[0], plan.files[1:]
    merged: dict[str, Tensor] = {}
    origin: dict[str, Path] = {}
    listed: set[str] = set()
    for shard in shards:
        raw = _load_file(shard)
        if isinstance(raw, Mapping):
            listed.update(map(str, raw))
        for key, value in _normalize(raw, shard).items():
            if key in merged:
                raise BadInputError(f"checkpoint index {index}: tensor {shown(key)} is in two "
                                    f"shards ({origin[key].name} and {shard.name}); a sharded "
                                    "checkpoint holds each tensor once")
            merged[key], origin[key] = value, shard
    absent = [key for key in plan.weight_map if key not in listed and key not in merged]
    if absent:
        raise BadInputError(f"checkpoint index {index}: {len(absent)} key(s) listed in weight_map "
                            f"are in no shard: {_few(absent)}")
    return merged


def _load_file(path: Path) -> object:
    return _load_safetensors(path) if path.suffix == ".safetensors" else _load_torch(path)


def _load_torch(path: Path) -> object:
    try:
        with warnings.catch_warnings():  # TypedStorage deprecation etc.: not the user's concern
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True,
                              mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        detail = re.search(r"(Unsupported (global|operand)[^\n]*|invalid load key[^\n]*)",
                           str(exc))
        raise BadInputError(
            f"checkpoint {path} was refused by torch.load(weights_only=True): it is not a plain "
            "tensor checkpoint (it may be a pickle with code, or not a PyTorch file)"
            + (f" [{detail.group(0).strip()[:200]}]" if detail else "")) from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, NotImplementedError, MemoryError, RecursionError,
            zipfile.BadZipFile) as exc:
        reason = _first_line(exc).split(" In PyTorch 2.6")[0]  # not its weights_only=False advice
        raise BadInputError(f"checkpoint {path} cannot be read: {reason}") from None


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError, MemoryError) as exc:
        raise BadInputError(f"checkpoint {path} is not a readable safetensors file: "
                            f"{_first_line(exc)}") from None


def _normalize(raw: object, path: Path) -> dict[str, Tensor]:
    """Unwrap model_state_dict/state_dict/model, check the entries, strip `module.`."""
    while isinstance(raw, Mapping):
        inner = next((raw[k] for k in WRAPPER_KEYS
                      if k in raw and isinstance(raw[k], Mapping)), None)
        if inner is None:
            break
        raw = inner
    if not isinstance(raw, Mapping):
        raise BadInputError(f"checkpoint {path} holds a {type(raw).__name__}, not a state dict")
    out: dict[str, Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, Tensor):
            raise BadInputError(f"checkpoint {path}: entry {shown(key)} is a "
                                f"{type(value).__name__}, not a tensor")
        kind = ("a meta tensor (it has no data)" if value.is_meta
                else "a quantized tensor" if value.is_quantized
                else f"a {value.layout} tensor" if value.layout != torch.strided else "")
        if kind:
            raise BadInputError(f"checkpoint {path}: entry {shown(key)} is {kind}; only dense "
                                "floating-point weights can be loaded (save the state dict of "
                                "a materialized, unquantized model)")
        name = str(key).removeprefix("module.")
        if name in out:
            raise BadInputError(f"checkpoint {path}: key {shown(name)} appears twice once the "
                                "'module.' prefix is removed")
        out[name] = value
    if not out:
        raise BadInputError(f"checkpoint {path} holds no tensors")
    return out


class _Hasher(threading.Thread):
    """Streams the files of a plan through SHA-256 (in a thread when started; hashlib releases
    the GIL on large updates, so it runs alongside deserialization)."""

    def __init__(self, plan: _Plan) -> None:
        super().__init__(daemon=True, name="checkpoint-sha256")
        self.plan = plan
        self._stop_flag = threading.Event()
        self._digest = ""
        self._size = 0
        self._error: BaseException | None = None
        self._ran = False

    def run(self) -> None:
        self._ran = True
        try:
            self._hash()
        except Exception as exc:  # kept for result(): a thread's exception is lost
            self._error = exc

    def _hash(self) -> None:
        key = hash_cache.stat_key(self.plan.files)
        cached = hash_cache.lookup(key)
        if cached is not None:
            self._digest, self._size = cached
            return
        self._compute()
        if self._digest:
            hash_cache.store(key, self._digest, self._size)

    def _compute(self) -> None:
        digest = hashlib.sha256()
        framed = self.plan.weight_map is not None
        for file in self.plan.files:
            if framed:
                rel = file.relative_to(self.plan.root).as_posix()
                digest.update(f"{rel}\0{file.stat().st_size}\0".encode())
            for chunk in _chunks(file):
                if self._stop_flag.is_set():
                    return
                digest.update(chunk)
                self._size += len(chunk)
        self._digest = digest.hexdigest()

    def cancel(self) -> None:
        self._stop_flag.set()
        if self.is_alive():
            self.join()

    def result(self) -> tuple[str, int]:
        if self.is_alive():
            self.join()
        elif not self._ran:  # not started: hash now, in this thread
            self.run()
        if isinstance(self._error, OSError):
            raise BadInputError(f"checkpoint {self.plan.files[0]}: cannot be read while "
                                f"hashing: {_first_line(self._error)}")
        if self._error is not None:
            raise RuntimeError(f"hashing {self.plan.files[0]} failed") from self._error
        return self._digest, self._size


def file_sha256(path: Path) -> str:
    """SHA-256 of one file's bytes, streamed."""
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while chunk := handle.read(_CHUNK):
            yield chunk


def _name(key: str) -> str:
    """A key from a checkpoint as shown in a message: as is when short and printable."""
    return key if len(key) <= 80 and key.isprintable() else shown(key)


def _few(items: list[str], limit: int = 5) -> str:
    text = ", ".join(_name(item) for item in items[:limit])
    return text + (f", … (+{len(items) - limit} more)" if len(items) > limit else "")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
