"""Check that a served QR image encodes the expected text.

No QR decoder is installed on a bare CI machine (zbar needs a system library), so the
check reads the image's module grid and compares it with the grid the `qrcode` library
produces for the expected text: the same grid means the same payload, version, mask and
error correction. PNG: sample the centre of every module. SVG: parse the path's
rectangles.
"""

from __future__ import annotations

import io
import re

from config.qr import qr_matrix


def _png_grid(data: bytes, n: int) -> list[list[bool]]:
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("L")
    width, height = image.size
    assert width == height, "QR images are square"
    box = width / n
    return [
        [image.getpixel((int((x + 0.5) * box), int((y + 0.5) * box))) < 128 for x in range(n)]
        for y in range(n)
    ]


def _svg_grid(data: bytes, n: int) -> list[list[bool]]:
    text = data.decode()
    size = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', text)
    assert size, "SVG has a viewBox"
    unit = float(size.group(1)) / n
    path = re.search(r' d="([^"]+)"', text)
    assert path, "SVG has a path"
    grid = [[False] * n for _ in range(n)]
    # SvgPathImage draws each dark module as "M{x},{y}H..V..H..z", the quiet zone
    # included, in units of viewBox / modules. Mark the module under every move-to.
    for x, y in re.findall(r"M([\d.]+),([\d.]+)", path.group(1)):
        grid[round(float(y) / unit)][round(float(x) / unit)] = True
    return grid


def assert_qr_encodes(image: bytes, fmt: str, text: str) -> None:
    expected = qr_matrix(text)
    n = len(expected)
    actual = _png_grid(image, n) if fmt == "png" else _svg_grid(image, n)
    assert actual == expected, "the QR image does not encode the expected text"
