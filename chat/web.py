"""The reference web client: one HTML page; everything else is static ES modules.

The page uses nothing but the public REST + WebSocket API, so what it does a mobile app
can do too (docs/CLIENT.md). The page carries a strict Content-Security-Policy: no inline
scripts or styles, only same-origin scripts, styles, sockets and images.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET


def _csp(request) -> str:
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@require_GET
def web_client(request, **_deep_link):
    """Every client route (/, /join/<token>, /pay/<token>, /add/<code>) serves the same
    page; the client reads the path and opens the matching screen."""
    response = render(
        request,
        "web/index.html",
        {"dev_banner": settings.OTP_EXPOSE_DEBUG_CODE},
    )
    response["Content-Security-Policy"] = _csp(request)
    response["Referrer-Policy"] = "same-origin"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-cache"
    return response


# Media that may be shown inline; everything else downloads, so an uploaded HTML or SVG
# file can never run as a page on this origin (where the web client keeps its token).
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/", "video/")


@require_GET
def media_file(request, path: str):
    from django.views.static import serve

    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    content_type = response.get("Content-Type", "")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    if not content_type.startswith(INLINE_TYPES):
        response["Content-Disposition"] = "attachment"
    return response
