import pytest

from accounts.privacy import account_erase, privacy_export
from store import demo
from store.models import Entitlement, Pack
from store.services.purchases import pack_claim_free
from tests.store.builders import published_pack

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_shows_free_and_paid(api):
    assert demo.seed().startswith("4 new")
    assert demo.seed().startswith("0 new")
    body = api.get("/api/v1/store/packs").json()
    assert len(body["results"]) == 4
    assert body["results"][0]["featured"] is True
    assert {p["is_free"] for p in body["results"]} == {True, False}


def test_export_and_erase(creator, user, make_user):
    pack = published_pack(creator, price=0)
    pack_claim_free(user=user, pack_id=pack.pk)
    export = privacy_export(user=user)["stickers"]
    assert [p["pack_id"] for p in export["sticker_packs"]] == [pack.pk]
    assert export["purchases"][0]["amount"] == 0
    account_erase(user=user)
    assert not Entitlement.objects.filter(user=user).exists()
    account_erase(user=creator.user)
    creator.refresh_from_db()
    assert creator.display_name == "Former creator"
    assert Pack.objects.get(pk=pack.pk).status == "withdrawn"
