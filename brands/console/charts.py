"""Server-side SVG charts (no JS library, no CDN): plain markup the template embeds."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import mark_safe


def bar_chart(
    points: list[tuple[str, float]], *, width: int = 560, height: int = 180, label: str = ""
) -> str:
    """Vertical bars with a label under every few bars and the max on the axis."""
    if not points:
        return ""
    top = max(v for _k, v in points) or 1
    pad_l, pad_b, pad_t = 40, 22, 10
    inner_w, inner_h = width - pad_l - 4, height - pad_b - pad_t
    step = inner_w / len(points)
    bar_w = max(1.0, step * 0.75)
    every = max(1, len(points) // 6)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="2" y="{pad_t + 8}" class="axis">{_fmt(top)}</text>',
        f'<text x="2" y="{pad_t + inner_h}" class="axis">0</text>',
        f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width}" y2="{pad_t + inner_h}" '
        'class="base"/>',
    ]
    for i, (key, value) in enumerate(points):
        h = inner_h * (value / top)
        x = pad_l + i * step
        y = pad_t + inner_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(key)}: {_fmt(value)}</title></rect>"
        )
        if i % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" class="axis">{escape(key)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text part above is escape()d


def hbar_chart(rows: list[tuple[str, float, str]], *, width: int = 560) -> str:
    """Horizontal bars (a funnel): (label, value, shown text). Values below the privacy
    floor arrive as 0 with their text "< N"."""
    if not rows:
        return ""
    top = max(v for _l, v, _t in rows) or 1
    row_h, label_w = 26, 110
    height = row_h * len(rows) + 4
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Funnel" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, value, text) in enumerate(rows):
        y = i * row_h + 2
        w = (width - label_w - 90) * (value / top)
        parts.append(f'<text x="0" y="{y + 17}" class="axis">{escape(name)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" class="bar"/>'
        )
        parts.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" class="val" '
            f'data-key="{escape(name)}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text part above is escape()d


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"
