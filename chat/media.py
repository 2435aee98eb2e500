"""Checking what people upload for image, file and voice messages — by the bytes, never
by the file name or the client's Content-Type.

Images: Pillow identifies and verifies JPEG, PNG, GIF or WebP (decompression bombs are
refused). Voice: WAV (duration from the stdlib `wave` module) or Ogg with Opus or Vorbis
(duration from the last page's granule position), at most 60 seconds.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from config.errors import InvalidInput

IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "GIF": ("image/gif", ".gif"),
    "WEBP": ("image/webp", ".webp"),
}
MAX_IMAGE_PIXELS = 40_000_000
MAX_VOICE_MS = 60_000


@dataclass(frozen=True)
class Checked:
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None


def _bad(message: str, code: str = "invalid_upload") -> InvalidInput:
    return InvalidInput(message, code=code, fields={"file": [message]})


def check_image(data: bytes) -> Checked:
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
        if fmt not in IMAGE_FORMATS:
            raise _bad("Images are JPEG, PNG, GIF or WebP.", "unsupported_image")
        if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
            raise _bad("The image is too large.", "unsupported_image")
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _bad("The file is not a readable image.", "unsupported_image")
    content_type, ext = IMAGE_FORMATS[fmt]
    return Checked(content_type=content_type, extension=ext, width=width, height=height)


def _wav_duration_ms(data: bytes) -> int:
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, frames = w.getframerate(), w.getnframes()
    except (wave.Error, EOFError, struct.error, ValueError):
        raise _bad("The WAV file is not readable.", "unsupported_audio")
    if rate <= 0:
        raise _bad("The WAV file is not readable.", "unsupported_audio")
    return int(frames * 1000 / rate)


def _ogg_duration_ms(data: bytes) -> int:
    # First page: 27-byte header + segment table, then the codec's identification packet.
    if len(data) < 28 or data[:4] != b"OggS":
        raise _bad("The Ogg file is not readable.", "unsupported_audio")
    nseg = data[26]
    body = data[27 + nseg : 27 + nseg + 64]
    if body.startswith(b"OpusHead") and len(body) >= 19:
        rate, pre_skip = 48000, struct.unpack_from("<H", body, 10)[0]
    elif body.startswith(b"\x01vorbis") and len(body) >= 16:
        rate, pre_skip = struct.unpack_from("<I", body, 12)[0], 0
    else:
        raise _bad("Voice in Ogg must be Opus or Vorbis.", "unsupported_audio")
    last = data.rfind(b"OggS")
    if rate <= 0 or last < 0 or last + 14 > len(data):
        raise _bad("The Ogg file is not readable.", "unsupported_audio")
    granule = struct.unpack_from("<q", data, last + 6)[0]
    if granule < 0:
        raise _bad("The Ogg file is not readable.", "unsupported_audio")
    return max(0, int((granule - pre_skip) * 1000 / rate))


def check_voice(data: bytes) -> Checked:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        duration, content_type, ext = _wav_duration_ms(data), "audio/wav", ".wav"
    elif data[:4] == b"OggS":
        duration, content_type, ext = _ogg_duration_ms(data), "audio/ogg", ".ogg"
    else:
        raise _bad("Voice messages are WAV or Ogg (Opus/Vorbis).", "unsupported_audio")
    if duration <= 0:
        raise _bad("The recording is empty.", "unsupported_audio")
    if duration > MAX_VOICE_MS:
        raise _bad("Voice messages are at most 60 seconds.", "voice_too_long")
    return Checked(content_type=content_type, extension=ext, duration_ms=duration)


def check_file(data: bytes, name: str) -> Checked:
    ext = ""
    if "." in name:
        tail = name.rsplit(".", 1)[1].lower()
        if tail.isalnum() and len(tail) <= 8:
            ext = "." + tail
    # Served as a download of opaque bytes: never as something a browser would render.
    return Checked(content_type="application/octet-stream", extension=ext)
