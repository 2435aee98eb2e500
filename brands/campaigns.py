"""Campaigns: compose, schedule, send in resumable batches, pause, cancel, measure.

How a send works (docs/BRANDS.md "Delivery"):

- `campaign_schedule` freezes the segment's rules, refuses audiences below the privacy
  floor, and enqueues the first batch (now, or at `scheduled_at`).
- `campaign_send_batch` is one transaction under the campaign's row lock: it picks the
  next `BATCH_SIZE` people of the audience by user id after the campaign's cursor who
  have no delivery row yet, sorts them into holdout / capped / quiet-hours-deferred /
  sent, writes the chat messages in bulk (chat.services.brand_delivery) and the
  `Delivery` rows in bulk, and advances the cursor — all or nothing. A worker killed
  mid-batch rolls back the whole batch, and the unique (campaign, person) row means a
  resumed or duplicated batch can never message anyone twice.
- People in quiet hours are not written at all; when the pass ends the campaign waits
  until the next hour and starts another pass from the beginning (everyone already
  handled is skipped by the unique row), so they are deferred, not dropped.
- Pause and cancel take the same row lock, so they land between two batches.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from config.bulk import insert_rows
from config.errors import Conflict, DomainError, InvalidInput, NotFound

from . import audit, segments
from .models import Brand, Campaign, Delivery, ExclusiveSale, Follow, Offer, OfferClaim
from .selectors import CAN_MARKET, CAN_READ, brand_for_member

Status = Campaign.Status

BATCH_SIZE_DEFAULT = 2000
TEXT_MAX = 4096


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- compose --------------------------------------------------------------------------------


def _clean_content(kind: str, content, field: str) -> dict:
    if not isinstance(content, dict):
        raise InvalidInput("Content is an object.", fields={field: ["An object."]})
    out: dict = {}
    text = content.get("text", "")
    if not isinstance(text, str) or len(text) > TEXT_MAX:
        raise InvalidInput(f"Text is at most {TEXT_MAX} characters.", fields={field: ["text"]})
    out["text"] = text.strip()
    if kind == Campaign.Kind.CARD:
        for key, limit in (("title", 120), ("image_url", 500), ("link", 500)):
            value = content.get(key, "")
            if not isinstance(value, str) or len(value) > limit:
                raise InvalidInput(f"{key} is text up to {limit}.", fields={field: [key]})
            if key != "title" and value and not value.startswith(("https://", "http://")):
                raise InvalidInput(f"{key} must be an http(s) URL.", fields={field: [key]})
            out[key] = value.strip()
        if not out["title"]:
            raise InvalidInput("A card needs a title.", fields={field: ["title"]})
    elif not out["text"] and kind == Campaign.Kind.TEXT:
        raise InvalidInput("A text campaign needs text.", fields={field: ["text"]})
    return out


def campaign_create(
    *,
    brand_id: int,
    acting_user,
    name: str,
    kind: str,
    content: dict,
    segment_id: int,
    content_b: dict | None = None,
    split_b_percent: int = 0,
    holdout_percent: int = 5,
    offer_id: int | None = None,
    sale_id: int | None = None,
    respect_quiet_hours: bool = True,
) -> Campaign:
    """A draft campaign. A/B: `content_b` goes to `split_b_percent`% of the non-holdout
    audience. Holdout: `holdout_percent`% (0–50) never get it and measure lift."""
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    if kind not in Campaign.Kind.values:
        raise InvalidInput("Unknown kind.", fields={"kind": [", ".join(Campaign.Kind.values)]})
    seg = brand.segments.filter(pk=segment_id).first()
    if seg is None:
        raise NotFound("No such segment.", code="segment_not_found")
    if not 0 <= holdout_percent <= 50:
        raise InvalidInput("Holdout is 0..50%.", fields={"holdout_percent": ["0..50."]})
    if not 0 <= split_b_percent <= 100 or (split_b_percent and content_b is None):
        raise InvalidInput(
            "An A/B split needs content_b and a split of 1..100%.",
            fields={"split_b_percent": ["0..100, with content_b."]},
        )
    offer = sale = None
    if kind == Campaign.Kind.OFFER:
        offer = Offer.objects.filter(brand=brand, pk=offer_id or 0).first()
        if offer is None:
            raise NotFound("No such offer.", code="offer_not_found")
    if kind == Campaign.Kind.SALE:
        sale = ExclusiveSale.objects.filter(brand=brand, pk=sale_id or 0).first()
        if sale is None:
            raise NotFound("No such sale.", code="sale_not_found")
    return Campaign.objects.create(
        brand=brand,
        name=(name or "").strip()[:120] or "Campaign",
        kind=kind,
        content=_clean_content(kind, content, "content"),
        content_b=_clean_content(kind, content_b, "content_b") if content_b is not None else None,
        split_b_percent=split_b_percent if content_b is not None else 0,
        holdout_percent=holdout_percent,
        offer=offer,
        sale=sale,
        segment=seg,
        respect_quiet_hours=respect_quiet_hours,
        created_by=acting_user,
    )


class AudienceTooSmall(DomainError):
    code = "audience_too_small"


def campaign_schedule(
    *, brand_id: int, acting_user, campaign_id: int, at: dt.datetime | None = None
) -> Campaign:
    """Send now (`at` None or past) or at a time. Refused below the privacy floor."""
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    now = timezone.now()
    with transaction.atomic():
        c = Campaign.objects.select_for_update().filter(brand=brand, pk=campaign_id).first()
        if c is None:
            raise NotFound("No such campaign.", code="campaign_not_found")
        if c.status != Status.DRAFT:
            raise Conflict("Only a draft can be scheduled.", code="campaign_not_draft")
        rules = c.segment.rules
        floor = segments.privacy_floor()
        if segments.exact_size(brand, rules, now=now) < floor:
            raise AudienceTooSmall(
                f"This segment reaches fewer than {floor} people; campaigns need at least {floor}."
            )
        c.rules = rules
        c.scheduled_at = at if at and at > now else now
        c.status = Status.SENDING if c.scheduled_at <= now else Status.SCHEDULED
        if c.status == Status.SENDING:
            c.started_at = now
        c.save(update_fields=["rules", "scheduled_at", "status", "started_at"])
        sending = c.status == Status.SENDING
        audit.record(
            brand=brand,
            actor=acting_user,
            action=audit.Action.CAMPAIGN_SENT if sending else audit.Action.CAMPAIGN_SCHEDULED,
            campaign=c,
            at=None if sending else c.scheduled_at.isoformat(),
        )
        if sending:
            _enqueue_batch(c.pk)
    return c


def _set_status(
    brand_id: int, acting_user, campaign_id: int, allowed: set[str], to: str
) -> Campaign:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    with transaction.atomic():
        # The row lock waits for a running batch to commit: pause lands between batches.
        c = Campaign.objects.select_for_update().filter(brand=brand, pk=campaign_id).first()
        if c is None:
            raise NotFound("No such campaign.", code="campaign_not_found")
        if c.status not in allowed:
            raise Conflict(f"A {c.status} campaign cannot become {to}.", code="campaign_state")
        c.status = to
        fields = ["status"]
        if to == Status.CANCELLED:
            c.finished_at = timezone.now()
            fields.append("finished_at")
        if to == Status.SENDING:
            c.next_pass_at = None
            fields.append("next_pass_at")
            if c.started_at is None:
                c.started_at = timezone.now()
                fields.append("started_at")
        c.save(update_fields=fields)
        audit.record(brand=brand, actor=acting_user, action=_AUDIT_ACTION[to], campaign=c)
        if to == Status.SENDING:
            _enqueue_batch(c.pk)
    return c


_AUDIT_ACTION = {
    Status.PAUSED: audit.Action.CAMPAIGN_PAUSED,
    Status.SENDING: audit.Action.CAMPAIGN_RESUMED,
    Status.CANCELLED: audit.Action.CAMPAIGN_CANCELLED,
}


def campaign_pause(*, brand_id: int, acting_user, campaign_id: int) -> Campaign:
    return _set_status(
        brand_id, acting_user, campaign_id, {Status.SENDING, Status.SCHEDULED}, Status.PAUSED
    )


def campaign_resume(*, brand_id: int, acting_user, campaign_id: int) -> Campaign:
    return _set_status(brand_id, acting_user, campaign_id, {Status.PAUSED}, Status.SENDING)


def campaign_cancel(*, brand_id: int, acting_user, campaign_id: int) -> Campaign:
    return _set_status(
        brand_id,
        acting_user,
        campaign_id,
        {Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED},
        Status.CANCELLED,
    )


def _enqueue_batch(campaign_id: int, eta: dt.datetime | None = None) -> None:
    from .tasks import campaign_send_batch_task

    if eta is None:
        transaction.on_commit(lambda: campaign_send_batch_task.delay(campaign_id))
    else:
        transaction.on_commit(lambda: campaign_send_batch_task.apply_async((campaign_id,), eta=eta))


def campaigns_due(*, now: dt.datetime | None = None) -> int:
    """Beat job: start scheduled campaigns whose time came, resume deferred passes whose
    hour came. Idempotent: enqueuing a batch twice is harmless (row lock + unique row)."""
    now = now or timezone.now()
    started = 0
    due = Campaign.objects.filter(
        Q(status=Status.SCHEDULED, scheduled_at__lte=now)
        | Q(status=Status.SENDING, next_pass_at__lte=now)
        | Q(status=Status.SENDING, next_pass_at__isnull=True)
    ).values_list("pk", flat=True)
    for pk in list(due[:500]):
        with transaction.atomic():
            c = Campaign.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if c is None:
                continue
            if c.status == Status.SCHEDULED:
                c.status, c.started_at = Status.SENDING, now
                c.save(update_fields=["status", "started_at"])
            _enqueue_batch(c.pk)
            started += 1
    return started


# --- send -----------------------------------------------------------------------------------


def _in_quiet_hours(tz_name: str, now: dt.datetime, cache: dict) -> bool:
    if tz_name not in cache:
        try:
            zone = zoneinfo.ZoneInfo(tz_name) if tz_name else dt.UTC
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        hour = now.astimezone(zone).hour
        start = _setting("BRANDS_QUIET_START_HOUR", 21)
        end = _setting("BRANDS_QUIET_END_HOUR", 8)
        cache[tz_name] = (hour >= start or hour < end) if start > end else start <= hour < end
    return cache[tz_name]


def campaign_salt(c: Campaign) -> int:
    return segments.brand_bucket_salt(c.brand) * 31 + c.pk * 7919


def _variant_of(c: Campaign, salt: int):
    """The campaign's variant function (H, B or A per person), its hashes salted once."""
    holdout, split = c.holdout_percent, c.split_b_percent
    first, second = segments.bucketer(salt), segments.bucketer(salt + 1)

    def variant(user_id: int) -> str:
        if first(user_id) < holdout:
            return "H"
        if split and second(user_id) < split:
            return "B"
        return "A"

    return variant


@dataclass
class BatchResult:
    status: str
    picked: int
    sent: int
    capped: int
    holdout: int
    deferred: int


def campaign_send_batch(
    *,
    campaign_id: int,
    batch_size: int | None = None,
    now: dt.datetime | None = None,
    chain: bool = True,
) -> BatchResult:
    """Process the next batch of one campaign (see the module docstring). With `chain`,
    the next batch is enqueued after commit; without, the caller loops. If the brand's
    wallet cannot pay the batch's fees, the batch is not sent and the campaign pauses."""
    from .fees import CampaignFundsLow

    batch_size = batch_size or _setting("BRANDS_BATCH_SIZE", BATCH_SIZE_DEFAULT)
    now = now or timezone.now()
    try:
        return _send_batch(campaign_id, batch_size, now, chain)
    except CampaignFundsLow:
        Campaign.objects.filter(pk=campaign_id, status=Status.SENDING).update(status=Status.PAUSED)
        return BatchResult(Status.PAUSED, 0, 0, 0, 0, 0)


def _send_batch(campaign_id: int, batch_size: int, now: dt.datetime, chain: bool) -> BatchResult:
    from chat.services import brand_fanout

    with transaction.atomic():
        c = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("brand", "offer", "sale")
            .filter(pk=campaign_id)
            .first()
        )
        if c is not None and c.status == Status.SCHEDULED and c.scheduled_at <= now:
            c.status, c.started_at = Status.SENDING, now  # a due campaign starts here
            c.save(update_fields=["status", "started_at"])
        if c is None or c.status != Status.SENDING:
            return BatchResult(c.status if c else "missing", 0, 0, 0, 0, 0)
        if c.next_pass_at and c.next_pass_at > now:
            return BatchResult(c.status, 0, 0, 0, 0, 0)
        brand = c.brand
        already = Delivery.objects.filter(campaign_id=c.pk, user_id=OuterRef("user_id"))
        rows = list(
            segments.audience(brand, c.rules, now=now)
            .filter(user_id__gt=c.cursor_user_id)
            .exclude(Exists(already))
            .order_by("user_id")
            .values_list("user_id", "conversation_id", "user__time_zone")[:batch_size]
        )
        variant_of = _variant_of(c, campaign_salt(c))
        quiet_cache: dict = {}
        holdout, candidates, deferred = [], [], 0
        for user_id, conv_id, tz_name in rows:
            variant = variant_of(user_id)
            if variant == "H":
                holdout.append(user_id)
            elif c.respect_quiet_hours and _in_quiet_hours(tz_name, now, quiet_cache):
                deferred += 1
            else:
                candidates.append((user_id, conv_id, variant))
        capped_ids = _capped(brand, [u for u, _, _ in candidates], now)
        to_send = [r for r in candidates if r[0] not in capped_ids]
        # People who followed before chat could open their conversation get one now.
        missing = [u for u, conv, _ in to_send if conv is None]
        if missing:
            opened = _open_conversations(brand, missing)
            to_send = [(u, conv or opened[u], v) for u, conv, v in to_send]
        # A batch carries two or three distinct messages (variants): chat writes them
        # set-based from templates, one statement for the whole batch.
        variants = sorted({v for _u, _conv, v in to_send})
        tpl_index = {v: i for i, v in enumerate(variants)}
        templates = [brand_fanout.Template(**_message_for(c, v)) for v in variants]
        written = brand_fanout.deliver_templates(
            brand_id=brand.pk,
            templates=templates,
            recipients=[(u, conv, tpl_index[v]) for u, conv, v in to_send],
            now=now,
        )
        sent, capped_, held = Delivery.Status.SENT, Delivery.Status.CAPPED, Delivery.Status.HOLDOUT
        rows_out = [
            (w.user_id, variants[w.template], sent, w.conversation_id, w.message_id, w.seq)
            for w in written
        ]
        rows_out += [(u, v, capped_, None, None, None) for u, _, v in candidates if u in capped_ids]
        rows_out += [(u, "H", held, None, None, None) for u in holdout]
        insert_rows(
            Delivery,
            ["user_id", "variant", "status", "conversation_id", "message_id", "seq"],
            rows_out,
            constants={"campaign_id": c.pk, "brand_id": brand.pk, "created_at": now},
        )
        _charge_fees(brand, len(to_send), now)
        fields = ["cursor_user_id", "status", "finished_at", "next_pass_at", "passes"]
        if rows:
            c.cursor_user_id = rows[-1][0]
        if len(rows) == batch_size:
            if chain:
                _enqueue_batch(c.pk)
        else:
            # The pass is over. Anyone deferred by quiet hours gets another pass later.
            c.passes += 1
            c.cursor_user_id = 0
            if _pending_deferred(c, now):
                c.next_pass_at = (now + dt.timedelta(hours=1)).replace(
                    minute=0, second=0, microsecond=0
                )
            else:
                c.status, c.finished_at = Status.DONE, now
        c.save(update_fields=fields)
    return BatchResult(c.status, len(rows), len(to_send), len(capped_ids), len(holdout), deferred)


def _pending_deferred(c: Campaign, now: dt.datetime) -> bool:
    """Does the audience still hold someone without a delivery row (deferred)?"""
    already = Delivery.objects.filter(campaign_id=c.pk, user_id=OuterRef("user_id"))
    return segments.audience(c.brand, c.rules, now=now).exclude(Exists(already)).exists()


def _capped(brand: Brand, user_ids: list[int], now: dt.datetime) -> set[int]:
    """Who is over a frequency cap: per brand (default 4 campaign messages per 30 days)
    or across brands (default 1 per day). Two indexed queries per batch."""
    if not user_ids:
        return set()
    per_brand = _setting("BRANDS_CAP_PER_BRAND", 4)
    per_brand_days = _setting("BRANDS_CAP_PER_BRAND_DAYS", 30)
    per_day = _setting("BRANDS_CAP_ALL_BRANDS_PER_DAY", 1)
    # The batch is a run of ascending user ids: filter by its id range (two parameters,
    # not thousands) and keep only the batch's people afterwards.
    sent = Delivery.objects.filter(
        user_id__gte=min(user_ids), user_id__lte=max(user_ids), status=Delivery.Status.SENT
    )
    over_brand = (
        sent.filter(brand=brand, created_at__gte=now - dt.timedelta(days=per_brand_days))
        .values("user_id")
        .annotate(n=Count("id"))
        .filter(n__gte=per_brand)
        .values_list("user_id", flat=True)
    )
    over_day = (
        sent.filter(created_at__gte=now - dt.timedelta(days=1))
        .values("user_id")
        .annotate(n=Count("id"))
        .filter(n__gte=per_day)
        .values_list("user_id", flat=True)
    )
    wanted = set(user_ids)
    return (set(over_brand) | set(over_day)) & wanted


def _open_conversations(brand: Brand, user_ids: list[int]) -> dict[int, int]:
    from chat.services import brand_delivery

    opened = {}
    for uid in user_ids:
        conv = brand_delivery.brand_conversation_open(
            title=brand.name, avatar_url=brand.avatar_url, user_id=uid
        )
        Follow.objects.filter(brand=brand, user_id=uid).update(conversation_id=conv)
        opened[uid] = conv
    return opened


def _message_for(c: Campaign, variant: str) -> dict:
    content = c.content_b if variant == "B" and c.content_b else c.content
    payload = {"brand_id": c.brand_id, "campaign_id": c.pk, "variant": variant}
    if c.kind == Campaign.Kind.CARD:
        payload["card"] = {k: content.get(k, "") for k in ("title", "image_url", "link")}
    if c.kind == Campaign.Kind.OFFER and c.offer:
        o = c.offer
        payload["offer"] = {
            "id": o.pk,
            "title": o.title,
            "kind": o.kind,
            "amount_off_minor": o.amount_off_minor,
            "percent_off": o.percent_off,
            "currency": o.currency,
            "min_spend_minor": o.min_spend_minor,
            "ends_at": o.ends_at.isoformat(),
        }
    if c.kind == Campaign.Kind.SALE and c.sale:
        s = c.sale
        payload["sale"] = {
            "id": s.pk,
            "title": s.title,
            "price_minor": s.price_minor,
            "currency": s.currency,
            "starts_at": s.starts_at.isoformat(),
        }
    kind = "offer" if c.kind == Campaign.Kind.OFFER else "text"
    return {"kind": kind, "text": content.get("text", ""), "payload": payload}


def _charge_fees(brand: Brand, sent: int, now: dt.datetime) -> None:
    """Messages beyond the brand's free monthly quota cost `message_fee_minor` each,
    from the brand's wallet, in the batch's transaction. Defaults: unlimited, free."""
    if not sent or brand.monthly_free_messages is None or brand.message_fee_minor == 0:
        return
    from . import fees

    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    before = (
        Delivery.objects.filter(
            brand=brand, status=Delivery.Status.SENT, created_at__gte=month_start
        ).count()
        - sent
    )
    free_left = max(0, brand.monthly_free_messages - max(0, before))
    billable = max(0, sent - free_left)
    if billable:
        fees.charge_message_fees(brand=brand, count=billable, at=now)


def campaign_run_to_end(
    *, campaign_id: int, batch_size: int | None = None, max_batches: int = 10_000
) -> None:
    """Run batches inline until the campaign stops (tests, bench, management command)."""
    from chat.services.brand_fanout import flush_pushes

    for _ in range(max_batches):
        r = campaign_send_batch(campaign_id=campaign_id, batch_size=batch_size, chain=False)
        if r.status != Status.SENDING or r.picked < (batch_size or BATCH_SIZE_DEFAULT):
            break
    flush_pushes()


# --- clicks ----------------------------------------------------------------------------------


def campaign_click(*, campaign_id: int, user, brand_id: int | None = None) -> None:
    """The person opened the campaign's link or card (first click counts)."""
    deliveries = Delivery.objects.filter(
        campaign_id=campaign_id, user=user, status=Delivery.Status.SENT
    )
    if brand_id is not None:
        deliveries = deliveries.filter(brand_id=brand_id)
    d = deliveries.first()
    if d is None:
        raise NotFound("No such campaign message.", code="campaign_not_found")
    if d.clicked_at is None:
        Delivery.objects.filter(pk=d.pk, clicked_at__isnull=True).update(clicked_at=timezone.now())
        from .services import person_tag

        person_tag(brand=d.brand, user_id=user.pk, tag=f"clicked:campaign:{campaign_id}")


# --- funnel ----------------------------------------------------------------------------------


def _floored(n: int, floor: int) -> int | str:
    return n if n >= floor or n == 0 else f"< {floor}"


def campaign_funnel(*, brand_id: int, acting_user, campaign_id: int) -> dict:
    """Targeted → capped → delivered → read → clicked → claimed → redeemed → revenue,
    per variant, with lift against the holdout. Counts below the floor read "< N"."""
    from chat.services import brand_delivery

    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_READ)
    c = Campaign.objects.filter(brand=brand, pk=campaign_id).first()
    if c is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    floor = segments.privacy_floor()
    read = brand_delivery.read_through(
        conversation_id=OuterRef("conversation_id"),
        user_id=OuterRef("user_id"),
        seq=OuterRef("seq"),
    )
    rows = (
        Delivery.objects.filter(campaign=c)
        .values("variant")
        .annotate(
            targeted=Count("id"),
            capped=Count("id", filter=Q(status=Delivery.Status.CAPPED)),
            delivered=Count("id", filter=Q(status=Delivery.Status.SENT)),
            read=Count("id", filter=Q(status=Delivery.Status.SENT) & Q(Exists(read))),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
    )
    claims = (
        OfferClaim.objects.filter(campaign=c)
        .values("variant")
        .annotate(
            claimed=Count("id"),
            redeemed=Count("id", filter=Q(redeemed_at__isnull=False, attributed=True)),
        )
    )
    raw: dict[str, Counter] = {}
    for r in rows:
        raw.setdefault(r["variant"], Counter()).update(
            {k: v for k, v in r.items() if k != "variant"}
        )
    for r in claims:
        cnt = raw.setdefault(r["variant"] or "A", Counter())
        cnt["claimed"] += r["claimed"]
        cnt["redeemed"] += r["redeemed"]
    _add_revenue(c, raw)
    # Holdout conversions: redemptions by holdout people of this brand's offers after the
    # campaign started (they never saw it), for lift.
    holdout_n = raw.get("H", Counter())["targeted"]
    holdout_conv = 0
    if holdout_n and c.started_at:
        holdout_conv = OfferClaim.objects.filter(
            brand=brand,
            redeemed_at__gte=c.started_at,
            user_id__in=Delivery.objects.filter(campaign=c, variant="H").values("user_id"),
        ).count()
    variants = {}
    for v, cnt in sorted(raw.items()):
        out = {
            k: _floored(cnt[k], floor)
            for k in ("targeted", "capped", "delivered", "read", "clicked", "claimed", "redeemed")
        }
        out["revenue_minor"] = cnt["revenue"] if cnt["redeemed"] >= floor else None
        out["commission_minor"] = cnt["commission"] if cnt["redeemed"] >= floor else None
        if v == "H":
            out["redeemed"] = _floored(holdout_conv, floor)
        variants[v] = out
    lift = None
    treated = sum(raw[v]["targeted"] - raw[v]["capped"] for v in raw if v != "H")
    treated_conv = sum(raw[v]["redeemed"] for v in raw if v != "H")
    if holdout_n >= floor and treated >= floor:
        rate_t = treated_conv / treated
        rate_h = holdout_conv / holdout_n
        lift = None if rate_h == 0 else round((rate_t - rate_h) / rate_h, 4)
        variants_rates = {"treated_rate": round(rate_t, 4), "holdout_rate": round(rate_h, 4)}
    else:
        variants_rates = None
    return {
        "campaign_id": c.pk,
        "status": c.status,
        "floor": floor,
        "variants": variants,
        "lift": lift,
        "rates": variants_rates,
    }


def _add_revenue(c: Campaign, raw: dict[str, Counter]) -> None:
    """Revenue (net paid) and commission of attributed redemptions, less the refunded
    share of each order (payments reverses commission pro rata on refunds)."""
    from payments import selectors as pay_selectors

    redeemed = list(
        OfferClaim.objects.filter(
            campaign=c, attributed=True, redeemed_at__isnull=False
        ).values_list("variant", "order_ref", "net_paid_minor", "commission_minor")
    )
    ids = [int(ref) for _v, ref, _n, _c in redeemed if ref.isdigit()]
    shares = pay_selectors.order_refund_shares(order_ids=ids) if ids else {}
    for variant, ref, net, commission in redeemed:
        amount, refunded = shares.get(int(ref) if ref.isdigit() else 0, (1, 0))
        kept = max(0, amount - refunded)
        cnt = raw.setdefault(variant or "A", Counter())
        cnt["revenue"] += net * kept // max(1, amount)
        cnt["commission"] += commission * kept // max(1, amount)


def campaign_progress(*, brand_id: int, acting_user, campaign_id: int) -> dict:
    """For a live progress bar: handled so far versus the (blurred) audience."""
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_READ)
    c = Campaign.objects.filter(brand=brand, pk=campaign_id).first()
    if c is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    handled = Delivery.objects.filter(campaign=c).count()
    total = segments.exact_size(brand, c.rules or c.segment.rules)
    return {
        "status": c.status,
        "percent": 100 if c.status == Status.DONE else min(99, int(100 * handled / max(1, total))),
        "next_pass_at": c.next_pass_at,
    }
