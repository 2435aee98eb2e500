"""Who may use a sticker: `store.selectors.sticker_for_user`, the check chat relies on."""

import pytest

from store.selectors import sticker_for_user
from store.services import review
from store.services.purchases import pack_claim_free
from tests.store.builders import draft_pack, published_pack

pytestmark = pytest.mark.django_db


def first_sticker(pack):
    return pack.stickers.order_by("position").first()


def test_free_published_sticker_is_usable_by_anyone(creator, user):
    pack = published_pack(creator, price=0)
    sticker = first_sticker(pack)
    data = sticker_for_user(user_id=user.pk, sticker_id=sticker.pk)
    assert data["id"] == sticker.pk
    assert data["pack_id"] == pack.pk
    assert data["emoji"] == "😀"
    assert data["image_url"].startswith("/media/stickers/images/")
    # The thumbnail task ran (eagerly in tests) and made a distinct small file.
    assert data["thumbnail_url"].startswith("/media/stickers/thumbs/")


def test_paid_sticker_refused_until_owned(creator, user):
    pack = published_pack(creator, price=199)
    sticker = first_sticker(pack)
    assert sticker_for_user(user_id=user.pk, sticker_id=sticker.pk) is None


def test_owner_keeps_a_withdrawn_pack_others_lose_it(creator, user, other_user):
    pack = published_pack(creator, price=0)
    pack_claim_free(user=user, pack_id=pack.pk)
    review.pack_withdraw(pack_id=pack.pk)
    sticker = first_sticker(pack)
    assert sticker_for_user(user_id=user.pk, sticker_id=sticker.pk) is not None
    assert sticker_for_user(user_id=other_user.pk, sticker_id=sticker.pk) is None


def test_draft_and_missing_stickers_are_refused(creator, user):
    pack = draft_pack(creator, price=0)
    assert sticker_for_user(user_id=user.pk, sticker_id=first_sticker(pack).pk) is None
    assert sticker_for_user(user_id=user.pk, sticker_id=10**12) is None
    assert sticker_for_user(user_id=user.pk, sticker_id=2**70) is None


def test_check_is_one_query(creator, user, django_assert_num_queries):
    sticker = first_sticker(published_pack(creator, price=0))
    with django_assert_num_queries(1):
        assert sticker_for_user(user_id=user.pk, sticker_id=sticker.pk)
