"""Demo packs: a few free and paid sticker packs with generated PNG stickers."""

from __future__ import annotations

from accounts.models import User

from .images import check_image, demo_png
from .models import Pack
from .services import creators, review

STUDIO_PHONE = "+14155550190"
PACKS = [
    # title, price (minor units), category, tags, colour, emojis
    ("Plaza Smiles", 0, "emotions", ["smile", "happy"], (250, 190, 40), "😀😂😍😢"),
    ("Office Life", 0, "work", ["office", "meeting"], (80, 140, 220), "💼☕📈😴"),
    ("Party Cats", 199, "animals", ["cat", "party"], (230, 90, 120), "🐱🎉😹🎂"),
    ("Dragon Year", 299, "festivals", ["dragon", "new year"], (200, 40, 40), "🐉🧧🎆🥟"),
]


def seed() -> str:
    user, _ = User.objects.get_or_create(
        phone=STUDIO_PHONE, defaults={"display_name": "Plaza Studio"}
    )
    creator = creators.creator_profile_upsert(
        user=user, display_name="Plaza Studio", bio="The house sticker studio"
    )
    made = 0
    for title, price, category, tags, color, emojis in PACKS:
        if Pack.objects.filter(creator=creator, title=title).exists():
            continue
        pack = creators.pack_create(
            creator=creator,
            title=title,
            description=f"{title}: demo stickers",
            category=category,
            tags=tags,
            price_amount=price,
            currency="USD",
        )
        for i, emoji in enumerate(emojis):
            shade = tuple(min(255, c + i * 12) for c in color)
            image = check_image(demo_png(color=shade, text=title.split()[0], side=240))
            creators.sticker_add(creator=creator, pack_id=pack.pk, image=image, emoji=emoji)
        creators.pack_submit(creator=creator, pack_id=pack.pk)
        review.pack_approve(pack_id=pack.pk)
        made += 1
    if made:
        first = Pack.objects.filter(creator=creator, title=PACKS[0][0]).first()
        if first and not first.featured:
            review.pack_feature(pack_id=first.pk)
    return f"{made} new sticker packs ({len(PACKS)} in the demo catalogue)"
