"""The brand console (issue 11): thin Django views over brands' services and selectors.

Writes go through brands.services / brands.campaigns / brands.sales (they check the role
again); DomainErrors come back as form messages, never 500s.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.phones import normalize_phone
from accounts.services import otp_confirm, otp_request, user_get_or_create_by_phone
from brands import audit, invites, segments, services
from brands import campaigns as campaign_svc
from brands.models import BrandMember
from brands.selectors import (
    CAN_MANAGE_TEAM,
    CAN_MARKET,
    brands_of_member,
    campaign_for_brand,
    campaigns_of,
    offer_for_brand,
    offers_of,
    segment_for_brand,
    segments_of,
)
from config.errors import DomainError, RateLimited
from config.qr import qr_png
from config.ratelimit import check_rate, client_ip

from . import charts, queries, rules, testsend, totp
from .auth import console_view, csp
from .forms import (
    RULE_CHOICES,
    CampaignForm,
    CodeForm,
    CompareForm,
    InviteAcceptForm,
    InviteForm,
    InvitePhoneForm,
    LoginForm,
    OfferForm,
    RoleForm,
    SaleForm,
    ScheduleForm,
    SegmentForm,
)

Role = BrandMember.Role


def _ctx(request, brand, **kw):
    role = request.role
    return {
        "brand": brand,
        "role": role,
        "can_market": role in CAN_MARKET,
        "can_manage_team": role in CAN_MANAGE_TEAM,
        "my_brands": brands_of_member(user=request.user),
        **kw,
    }


# --- sign in ----------------------------------------------------------------------------


# The second step of a sign-in with TOTP on: who passed the password, until when, and
# where to go after. Kept in the (still anonymous) session; login() happens only after
# the code, and cycles the session key.
PENDING = "console_2fa"
PENDING_SECONDS = 300
TOTP_RATE_PER_USER = "5/m,20/h"


def _safe_next(nxt: str) -> str:
    if nxt.startswith("/console/") and not nxt.startswith("//"):
        return nxt
    return "/console/"


def _sign_in(request, user, nxt: str):
    """Password (or invite) accepted: sign in now, or ask for the TOTP code first."""
    if totp.totp_enabled(user=user):
        request.session[PENDING] = {
            "uid": user.pk,
            "until": time.time() + PENDING_SECONDS,
            "next": _safe_next(nxt),
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
        }
        return redirect("console:login_code")
    login(request, user, backend=getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]))
    return redirect(_safe_next(nxt))


@csp
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            check_rate("console.login", client_ip(request), settings.LOGIN_RATE_PER_IP)
            phone = normalize_phone(form.cleaned_data["phone"]) or ""
            check_rate("console.login.phone", phone, "10/m,50/h")
        except RateLimited as exc:
            form.add_error(None, f"Too many attempts; try again in {exc.retry_after} s.")
            status = 429
        else:
            user = authenticate(request, phone=phone, password=form.cleaned_data["password"])
            if user is None or not brands_of_member(user=user).exists():
                # One message for both: do not reveal who has an account or a brand.
                form.add_error(None, "Wrong phone or password, or no brand team membership.")
                status = 400
            else:
                return _sign_in(request, user, request.GET.get("next", ""))
    elif request.method == "POST":
        status = 400
    return render(request, "console/login.html", {"form": form}, status=status)


@csp
def login_code(request):
    """Sign-in, step two: the authenticator's code (or a recovery code)."""
    pending = request.session.get(PENDING)
    user = None
    if pending and pending.get("until", 0) > time.time():
        user = User.objects.filter(pk=pending["uid"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING, None)
        messages.error(request, "Sign in again: the code step expired.")
        return redirect("console:login")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                check_rate("console.totp", str(user.pk), TOTP_RATE_PER_USER)
                check_rate("console.totp.ip", client_ip(request), settings.LOGIN_RATE_PER_IP)
                how = totp.totp_check(user=user, code=form.cleaned_data["code"])
            except RateLimited as exc:
                form.add_error(None, f"Too many attempts; try again in {exc.retry_after} s.")
                status = 429
            except DomainError as exc:  # a wrong code, or an unreadable secret
                form.add_error("code", exc.message)
            else:
                del request.session[PENDING]
                login(request, user, backend=pending["backend"])
                if how == "recovery":
                    left = totp.recovery_codes_left(user=user)
                    messages.warning(
                        request,
                        f"You used a recovery code; {left} left. Set up your authenticator "
                        "again under Account if you lost it.",
                    )
                return redirect(_safe_next(pending.get("next", "")))
    return render(request, "console/login_code.html", {"form": form}, status=status)


def signed_in_only(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"/console/login/?next={request.path}")
        return view(request, *args, **kwargs)

    return wrapped


@csp
@signed_in_only
def account(request):
    """The person's own settings: two-step sign-in (TOTP) on and off."""
    user = request.user
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = CodeForm(request.POST or None) if action in ("confirm", "disable") else CodeForm()
    recovery = None
    status = 200
    if action == "begin":
        try:
            totp.totp_begin(user=user)
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("console:account")
    if action == "cancel":
        if not totp.totp_enabled(user=user):
            totp.ConsoleSecondFactor.objects.filter(user=user).delete()
        return redirect("console:account")
    if action in ("confirm", "disable"):
        status = 400
        if form.is_valid():
            try:
                check_rate("console.totp.account", str(user.pk), TOTP_RATE_PER_USER)
                if action == "confirm":
                    recovery = totp.totp_confirm(user=user, code=form.cleaned_data["code"])
                    status = 200
                else:
                    totp.totp_disable(user=user, code=form.cleaned_data["code"])
                    messages.success(request, "Two-step sign-in is off.")
                    return redirect("console:account")
            except RateLimited as exc:
                form.add_error(None, f"Too many attempts; try again in {exc.retry_after} s.")
                status = 429
            except DomainError as exc:
                form.add_error("code", exc.message)
    pending = None if recovery else totp.totp_pending_secret(user=user)
    qr = None
    if pending:
        qr = "data:image/png;base64," + base64.b64encode(qr_png(pending[1])).decode()
    return render(
        request,
        "console/account.html",
        {
            "enabled": totp.totp_enabled(user=user),
            "pending": pending,
            "qr": qr,
            "form": form,
            "recovery": recovery,
            "recovery_left": totp.recovery_codes_left(user=user),
            "my_brands": brands_of_member(user=user),
        },
        status=status,
    )


@csp
@require_POST
def logout_view(request):
    logout(request)
    return redirect("console:login")


@csp
def home(request):
    if not request.user.is_authenticated:
        return redirect("console:login")
    mine = list(brands_of_member(user=request.user))
    if len(mine) == 1:
        return redirect("console:dashboard", brand_id=mine[0].pk)
    return render(request, "console/pick.html", {"brands": mine})


# --- dashboard --------------------------------------------------------------------------


@console_view()
def dashboard(request, brand):
    data = queries.dashboard(brand=brand)
    return render(
        request,
        "console/dashboard.html",
        _ctx(
            request,
            brand,
            d=data,
            follows_chart=charts.bar_chart(data["new_follows"], label="New followers per day"),
            revenue_chart=charts.bar_chart(data["revenue"], label="Revenue per day"),
            has_segments=brand.segments.exists(),
        ),
    )


# --- audiences --------------------------------------------------------------------------


def _rows_from_post(post) -> list[tuple[str, str, bool]]:
    return [
        (post.get(f"rule{i}", ""), post.get(f"value{i}", ""), post.get(f"not{i}") == "on")
        for i in range(rules.ROWS)
    ]


@console_view()
def segment_list(request, brand):
    return render(
        request,
        "console/segments.html",
        _ctx(request, brand, segments=segments_of(brand=brand), compare=CompareForm()),
    )


@console_view()
def segment_edit(request, brand, segment_id: int | None = None):
    seg = segment_for_brand(brand=brand, segment_id=segment_id) if segment_id else None
    form = SegmentForm(request.POST or None, initial={"name": seg.name if seg else ""})
    row_values = [{"rule": "", "value": "", "negate": False} for _ in range(rules.ROWS)]
    tree = seg.rules if seg else None
    if seg and request.method == "GET":
        back = rules.rows_from_tree(seg.rules)
        if back:
            for i, r in enumerate(back[0]):
                row_values[i] = r
            form.initial["combine"] = back[1]
        else:
            form.initial["rules_json"] = json.dumps(seg.rules)
    estimate = None
    status = 200
    if request.method == "POST":
        posted = _rows_from_post(request.POST)
        row_values = [{"rule": r, "value": v, "negate": n} for r, v, n in posted]
        if form.is_valid():
            try:
                raw = form.cleaned_data["rules_json"].strip()
                if raw:
                    try:
                        tree = json.loads(raw)
                    except ValueError as exc:
                        raise rules.RowError(f"The JSON does not parse: {exc}") from exc
                else:
                    tree = rules.tree_from_rows(posted, form.cleaned_data["combine"])
                if request.POST.get("action") == "save":
                    if request.role not in CAN_MARKET:
                        return _forbidden(request)
                    saved = services.segment_save(
                        brand_id=brand.pk,
                        acting_user=request.user,
                        name=form.cleaned_data["name"],
                        rules=tree,
                        segment_id=seg.pk if seg else None,
                    )
                    messages.success(request, f"Saved segment “{saved.name}”.")
                    return redirect("console:segment_edit", brand_id=brand.pk, segment_id=saved.pk)
                estimate = services.segment_estimate(
                    brand_id=brand.pk, acting_user=request.user, rules=tree
                )
            except rules.RowError as exc:
                form.add_error(None, str(exc))
                status = 400
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status if exc.status != 404 else 400
        else:
            status = 400
    return render(
        request,
        "console/segment_edit.html",
        _ctx(
            request,
            brand,
            seg=seg,
            form=form,
            rows=row_values,
            rule_choices=RULE_CHOICES,
            leaves=segments.LEAVES,
            estimate=estimate,
            tree=json.dumps(tree, indent=1) if tree else "",
        ),
        status=status,
    )


@console_view(CAN_MARKET)
@require_POST
def segment_duplicate(request, brand, segment_id: int):
    seg = segment_for_brand(brand=brand, segment_id=segment_id)
    copy = services.segment_save(
        brand_id=brand.pk, acting_user=request.user, name=f"{seg.name} (copy)", rules=seg.rules
    )
    messages.success(request, f"Duplicated as “{copy.name}”.")
    return redirect("console:segment_edit", brand_id=brand.pk, segment_id=copy.pk)


@console_view()
def segment_compare(request, brand):
    """Both segments' blurred estimates side by side. No difference is computed or shown:
    each estimate passes the engine's own difference rule, and the per-brand estimate rate
    limit bounds how many pairs can be tried (docs/BRANDS.md)."""
    form = CompareForm(request.GET or None)
    result = []
    error = None
    if form.is_valid():
        try:
            for key in ("a", "b"):
                seg = segment_for_brand(brand=brand, segment_id=form.cleaned_data[key])
                est = services.segment_estimate(
                    brand_id=brand.pk, acting_user=request.user, rules=seg.rules
                )
                result.append((seg, est))
        except DomainError as exc:
            if exc.status == 404:
                raise
            error = exc.message
    return render(
        request,
        "console/segment_compare.html",
        _ctx(request, brand, result=result, error=error, segments=segments_of(brand=brand)),
    )


# --- campaigns --------------------------------------------------------------------------


@console_view()
def campaign_list(request, brand):
    return render(
        request, "console/campaigns.html", _ctx(request, brand, campaigns=campaigns_of(brand=brand))
    )


@console_view(CAN_MARKET)
def campaign_new(request, brand):
    form = CampaignForm(request.POST or None, brand=brand)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                c = campaign_svc.campaign_create(
                    brand_id=brand.pk,
                    acting_user=request.user,
                    name=d["name"],
                    kind=d["kind"],
                    content=form.content(),
                    content_b=form.content(b=True) if d["text_b"].strip() else None,
                    split_b_percent=d["split_b_percent"] or 0,
                    holdout_percent=d["holdout_percent"],
                    segment_id=d["segment"],
                    offer_id=d["offer"],
                    sale_id=d["sale"],
                    respect_quiet_hours=d["respect_quiet_hours"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, "Draft saved. Check the preview, then send.")
                return redirect("console:campaign", brand_id=brand.pk, campaign_id=c.pk)
        else:
            status = 400
    return render(
        request,
        "console/campaign_new.html",
        _ctx(request, brand, form=form, no_segments=not brand.segments.exists()),
        status=status,
    )


def _funnel_rows(variant: dict) -> list[tuple[str, float, str]]:
    rows = []
    for key in ("targeted", "capped", "delivered", "read", "clicked", "claimed", "redeemed"):
        v = variant.get(key, 0)
        rows.append((key, v if isinstance(v, int) else 0, str(v)))
    return rows


def _campaign_live_ctx(request, brand, c) -> dict:
    funnel = campaign_svc.campaign_funnel(
        brand_id=brand.pk, acting_user=request.user, campaign_id=c.pk
    )
    progress = campaign_svc.campaign_progress(
        brand_id=brand.pk, acting_user=request.user, campaign_id=c.pk
    )
    variant_charts = [
        (name, charts.hbar_chart(_funnel_rows(v)), v) for name, v in funnel["variants"].items()
    ]
    return {
        "c": c,
        "funnel": funnel,
        "progress": progress,
        "variant_charts": variant_charts,
        "live": progress["status"] in queries.IN_FLIGHT,
    }


# How often the live parts of a page poll (console.js reads X-Poll-After, in ms): fast
# while a campaign sends, slower afterwards (reads, claims and redemptions keep coming).
POLL_FAST_MS = 2000
POLL_SLOW_MS = 5000


def _live(response, every_ms: int):
    response["X-Poll-After"] = str(every_ms)
    response["Cache-Control"] = "no-store"
    return response


@console_view()
def campaign_detail(request, brand, campaign_id: int):
    c = campaign_for_brand(brand=brand, campaign_id=campaign_id)
    return render(
        request,
        "console/campaign.html",
        _ctx(request, brand, schedule=ScheduleForm(), **_campaign_live_ctx(request, brand, c)),
    )


@console_view()
def campaign_live(request, brand, campaign_id: int):
    """The campaign page's live part (progress bar and funnel) as an HTML fragment, polled
    by console.js (no inline script; the CSP allows only our own files)."""
    c = campaign_for_brand(brand=brand, campaign_id=campaign_id)
    live = _campaign_live_ctx(request, brand, c)
    response = render(request, "console/_campaign_live.html", _ctx(request, brand, **live))
    return _live(response, POLL_FAST_MS if live["live"] else POLL_SLOW_MS)


@console_view()
def campaign_progress(request, brand, campaign_id: int):
    p = campaign_svc.campaign_progress(
        brand_id=brand.pk, acting_user=request.user, campaign_id=campaign_id
    )
    return JsonResponse({"status": p["status"], "percent": p["percent"]})


def _forbidden(request):
    return render(request, "console/error.html", _ctx(request, request.brand, code=403), status=403)


@console_view(CAN_MARKET)
@require_POST
def campaign_action(request, brand, campaign_id: int, action: str):
    c = campaign_for_brand(brand=brand, campaign_id=campaign_id)
    try:
        if action == "send":
            form = ScheduleForm(request.POST)
            if not form.is_valid():
                messages.error(
                    request, "Give the time as YYYY-MM-DD HH:MM (UTC), or leave it empty."
                )
                return redirect("console:campaign", brand_id=brand.pk, campaign_id=c.pk)
            at = form.cleaned_data["at"]
            if at is not None and timezone.is_naive(at):
                at = timezone.make_aware(at, dt.UTC)
            campaign_svc.campaign_schedule(
                brand_id=brand.pk, acting_user=request.user, campaign_id=c.pk, at=at
            )
            messages.success(request, "Scheduled." if at else "Sending.")
        elif action == "test":
            testsend.campaign_send_test(brand_id=brand.pk, acting_user=request.user, campaign=c)
            messages.success(request, "Test sent to your own chat with the brand.")
        elif action == "pause":
            campaign_svc.campaign_pause(
                brand_id=brand.pk, acting_user=request.user, campaign_id=c.pk
            )
            messages.success(request, "Paused.")
        elif action == "resume":
            campaign_svc.campaign_resume(
                brand_id=brand.pk, acting_user=request.user, campaign_id=c.pk
            )
            messages.success(request, "Resumed.")
        elif action == "cancel":
            campaign_svc.campaign_cancel(
                brand_id=brand.pk, acting_user=request.user, campaign_id=c.pk
            )
            messages.success(request, "Cancelled.")
        else:
            return _forbidden(request)
    except DomainError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.message)
    return redirect("console:campaign", brand_id=brand.pk, campaign_id=c.pk)


AUDIT_PAGE_SIZE = 50
AUDIT_FILTERS = [
    ("", "Everything"),
    ("campaign.", "Campaigns"),
    ("offer.", "Offers"),
    ("sale.", "Exclusive sales"),
    ("segment.", "Segments"),
    ("team.", "Team"),
    ("invite.", "Invites"),
]


@console_view()
def audit_log(request, brand):
    """Who did what, newest first: brands.audit's log, written by the services in the
    same transaction as each action (so API and console actions are both here)."""
    what = request.GET.get("what", "")
    if what not in dict(AUDIT_FILTERS):
        what = ""
    pages = Paginator(audit.events_of(brand=brand, action=what), AUDIT_PAGE_SIZE)
    page = pages.get_page(request.GET.get("page"))
    return render(
        request,
        "console/audit.html",
        _ctx(request, brand, page=page, what=what, filters=AUDIT_FILTERS),
    )


# --- offers -----------------------------------------------------------------------------


@console_view()
def offer_list(request, brand):
    form = OfferForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if request.role not in CAN_MARKET:
            return _forbidden(request)
        if form.is_valid():
            d = form.cleaned_data
            now = timezone.now()
            try:
                services.offer_create(
                    brand_id=brand.pk,
                    acting_user=request.user,
                    title=d["title"],
                    kind=d["kind"],
                    amount_off_minor=int((d["amount_off"] or 0) * 100),
                    percent_off=d["percent_off"] or 0,
                    min_spend_minor=int((d["min_spend"] or 0) * 100),
                    starts_at=now,
                    ends_at=now + dt.timedelta(days=d["days"]),
                    quantity_cap=d["quantity_cap"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, "Offer created.")
                return redirect("console:offers", brand_id=brand.pk)
        else:
            status = 400
    return render(
        request,
        "console/offers.html",
        _ctx(
            request,
            brand,
            offers=offers_of(brand=brand),
            sales=brand.sales.order_by("-id"),
            form=form,
        ),
        status=status,
    )


@console_view()
def offers_live(request, brand, part: str):
    """Claims against caps, or stock left, as a fragment console.js swaps in."""
    if part == "offers":
        template, extra = "console/_offers_table.html", {"offers": offers_of(brand=brand)}
    elif part == "sales":
        template, extra = "console/_sales_table.html", {"sales": brand.sales.order_by("-id")}
    else:
        raise Http404
    return _live(render(request, template, _ctx(request, brand, **extra)), POLL_SLOW_MS)


@console_view(CAN_MARKET)
@require_POST
def offer_stop(request, brand, offer_id: int):
    offer = offer_for_brand(brand=brand, offer_id=offer_id)
    services.offer_stop(brand_id=brand.pk, acting_user=request.user, offer_id=offer.pk)
    messages.success(request, f"Stopped “{offer.title}”.")
    return redirect("console:offers", brand_id=brand.pk)


@console_view(CAN_MARKET)
def sale_new(request, brand):
    from brands import sales

    form = SaleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        now = timezone.now()
        try:
            sales.sale_create(
                brand_id=brand.pk,
                acting_user=request.user,
                title=d["sale_title"],
                price_minor=int(d["price"] * 100),
                stock=d["stock"],
                starts_at=now,
                ends_at=now + dt.timedelta(days=d["sale_days"]),
                followers_only=d["followers_only"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Exclusive sale created.")
            return redirect("console:offers", brand_id=brand.pk)
    return render(
        request,
        "console/sale_new.html",
        _ctx(request, brand, form=form),
        status=400 if request.method == "POST" else 200,
    )


@console_view(CAN_MARKET)
@require_POST
def sale_stop(request, brand, sale_id: int):
    from brands import sales

    sale = brand.sales.filter(pk=sale_id).first()
    if sale is None:
        raise Http404
    sales.sale_stop(brand_id=brand.pk, acting_user=request.user, sale_id=sale.pk)
    messages.success(request, "Sale stopped.")
    return redirect("console:offers", brand_id=brand.pk)


# --- team -------------------------------------------------------------------------------


@console_view()
def team(request, brand):
    members = BrandMember.objects.filter(brand=brand).select_related("user").order_by("id")
    form = InviteForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if request.role not in CAN_MANAGE_TEAM:
            return _forbidden(request)
        if form.is_valid():
            d = form.cleaned_data
            try:
                invite, _link = invites.invite_create(
                    brand_id=brand.pk,
                    acting_user=request.user,
                    address=d["contact"],
                    role=d["role"],
                    base_url=settings.CONSOLE_BASE_URL or request.build_absolute_uri("/"),
                )
            except RateLimited as exc:
                form.add_error(None, f"Too many invites; try again in {exc.retry_after} s.")
                status = 429
            except DomainError as exc:
                form.add_error("contact", exc.message)
                status = 400
            else:
                how = "an email" if invite.email else "a text message"
                messages.success(
                    request,
                    f"Invited {invite.address} as {invite.role}: {how} with a link is on its "
                    f"way (valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC).",
                )
                return redirect("console:team", brand_id=brand.pk)
        else:
            status = 400
    pending = [i for i in invites.invites_of(brand=brand)[:50] if i.state() != "accepted"]
    return render(
        request,
        "console/team.html",
        _ctx(request, brand, members=members, form=form, roles=Role.choices, invites=pending),
        status=status,
    )


@console_view(CAN_MANAGE_TEAM)
@require_POST
def invite_revoke(request, brand, invite_id: int):
    try:
        invite = invites.invite_revoke(
            brand_id=brand.pk, acting_user=request.user, invite_id=invite_id
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invite to {invite.address} revoked; its link no longer works.")
    return redirect("console:team", brand_id=brand.pk)


INVITE_PHONE = "console_invite_phone"


@csp
def invite_accept(request, token: str):
    """The invitee's page (no sign-in needed: the link is the key). Phone invites: the SMS
    link proves the phone, so set a password (or type yours) and join. Email invites: first
    the phone of your Plaza account, which gets an SMS code, then the code and a password."""
    try:
        invite = invites.invite_for_token(token=token)
    except DomainError as exc:
        return render(request, "console/invite.html", {"error": exc.message}, status=exc.status)
    ip = client_ip(request)
    phone = invite.phone
    if invite.email:
        held = request.session.get(INVITE_PHONE) or {}
        phone = held.get("phone") if held.get("invite") == invite.pk else ""
        if request.method == "POST" and request.POST.get("step") == "restart":
            request.session.pop(INVITE_PHONE, None)
            return redirect(request.path)
    if not phone:  # email invite, step 1: which Plaza account?
        form = InvitePhoneForm(request.POST or None)
        status = 200
        if request.method == "POST":
            status = 400
            if form.is_valid():
                try:
                    sent = otp_request(phone=form.cleaned_data["phone"], client_ip=ip)
                except RateLimited as exc:
                    form.add_error(None, f"Too many codes; try again in {exc.retry_after} s.")
                    status = 429
                except DomainError as exc:
                    form.add_error("phone", exc.message)
                else:
                    request.session[INVITE_PHONE] = {"invite": invite.pk, "phone": sent.phone}
                    return redirect(request.path)
        return render(
            request,
            "console/invite.html",
            {"invite": invite, "phone_form": form},
            status=status,
        )
    user = User.objects.filter(phone=phone).first()
    has_password = bool(user and user.has_usable_password())
    form = InviteAcceptForm(
        request.POST or None, needs_code=bool(invite.email), has_password=has_password
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            d = form.cleaned_data
            try:
                check_rate("console.invite", ip, settings.LOGIN_RATE_PER_IP)
                check_rate("console.invite.phone", phone, "10/m,50/h")
                if invite.email:
                    # Only the phone is read: no account is created for a wrong code.
                    otp_confirm(user=user or User(phone=phone), code=d["code"].strip())
                if has_password:
                    if authenticate(request, phone=phone, password=d["password"]) is None:
                        raise DomainError("That is not your password.", code="wrong_password")
                else:
                    if user is None:
                        user, _ = user_get_or_create_by_phone(phone=phone)
                    user.set_password(d["new_password1"])
                    user.save(update_fields=["password"])
                member = invites.invite_accept(token=token, user=user)
            except RateLimited as exc:
                form.add_error(None, f"Too many attempts; try again in {exc.retry_after} s.")
                status = 429
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                request.session.pop(INVITE_PHONE, None)
                messages.success(request, f"Welcome to {invite.brand.name} ({member.role}).")
                return _sign_in(request, user, f"/console/b/{invite.brand_id}/")
    return render(
        request,
        "console/invite.html",
        {"invite": invite, "form": form, "phone": phone, "has_password": has_password},
        status=status,
    )


@console_view(CAN_MANAGE_TEAM)
@require_POST
def team_member(request, brand, user_id: int, action: str):
    member = BrandMember.objects.filter(brand=brand, user_id=user_id).select_related("user").first()
    if member is None:
        raise Http404
    try:
        if action == "role":
            form = RoleForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Unknown role.")
            else:
                services.brand_member_set(
                    brand_id=brand.pk,
                    acting_user=request.user,
                    user=member.user,
                    role=form.cleaned_data["role"],
                )
                messages.success(request, "Role changed.")
        elif action == "remove":
            services.brand_member_remove(
                brand_id=brand.pk, acting_user=request.user, user=member.user
            )
            messages.success(request, "Removed from the team.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("console:team", brand_id=brand.pk)
