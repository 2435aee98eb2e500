"""Django's deploy checks for the security, clickjacking and CSRF middleware look for
Django's exact dotted paths in MIDDLEWARE; Plaza installs subclasses of them that run on
the event loop (config/middleware.py). Those three checks are silenced in settings and
made again here by class, so removing the protection is still caught."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.utils.module_loading import import_string

REQUIRED = {
    "plaza.W001": (
        "django.middleware.security.SecurityMiddleware",
        "SECURE_* settings (HSTS, nosniff, SSL redirect, referrer policy) take no effect.",
    ),
    "plaza.W002": (
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "pages are served without an X-Frame-Options header.",
    ),
    "plaza.W003": (
        "django.middleware.csrf.CsrfViewMiddleware",
        "forms are not protected against cross-site request forgery.",
    ),
}


def _installed(base_path: str) -> bool:
    base = import_string(base_path)
    for dotted in settings.MIDDLEWARE:
        try:
            cls = import_string(dotted)
        except ImportError:
            continue
        if isinstance(cls, type) and issubclass(cls, base):
            return True
    return False


@register(Tags.security, deploy=True)
def check_protective_middleware(app_configs=None, **kwargs):
    return [
        Warning(f"No {path} (or a subclass) in MIDDLEWARE: {effect}", id=check_id)
        for check_id, (path, effect) in REQUIRED.items()
        if not _installed(path)
    ]
