"""Send a campaign's message to yourself, exactly as followers will get it.

It goes into your own brand conversation (the one you get by following the brand in the
app), so the test shows the real chat rendering. It writes no Delivery row: tests never
count in the funnel, the frequency cap or the fees.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from brands import audit
from brands.campaigns import _message_for  # the engine's own message shape, not a copy
from brands.models import Campaign, Follow
from brands.selectors import CAN_MARKET, brand_for_member
from config.errors import DomainError
from config.ratelimit import check_rate

TEST_SEND_RATE = "5/m,30/h"


class NotFollowing(DomainError):
    code = "test_needs_follow"
    message = "To receive tests, follow the brand in the Plaza app with this phone number."


def campaign_send_test(*, brand_id: int, acting_user, campaign: Campaign) -> int:
    """Returns the chat message id."""
    from chat.services.brand_delivery import BrandMessage, deliver_bulk

    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    if campaign.brand_id != brand.pk:
        raise DomainError("Not this brand's campaign.")
    follow = Follow.objects.filter(brand=brand, user=acting_user).first()
    if follow is None or follow.conversation_id is None:
        raise NotFollowing()
    check_rate("console.test_send", f"{brand.pk}:{acting_user.pk}", TEST_SEND_RATE)
    msg = _message_for(campaign, "A")
    payload = {**msg["payload"], "test": True}
    with transaction.atomic():
        out = deliver_bulk(
            brand_id=brand.pk,
            now=timezone.now(),
            messages=[
                BrandMessage(
                    user_id=acting_user.pk,
                    conversation_id=follow.conversation_id,
                    kind=msg["kind"],
                    text="[TEST] " + msg["text"],
                    payload=payload,
                )
            ],
        )
        audit.record(
            brand=brand, actor=acting_user, action=audit.Action.CAMPAIGN_TEST, campaign=campaign
        )
    return out[acting_user.pk][0]
