"""QR code images (SVG and PNG) for checkout payloads."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg


def qr_svg(data: str) -> bytes:
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
    )
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_png(data: str) -> bytes:
    image = qrcode.make(data, error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
