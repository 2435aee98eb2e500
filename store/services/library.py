"""A person's own sticker packs: the order they arranged, and packs they hid."""

from __future__ import annotations

from django.db import transaction

from config.errors import InvalidInput, NotFound

from ..models import Entitlement

MAX_REORDER = 500


def library_reorder(*, user, pack_ids: list[int]) -> list[int]:
    """Put `pack_ids` first, in that order; packs not named keep their order after them."""
    if len(pack_ids) != len(set(pack_ids)):
        raise InvalidInput(
            "A pack appears twice.", code="invalid", fields={"pack_ids": ["Duplicate ids."]}
        )
    if len(pack_ids) > MAX_REORDER:
        raise InvalidInput(f"At most {MAX_REORDER} packs.", code="invalid")
    with transaction.atomic():
        owned = {
            e.pack_id: e
            for e in Entitlement.objects.select_for_update().filter(user=user).order_by("id")
        }
        unknown = [pid for pid in pack_ids if pid not in owned]
        if unknown:
            raise NotFound("You do not own one of these packs.", fields={"pack_ids": unknown[:10]})
        rest = sorted(
            (e for pid, e in owned.items() if pid not in set(pack_ids)),
            key=lambda e: (e.position, e.id),
        )
        ordered = [owned[pid] for pid in pack_ids] + rest
        for i, ent in enumerate(ordered, start=1):
            ent.position = i
        Entitlement.objects.bulk_update(ordered, ["position"])
    return [e.pack_id for e in ordered]


def library_set_hidden(*, user, pack_id: int, hidden: bool) -> Entitlement:
    with transaction.atomic():
        ent = Entitlement.objects.select_for_update().filter(user=user, pack_id=pack_id).first()
        if ent is None:
            raise NotFound("You do not own this pack.")
        if ent.hidden != hidden:
            ent.hidden = hidden
            ent.save(update_fields=["hidden"])
    return ent
