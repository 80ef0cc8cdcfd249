"""Opening sample images: file paths and ``data:`` URIs (images embedded in TSV files)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from infmllm_eval.errors import BadInputError

DATA_URI_PREFIX = "data:image/"


def data_uri(b64: str, kind: str = "jpeg") -> str:
    """An image reference for base64 bytes held in memory (e.g. a row of an MMBench TSV)."""
    return f"{DATA_URI_PREFIX}{kind};base64,{b64}"


def image_bytes(ref: str) -> bytes:
    """The encoded bytes behind a reference (a path or a ``data:image/...;base64,`` URI)."""
    if ref.startswith(DATA_URI_PREFIX):
        _, _, payload = ref.partition(",")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise BadInputError(f"embedded image {ref[:40]}…: invalid base64") from None
    try:
        return Path(ref).read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"image not found: {ref}") from None
    except OSError as exc:
        raise BadInputError(f"cannot read image {ref}: {exc.strerror}") from None


def image_identity(ref: str) -> str:
    """What makes two references the same image: path + size + mtime for a file (a changed
    file is a new image), a hash of the bytes for an embedded one."""
    if ref.startswith(DATA_URI_PREFIX):
        return "sha1:" + hashlib.sha1(ref.encode("ascii", "ignore")).hexdigest()
    try:
        st = os.stat(ref)
    except OSError:
        return ref
    return f"{ref}|{st.st_size}|{st.st_mtime_ns}"


def load_image(ref: str) -> Image.Image:
    """Decode to RGB with EXIF orientation applied (alpha dropped as the original pipeline's
    ``convert("RGB")`` does); corrupt files and decompression bombs (more pixels than
    Pillow's limit, checked from the header before decoding) are refused with a
    BadInputError naming the image. Safe to call from several threads."""
    label = ref if not ref.startswith(DATA_URI_PREFIX) else ref[:40] + "…"
    data = image_bytes(ref)
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and img.size[0] * img.size[1] > limit:
            raise Image.DecompressionBombError(f"{img.size[0]}x{img.size[1]}")
        img.load()
        img = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError:
        raise BadInputError(f"image {label}: too many pixels (decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInputError(f"image {label}: cannot decode ({exc})") from None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")
    return img if img.mode == "RGB" else img.convert("RGB")
