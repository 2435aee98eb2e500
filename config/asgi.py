"""HTTP and WebSocket routing.

Static files are served by Django's ASGI static handler in front of the app (a proxy or
CDN should serve /static/ in production); every other HTTP request crosses from the
event loop to a worker thread once and runs there whole (config/http.py).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from config.http import OneHopASGIHandler  # noqa: E402

# Django's views behind one thread hop per request (config/http.py).
django_asgi_app = OneHopASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from chat.consumers import PlazaConsumer  # noqa: E402
from config.threads import WarmRequestThreads  # noqa: E402
from store.edge import CatalogueEdge  # noqa: E402

# The store's catalogue edge answers GET /api/v1/store/packs[/<id>] from memory when it
# holds Django's answer (store/edge.py); every other request passes straight through.
catalogue_edge = CatalogueEdge(WarmRequestThreads(ASGIStaticFilesHandler(django_asgi_app)))

application = ProtocolTypeRouter(
    {
        "http": catalogue_edge,
        "websocket": URLRouter([path("ws/", PlazaConsumer.as_asgi())]),
    }
)
