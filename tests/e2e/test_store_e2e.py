"""The sticker store over real HTTP: a creator uploads, an operator approves, a person
buys with an Idempotency-Key and sees the pack in their own list."""

import io
import uuid

import httpx
from PIL import Image

from tests.load.servers import login


def png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (160, 160), (*color, 255)).save(out, format="PNG")
    return out.getvalue()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_upload_review_buy_and_own(server):
    base = server.url + "/api/v1"
    creator_token, _ = login(server, "+14155550171")
    buyer_token, buyer = login(server, "+14155550172")
    h = auth(creator_token)
    assert (
        httpx.put(
            f"{base}/store/creator", json={"display_name": "E2E Studio"}, headers=h
        ).status_code
        == 200
    )
    title = f"E2E {uuid.uuid4().hex[:6]}"
    pack = httpx.post(
        f"{base}/store/creator/packs",
        data={"title": title, "price": "250", "currency": "USD", "tags": ["e2e"]},
        files={"cover": ("cover.png", png((10, 10, 200)), "image/png")},
        headers=h,
    )
    assert pack.status_code == 201, pack.text
    pack_id = pack.json()["id"]
    for i in range(2):
        r = httpx.post(
            f"{base}/store/creator/packs/{pack_id}/stickers",
            data={"emoji": "🎉"},
            files={"image": (f"s{i}.webp", png((200, 40 * i, 40)), "application/octet-stream")},
            headers=h,
        )
        assert r.status_code == 201, r.text
    assert (
        httpx.post(f"{base}/store/creator/packs/{pack_id}/submit", headers=h).json()["status"]
        == "in_review"
    )

    server.manage(
        "shell",
        "-c",
        f"from store.services.review import pack_approve; pack_approve(pack_id={pack_id})",
    )
    listed = httpx.get(f"{base}/store/packs", params={"q": title})
    assert [p["id"] for p in listed.json()["results"]] == [pack_id]
    assert (
        httpx.get(
            f"{base}/store/packs",
            params={"q": title},
            headers={"If-None-Match": listed.headers["ETag"]},
        ).status_code
        == 304
    )

    server.manage(
        "shell",
        "-c",
        "from accounts.models import User; "
        "from payments.services.funding import operator_credit; "
        "from payments.services.pin import pin_set, pin_free_limit_set; "
        f"u = User.objects.get(pk={buyer['id']}); "
        "operator_credit(user_id=u.pk, amount=1000, currency='USD'); "
        "pin_set(user=u, pin='112233'); pin_free_limit_set(user=u, limit=500)",
    )
    hb = {**auth(buyer_token), "Idempotency-Key": "e2e-buy-1"}
    first = httpx.post(
        f"{base}/store/packs/{pack_id}/purchase", json={"expected_price": 250}, headers=hb
    )
    assert first.status_code == 201, first.text
    again = httpx.post(
        f"{base}/store/packs/{pack_id}/purchase", json={"expected_price": 250}, headers=hb
    )
    assert again.status_code == 201 and again.json() == first.json()
    wallet = httpx.get(f"{base}/wallet", headers=auth(buyer_token)).json()
    assert {"currency": "USD", "balance": 750} in [
        {"currency": b["currency"], "balance": b["balance"]} for b in wallet["balances"]
    ]
    mine = httpx.get(f"{base}/me/sticker-packs", headers=auth(buyer_token)).json()["results"]
    assert [p["id"] for p in mine] == [pack_id] and len(mine[0]["stickers"]) == 2
    assert "ledger_check: OK" in server.manage("ledger_check")
