from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .converters import IdConverter
from .errors import json_error
from .health import healthz

register_converter(IdConverter, "id")

handler400 = "config.errors.handler400"
handler403 = "config.errors.handler403"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"


def endpoint_not_found(request, *args, **kwargs):
    return json_error(404, "endpoint_not_found", "There is no such endpoint.")


api_v1 = [
    path("", include("accounts.urls")),
    path("", include("payments.urls")),
    path("", include("store.urls")),
    path("", include("chat.urls")),
    path("", include("brands.urls")),
]

urlpatterns = [
    path("healthz", healthz),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("api/merchant/v1/", include("payments.merchant_urls")),
    path("console/", include("brands.console_urls")),
    re_path(r"^api/", endpoint_not_found),
    path("", include("chat.web_urls")),
]
