"""The public catalogue: search, filters, sorts, featured first, cursor pages, ETags."""

import pytest

from store.services import creators, review
from tests.store.builders import published_pack

pytestmark = pytest.mark.django_db


def ids(body):
    return [p["id"] for p in body["results"]]


def test_catalogue_is_public_and_lists_only_published(api, creator):
    shown = published_pack(creator, title="Happy Cats", price=0)
    from tests.store.builders import draft_pack

    draft_pack(creator, title="Secret draft")
    r = api.get("/api/v1/store/packs")
    assert r.status_code == 200
    body = r.json()
    assert ids(body) == [shown.pk]
    card = body["results"][0]
    assert card["title"] == "Happy Cats"
    assert card["price"] == 0 and card["currency"] == "USD" and card["is_free"] is True
    assert card["creator"] == {"id": creator.pk, "display_name": "Studio"}
    assert card["sticker_count"] == 2
    assert card["cover_url"].startswith("/media/")
    assert body["next"] is None


def test_search_category_and_sorts(api, creator):
    cheap = published_pack(creator, title="Dogs", price=99, category="animals", tags=["woof"])
    dear = published_pack(creator, title="Fancy Dogs", price=499, category="animals")
    other = published_pack(creator, title="Boss", price=0, category="work", tags=["office"])
    assert set(ids(api.get("/api/v1/store/packs?q=DOG").json())) == {cheap.pk, dear.pk}
    assert ids(api.get("/api/v1/store/packs?q=woof").json()) == [cheap.pk]
    assert ids(api.get("/api/v1/store/packs?category=work").json()) == [other.pk]
    assert ids(api.get("/api/v1/store/packs?sort=price").json()) == [other.pk, cheap.pk, dear.pk]
    assert ids(api.get("/api/v1/store/packs?sort=new").json()) == [other.pk, dear.pk, cheap.pk]


def test_featured_come_first_in_every_sort(api, creator):
    packs = [published_pack(creator, title=f"P{i}", price=i * 100) for i in range(4)]
    review.pack_feature(pack_id=packs[2].pk)
    for sort in ("popular", "new", "price"):
        assert ids(api.get(f"/api/v1/store/packs?sort={sort}").json())[0] == packs[2].pk


def test_cursor_pages_cover_everything_once(api, creator):
    packs = [
        published_pack(creator, title=f"P{i}", price=(i % 3) * 100, stickers=1) for i in range(7)
    ]
    review.pack_feature(pack_id=packs[4].pk)
    for sort in ("popular", "new", "price"):
        seen, url = [], f"/api/v1/store/packs?sort={sort}&limit=2"
        while url:
            body = api.get(url).json()
            seen += ids(body)
            url = (
                f"/api/v1/store/packs?sort={sort}&limit=2&cursor={body['next']}"
                if body["next"]
                else None
            )
        assert sorted(seen) == sorted(p.pk for p in packs), sort
        assert seen[0] == packs[4].pk


def test_etag_gives_304_and_changes_when_the_catalogue_does(api, creator):
    pack = published_pack(creator, title="Cats", price=0)
    first = api.get("/api/v1/store/packs")
    etag = first["ETag"]
    assert "public" in first["Cache-Control"]
    again = api.get("/api/v1/store/packs", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    review.pack_withdraw(pack_id=pack.pk)
    after = api.get("/api/v1/store/packs", HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200 and after.json()["results"] == []
    assert after["ETag"] != etag


def test_cached_page_costs_no_query(api, creator, django_assert_num_queries):
    published_pack(creator, title="Cats", price=0)
    etag = (
        api.get("/api/v1/store/packs?sort=new").json()
        and api.get("/api/v1/store/packs?sort=new")["ETag"]
    )
    with django_assert_num_queries(0):
        assert api.get("/api/v1/store/packs?sort=new").status_code == 200
        assert api.get("/api/v1/store/packs?sort=new", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_price_change_is_seen_at_once(api, creator):
    pack = published_pack(creator, title="Cats", price=100)
    assert api.get("/api/v1/store/packs").json()["results"][0]["price"] == 100
    creators.pack_update(creator=creator, pack_id=pack.pk, price_amount=150)
    assert api.get("/api/v1/store/packs").json()["results"][0]["price"] == 150


@pytest.mark.parametrize(
    "query",
    [
        "sort=cheap",
        "limit=0",
        "limit=101",
        "cursor=garbage",
        "cursor=e30",
        "q=" + "x" * 65,
        "q=%00",
    ],
)
def test_bad_parameters_are_400(api, query):
    r = api.get(f"/api/v1/store/packs?{query}")
    assert r.status_code == 400
    assert r.json()["error"]["code"] in ("invalid", "invalid_cursor")


def test_cursor_of_another_sort_is_refused(api, creator):
    for i in range(3):
        published_pack(creator, title=f"P{i}", stickers=1)
    nxt = api.get("/api/v1/store/packs?sort=new&limit=1").json()["next"]
    assert api.get(f"/api/v1/store/packs?sort=price&cursor={nxt}").status_code == 400


def test_pack_detail_has_previews_and_hides_unpublished(api, creator):
    pack = published_pack(creator, title="Cats", price=0, stickers=3)
    r = api.get(f"/api/v1/store/packs/{pack.pk}")
    assert r.status_code == 200
    body = r.json()
    assert [s["emoji"] for s in body["stickers"]] == ["😀", "😺", "😀"]
    assert all(s["thumbnail_url"].startswith("/media/stickers/thumbs/") for s in body["stickers"])
    assert (
        api.get(f"/api/v1/store/packs/{pack.pk}", HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    )
    review.pack_withdraw(pack_id=pack.pk)
    assert api.get(f"/api/v1/store/packs/{pack.pk}").status_code == 404
    assert api.get("/api/v1/store/packs/99999999999999999999").status_code == 404


def test_process_level_cache_serves_and_forgets_on_this_processs_change(api, creator, settings):
    from store.catalogue_cache import local_clear
    from tests.conftest import clear_cache

    settings.STORE_CATALOGUE_LOCAL_SECONDS = 60
    local_clear()
    try:
        pack = published_pack(creator, title="Cats", price=0)
        first = api.get("/api/v1/store/packs")
        clear_cache()  # the shared level is gone: the process level still answers
        assert api.get("/api/v1/store/packs").content == first.content
        review.pack_withdraw(pack_id=pack.pk)  # a change here clears this process's copies
        assert api.get("/api/v1/store/packs").json()["results"] == []
    finally:
        local_clear()


def test_an_uncached_page_is_two_queries_whatever_its_size(api, creator, django_assert_num_queries):
    for i in range(5):
        published_pack(creator, title=f"P{i}", stickers=2)
    from tests.conftest import clear_cache

    clear_cache()
    with django_assert_num_queries(2):  # the ordered page, then its packs' sticker facts
        body = api.get("/api/v1/store/packs?sort=new&limit=5").json()
    assert [p["sticker_count"] for p in body["results"]] == [2] * 5


def test_cache_misses_are_rate_limited_per_ip_hits_are_not(api, creator, settings):
    settings.STORE_CATALOGUE_BUILD_RATE = "3/m"
    published_pack(creator, title="Cats", price=0, stickers=1)
    for q in ("a", "b", "c"):
        assert api.get(f"/api/v1/store/packs?q={q}").status_code == 200
    limited = api.get("/api/v1/store/packs?q=d")
    assert limited.status_code == 429 and limited["Retry-After"]
    for _ in range(5):  # cached pages keep flowing
        assert api.get("/api/v1/store/packs?q=a").status_code == 200
