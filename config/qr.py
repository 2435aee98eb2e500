"""QR images for anything the app wants scanned (add-me codes, group invites, checkout).

`qr_svg(data)` / `qr_png(data)` render with the `qrcode` library; `qr_response` wraps
either in an HTTP response with cache headers. Error correction M survives a poster
being a little scuffed; the quiet zone is the standard four modules.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
import qrcode.image.svg
from django.http import HttpResponse
from django.utils.http import http_date


def qr_matrix(data: str) -> list[list[bool]]:
    """The module matrix (True = dark), including the quiet zone."""
    qr = _make(data)
    return qr.get_matrix()


def _make(data: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=8)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_svg(data: str) -> bytes:
    image = _make(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    image.save(buf)
    return buf.getvalue()


def qr_png(data: str) -> bytes:
    image = _make(data).make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def qr_response(data: str, fmt: str, *, max_age: int, private: bool = True, expires=None):
    """An image response. `private` keeps shared caches from storing personal codes;
    `expires` (a datetime) caps the cache lifetime at the code's own expiry."""
    if fmt == "svg":
        response = HttpResponse(qr_svg(data), content_type="image/svg+xml")
    else:
        response = HttpResponse(qr_png(data), content_type="image/png")
    scope = "private" if private else "public"
    response["Cache-Control"] = f"{scope}, max-age={max(0, int(max_age))}"
    if expires is not None:
        response["Expires"] = http_date(expires.timestamp())
    response["X-Content-Type-Options"] = "nosniff"
    return response
