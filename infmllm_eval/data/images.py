"""Opening sample images: file paths and ``data:`` URIs (images embedded in TSV files)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os

from PIL import Image, ImageOps, UnidentifiedImageError

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import InputPolicy, open_checked

DATA_URI_PREFIX = "data:image/"


def data_uri(b64: str, kind: str = "jpeg") -> str:
    """An image reference for base64 bytes held in memory (e.g. a row of an MMBench TSV)."""
    return f"{DATA_URI_PREFIX}{kind};base64,{b64}"


#: the largest image file read: above any real benchmark image (COCO, TextVQA, MME, GQA images
#: are at most a few MB) and above the largest image Pillow decodes at all (its
#: MAX_IMAGE_PIXELS, ~89.5 Mpx, as uncompressed 8-bit RGBA is 358 MB); checked before reading
MAX_IMAGE_BYTES = 512 << 20

#: only a regular file (or a link to one) of at most MAX_IMAGE_BYTES; an image may start with a
#: NUL byte (ICO, TGA, WBMP)
_IMAGE_FILE = InputPolicy(
    max_bytes=MAX_IMAGE_BYTES, pipes=False, nul=False,
    not_regular="cannot read image {label}: it is {kind}, not an image file",
    too_large="image {label}: {mb}, over the {limit_mb} MB limit for an image file "
              "(is it an image?)")


def image_bytes(ref: str) -> bytes:
    """The encoded bytes behind a reference (a path or a ``data:image/...;base64,`` URI).

    Only a regular file (or a link to one) is read, and only up to MAX_IMAGE_BYTES: a FIFO, a
    device such as /dev/zero or a folder is refused without reading it (a FIFO is not even
    opened for reading, which would block), and so is a larger file, before it is read."""
    if ref.startswith(DATA_URI_PREFIX):
        _, _, payload = ref.partition(",")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise BadInputError(f"embedded image {ref[:40]}…: invalid base64") from None
    try:
        fh = open_checked(ref, "image", _IMAGE_FILE, label=_name(ref))
        assert not isinstance(fh, bytes)  # the policy refuses pipes
        with fh:
            data = fh.read(MAX_IMAGE_BYTES + 1)
    except FileNotFoundError:
        raise BadInputError(f"image not found: {_name(ref)}") from None
    except OSError as exc:
        raise BadInputError(f"cannot read image {_name(ref)}: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the name
        raise BadInputError(f"image {shown(ref)}: not a valid file name") from None
    if len(data) > MAX_IMAGE_BYTES:  # it grew since it was checked
        raise BadInputError(_IMAGE_FILE.too_large.format(label=_name(ref), mb="larger",
                                                         limit_mb=MAX_IMAGE_BYTES >> 20))
    return data


def _name(ref: str, limit: int = 240) -> str:
    """An image path for a message: the name comes from a data file, so a very long one is
    cut in the middle (the folder and the end of the name stay readable)."""
    return ref if len(ref) <= limit else f"{ref[:limit // 2]}…{ref[-(limit // 2):]}"


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
    label = _name(ref) if not ref.startswith(DATA_URI_PREFIX) else ref[:40] + "…"
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
