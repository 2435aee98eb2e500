"""Site-root routes: the reference web client and the deep links QR codes point at
(/join/<token> group invites, /pay/<token> merchant checkout, /add/<code> add-me), plus
/media/ for the embedded default (uploads and sticker images on the local disk)."""

from django.conf import settings
from django.urls import path, re_path

from .web import media_file, web_client

urlpatterns = [
    path("", web_client, name="web-client"),
    path("join/<str:token>", web_client, name="web-join"),
    path("pay/<str:token>", web_client, name="web-pay"),
    path("add/<str:code>", web_client, name="web-add-me"),
    path("u/<str:code>", web_client, name="web-user"),
]

# Production puts media behind a CDN/bucket (MEDIA_URL absolute) or a proxy; the embedded
# default has nobody else to serve the files on disk.
if settings.MEDIA_URL.startswith("/") and not settings.PRODUCTION:
    urlpatterns.append(
        re_path(r"^" + settings.MEDIA_URL.strip("/") + r"/(?P<path>.+)$", media_file)
    )
