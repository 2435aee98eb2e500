"""Creators upload packs over multipart; images are checked by content; review in services."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from store.images import demo_png
from store.models import Pack
from store.services import review

pytestmark = pytest.mark.django_db


def image_bytes(fmt="PNG", size=(128, 128), frames=1):
    imgs = [Image.new("RGBA", size, (i * 40 % 255, 100, 200, 255)) for i in range(frames)]
    out = io.BytesIO()
    if frames > 1:
        imgs[0].save(out, format=fmt, save_all=True, append_images=imgs[1:], duration=100, loop=0)
    else:
        imgs[0].convert("RGB" if fmt == "JPEG" else "RGBA").save(out, format=fmt)
    return out.getvalue()


def upload(name, data, content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def creator_client(user, client_of):
    c = client_of(user)
    r = c.put("/api/v1/store/creator", {"display_name": "Meow Studio"}, format="json")
    assert r.status_code == 200
    assert r.json()["revenue_share_percent"] == 70.0
    return c


def new_pack(c, **fields):
    body = {
        "title": "Cats",
        "price": 199,
        "currency": "usd",
        "category": "Animals",
        "tags": ["cat", "cute"],
    }
    body.update(fields)
    r = c.post("/api/v1/store/creator/packs", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_people_without_a_profile_cannot_upload(auth_client):
    r = auth_client.post("/api/v1/store/creator/packs", {"title": "x"}, format="json")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_a_creator"


def test_upload_submit_approve_publishes(creator_client, api):
    pack = new_pack(creator_client)
    assert pack["status"] == "draft" and pack["currency"] == "USD" and pack["category"] == "animals"
    for fmt, name in [("PNG", "a.png"), ("WEBP", "b.webp")]:
        r = creator_client.post(
            f"/api/v1/store/creator/packs/{pack['id']}/stickers",
            {"image": upload(name, image_bytes(fmt)), "emoji": "🐱"},
            format="multipart",
        )
        assert r.status_code == 201, r.content
    gif = creator_client.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload("c.gif", image_bytes("GIF", frames=3)), "emoji": "😹"},
        format="multipart",
    )
    assert gif.status_code == 201
    stickers = gif.json()["stickers"]
    assert [s["animated"] for s in stickers] == [False, False, True]
    assert all(s["thumbnail_url"] != s["image_url"] for s in stickers)  # made in Celery
    r = creator_client.post(f"/api/v1/store/creator/packs/{pack['id']}/submit")
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    assert r.json()["animated"] is True
    assert api.get("/api/v1/store/packs").json()["results"] == []
    review.pack_approve(pack_id=pack["id"])
    listed = api.get("/api/v1/store/packs").json()["results"]
    assert [p["id"] for p in listed] == [pack["id"]]


def test_rejection_carries_a_reason_and_allows_resubmission(creator_client):
    pack = new_pack(creator_client)
    creator_client.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload("a.png", demo_png(color=(1, 2, 3)))},
        format="multipart",
    )
    creator_client.post(f"/api/v1/store/creator/packs/{pack['id']}/submit")
    with pytest.raises(Exception) as no_reason:
        review.pack_reject(pack_id=pack["id"], reason="  ")
    assert getattr(no_reason.value, "code", "") == "reason_required"
    review.pack_reject(pack_id=pack["id"], reason="Blurry images")
    mine = creator_client.get(f"/api/v1/store/creator/packs/{pack['id']}").json()
    assert mine["status"] == "rejected" and mine["rejection_reason"] == "Blurry images"
    assert (
        creator_client.patch(
            f"/api/v1/store/creator/packs/{pack['id']}", {"title": "Sharper Cats"}, format="json"
        ).status_code
        == 200
    )
    r = creator_client.post(f"/api/v1/store/creator/packs/{pack['id']}/submit")
    assert r.json()["status"] == "in_review" and r.json()["rejection_reason"] == ""


@pytest.mark.parametrize(
    "name,data,why",
    [
        ("big.png", image_bytes("PNG", size=(513, 100)), "512"),
        ("photo.png", image_bytes("JPEG"), "PNG, WebP or GIF"),
        ("fake.png", b"\x89PNG\r\n\x1a\n not really a png", "not a readable"),
        ("text.gif", b"hello", "not a readable"),
        ("huge.png", b"\x89PNG" + b"0" * (500 * 1024 + 1), "500 KB"),
    ],
)
def test_bad_images_are_refused_by_content(creator_client, name, data, why):
    pack = new_pack(creator_client)
    r = creator_client.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload(name, data)},
        format="multipart",
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_image"
    assert why in r.json()["error"]["message"]


def test_truncated_png_is_refused(creator_client):
    pack = new_pack(creator_client)
    data = demo_png(color=(9, 9, 9))
    r = creator_client.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload("cut.png", data[: len(data) // 2])},
        format="multipart",
    )
    assert r.status_code == 400


def test_someone_elses_pack_is_404(creator_client, other_user, client_of):
    pack = new_pack(creator_client)
    other = client_of(other_user)
    other.put("/api/v1/store/creator", {"display_name": "Thief"}, format="json")
    assert other.get(f"/api/v1/store/creator/packs/{pack['id']}").status_code == 404
    r = other.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload("a.png", demo_png(color=(1, 1, 1)))},
        format="multipart",
    )
    assert r.status_code == 404


def test_published_pack_accepts_only_a_price_change(creator_client):
    pack = new_pack(creator_client)
    creator_client.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload("a.png", demo_png(color=(1, 2, 3)))},
        format="multipart",
    )
    creator_client.post(f"/api/v1/store/creator/packs/{pack['id']}/submit")
    review.pack_approve(pack_id=pack["id"])
    url = f"/api/v1/store/creator/packs/{pack['id']}"
    assert creator_client.patch(url, {"title": "New"}, format="json").status_code == 409
    r = creator_client.patch(url, {"price": 299}, format="json")
    assert r.status_code == 200 and r.json()["price"] == 299
    assert Pack.objects.get(pk=pack["id"]).title == "Cats"


def test_empty_pack_cannot_be_submitted(creator_client):
    pack = new_pack(creator_client)
    r = creator_client.post(f"/api/v1/store/creator/packs/{pack['id']}/submit")
    assert r.status_code == 400 and r.json()["error"]["code"] == "pack_too_small"


def test_thumbnail_is_made_once(creator_client):
    from store.models import Sticker
    from store.tasks import sticker_make_thumbnail

    pack = new_pack(creator_client)
    creator_client.post(
        f"/api/v1/store/creator/packs/{pack['id']}/stickers",
        {"image": upload("a.png", image_bytes("PNG", size=(300, 200)))},
        format="multipart",
    )
    sticker = Sticker.objects.get(pack_id=pack["id"])
    made = sticker.thumbnail.name
    assert made
    with sticker.thumbnail.open("rb") as f:
        thumb = Image.open(f)
        assert max(thumb.size) == 128 and thumb.format == "PNG"
    assert sticker_make_thumbnail.delay(sticker.pk).get() is False  # a retry changes nothing
    sticker.refresh_from_db()
    assert sticker.thumbnail.name == made


def test_pack_currency_must_be_one_the_wallet_knows(creator_client):
    r = creator_client.post(
        "/api/v1/store/creator/packs", {"title": "X", "currency": "XYZ"}, format="json"
    )
    assert r.status_code == 400 and "currency" in r.json()["error"]["fields"]


def test_cover_replaced_and_draft_deleted_with_its_files(creator_client, settings):
    import os

    pack = new_pack(creator_client)
    url = f"/api/v1/store/creator/packs/{pack['id']}"
    r = creator_client.put(
        f"{url}/cover", {"cover": upload("c.png", demo_png(color=(5, 5, 5)))}, format="multipart"
    )
    assert r.status_code == 200 and r.json()["cover_url"].startswith("/media/stickers/covers/")
    creator_client.post(
        f"{url}/stickers", {"image": upload("a.png", demo_png(color=(1, 2, 3)))}, format="multipart"
    )
    media = settings.MEDIA_ROOT
    files = [os.path.join(d, f) for d, _, fs in os.walk(media) for f in fs]
    assert len(files) == 3  # cover, image, thumbnail
    assert creator_client.delete(url).status_code == 204
    assert creator_client.get(url).status_code == 404
    assert [f for d, _, fs in os.walk(media) for f in fs] == []


def test_a_published_pack_cannot_be_deleted(creator_client):
    pack = new_pack(creator_client)
    url = f"/api/v1/store/creator/packs/{pack['id']}"
    creator_client.post(
        f"{url}/stickers", {"image": upload("a.png", demo_png(color=(1, 2, 3)))}, format="multipart"
    )
    creator_client.post(f"{url}/submit")
    review.pack_approve(pack_id=pack["id"])
    r = creator_client.delete(url)
    assert r.status_code == 409 and r.json()["error"]["code"] == "pack_not_editable"
