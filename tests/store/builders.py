"""Build store data through the real services (creator upload, operator review)."""

from __future__ import annotations

import itertools

from store.images import check_image, demo_png
from store.services import creators, review

_colors = itertools.cycle([(230, 80, 80), (80, 160, 230), (90, 200, 120), (240, 180, 60)])


def creator_for(user, name: str = "Studio"):
    return creators.creator_profile_upsert(user=user, display_name=name)


def sticker_image(side: int = 128):
    return check_image(demo_png(color=next(_colors), side=side))


def draft_pack(creator, *, title="Cats", price=0, currency="USD", stickers=2, **extra):
    pack = creators.pack_create(
        creator=creator, title=title, price_amount=price, currency=currency, **extra
    )
    for i in range(stickers):
        creators.sticker_add(
            creator=creator, pack_id=pack.pk, image=sticker_image(), emoji=["😀", "😺"][i % 2]
        )
    return pack


def published_pack(creator, **kw):
    pack = draft_pack(creator, **kw)
    creators.pack_submit(creator=creator, pack_id=pack.pk)
    return review.pack_approve(pack_id=pack.pk)
