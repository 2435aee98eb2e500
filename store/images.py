"""Sticker images: checked by what Pillow finds in the bytes, never by the file name."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from config.errors import InvalidInput

ALLOWED_FORMATS = {"PNG": "png", "WEBP": "webp", "GIF": "gif"}
MAX_SIDE = 512
MAX_BYTES = 500 * 1024
THUMB_SIDE = 128


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    format: str  # PNG, WEBP or GIF
    extension: str
    width: int
    height: int
    is_animated: bool


def _bad(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_image", fields={field: [message]})


def read_upload(upload, *, field: str = "image", max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of an uploaded file, refusing anything over the limit before reading it all."""
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise _bad(f"The file is larger than {max_bytes // 1024} KB.", field)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _bad(f"The file is larger than {max_bytes // 1024} KB.", field)
    return data


def check_image(data: bytes, *, field: str = "image") -> CheckedImage:
    """Accept PNG, WebP or GIF of at most 512×512 and 500 KB, or raise `InvalidInput`."""
    if not data:
        raise _bad("The file is empty.", field)
    if len(data) > MAX_BYTES:
        raise _bad(f"The file is larger than {MAX_BYTES // 1024} KB.", field)
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            animated = bool(getattr(img, "is_animated", False))
            if fmt not in ALLOWED_FORMATS:
                raise _bad("Only PNG, WebP or GIF images are accepted.", field)
            if width > MAX_SIDE or height > MAX_SIDE or width < 1 or height < 1:
                raise _bad(f"The image must be at most {MAX_SIDE}×{MAX_SIDE} pixels.", field)
        # verify() walks the whole file and catches truncated or corrupt data; it needs a
        # fresh image object.
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _bad("The file is not a readable PNG, WebP or GIF image.", field)
    return CheckedImage(
        data=data,
        format=fmt,
        extension=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        is_animated=animated,
    )


def make_thumbnail(data: bytes, *, side: int = THUMB_SIDE) -> bytes:
    """A small PNG of the first frame, for lists and pickers."""
    with Image.open(io.BytesIO(data)) as img:
        img.seek(0)
        frame = img.convert("RGBA")
        frame.thumbnail((side, side))
        out = io.BytesIO()
        frame.save(out, format="PNG", optimize=True)
        return out.getvalue()


def demo_png(*, color: tuple[int, int, int], text: str = "", side: int = 256) -> bytes:
    """A small generated sticker for demo data and tests."""
    from PIL import ImageDraw

    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((8, 8, side - 8, side - 8), fill=(*color, 255))
    if text:
        draw.text((side // 3, side // 2 - 6), text[:8], fill=(255, 255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
