"""Console access: session sign-in, brand scoping and the Content-Security-Policy header.

Every console view goes through `console_view`, which (1) sends anonymous visitors to the
sign-in page, (2) resolves the brand in the URL with brands.selectors.brand_for_member —
not in the team → 404, role too small → 403 — and (3) sets a strict CSP (no inline
scripts or styles: the console ships one CSS file and one external JS file).
"""

from __future__ import annotations

import functools

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render

from brands.selectors import CAN_READ, Forbidden, brand_for_member, member_role
from config.errors import NotFound

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def with_csp(response):
    response["Content-Security-Policy"] = CSP
    response["Referrer-Policy"] = "same-origin"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def csp(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        return with_csp(view(request, *args, **kwargs))

    return wrapped


def console_view(roles: set[str] = CAN_READ):
    """Decorator: signed-in team member of the URL's brand with one of `roles`."""

    def deco(view):
        @functools.wraps(view)
        def wrapped(request, brand_id: int, *args, **kwargs):
            if not request.user.is_authenticated:
                return with_csp(redirect(f"/console/login/?next={request.path}"))
            try:
                brand = brand_for_member(brand_id=brand_id, user=request.user, roles=roles)
                request.brand = brand
                request.role = member_role(brand_id=brand.pk, user=request.user)
                response = view(request, brand, *args, **kwargs)
            except (NotFound, Http404):
                # Another brand's object, or a brand you are not in: indistinguishable.
                response = render(request, "console/error.html", {"code": 404}, status=404)
            except (Forbidden, PermissionDenied):
                response = render(request, "console/error.html", {"code": 403}, status=403)
            return with_csp(response)

        return wrapped

    return deco
