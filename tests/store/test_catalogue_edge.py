"""The catalogue edge (store/edge.py): the ASGI cache in front of Django answers exactly
what Django answers — same status, headers, body, ETag and error shape — and only from
pages Django itself gave it; changes show within the documented bounds."""

import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async

from config.asgi import catalogue_edge
from store import catalogue_cache
from store.edge import CatalogueEdge
from store.services import review
from tests.store.builders import published_pack

pytestmark = pytest.mark.django_db(transaction=True)

DJANGO = catalogue_edge.app  # the application behind the edge (static files + Django)


class Counting:
    """Passes every request on to Django and counts them."""

    def __init__(self, app):
        self.app = app
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        await self.app(scope, receive, send)


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def seen(r: httpx.Response):
    return r.status_code, r.headers.multi_items(), r.content


def cookie_names(answer):
    """An answer with each Set-Cookie reduced to its cookie's name (a new CSRF token is
    random each time)."""
    status, headers, body = answer
    headers = [(k, v.split("=")[0] if k == "set-cookie" else v) for k, v in headers]
    return status, headers, body


@pytest.fixture
def packs(creator):
    made = [published_pack(creator, title=f"Cats {i}", price=100 * i, stickers=1) for i in range(3)]
    catalogue_cache.local_clear()
    return made


@pytest.fixture(autouse=True)
async def _close_view_thread_connections():
    yield
    # Django's views ran in asgiref's sync thread: close its connection so the test
    # database can be dropped at the end of the run.
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
def edge():
    inner = Counting(DJANGO)
    return CatalogueEdge(inner), inner


async def test_the_edge_answers_byte_for_byte_what_django_answers(packs, edge):
    edge, inner = edge
    pack = packs[1]
    urls = [
        "/api/v1/store/packs",
        "/api/v1/store/packs?sort=new&limit=2",
        f"/api/v1/store/packs/{pack.pk}",
    ]
    async with client(DJANGO) as direct, client(edge) as cached:
        for url in urls:
            from_django = await direct.get(url)
            assert from_django.status_code == 200
            etag = from_django.headers["ETag"]
            assert (await cached.get(url)).status_code == 200  # fills the edge
            calls = inner.calls
            assert seen(await cached.get(url)) == seen(from_django)
            for inm in (etag, f"W/{etag}", f'"nope", {etag}', "*", '"nope"'):
                h = {"If-None-Match": inm}
                assert seen(await cached.get(url, headers=h)) == seen(
                    await direct.get(url, headers=h)
                )
            assert inner.calls == calls, "answered from the edge, not from Django"
    assert edge.hits >= 6 * len(urls)


async def test_a_304_from_django_and_from_the_edge_are_the_same(packs, edge):
    edge, inner = edge
    async with client(DJANGO) as direct, client(edge) as cached:
        etag = (await direct.get("/api/v1/store/packs")).headers["ETag"]
        h = {"If-None-Match": etag}
        first = await cached.get("/api/v1/store/packs", headers=h)  # a miss: fills, then 304
        again = await cached.get("/api/v1/store/packs", headers=h)  # from memory
        from_django = await direct.get("/api/v1/store/packs", headers=h)
    assert from_django.status_code == 304 and from_django.content == b""
    assert "content-type" not in from_django.headers
    assert seen(first) == seen(again) == seen(from_django)
    assert inner.calls == 1


async def test_errors_pass_through_unchanged_and_are_never_kept(packs, edge):
    edge, inner = edge
    urls = [
        "/api/v1/store/packs?sort=cheap",
        "/api/v1/store/packs?cursor=garbage",
        "/api/v1/store/packs/987654321",
    ]
    async with client(DJANGO) as direct, client(edge) as cached:
        for url in urls:
            for _ in range(2):
                through = await cached.get(url)
                assert seen(through) == seen(await direct.get(url))
                assert through.status_code in (400, 404)
                assert through.json()["error"]["code"] in ("invalid", "invalid_cursor", "not_found")
    assert inner.calls == 2 * len(urls) and edge.hits == 0 and not edge.entries


async def test_other_methods_and_paths_go_to_django(packs, edge):
    edge, inner = edge
    async with client(edge) as cached:
        await cached.get("/api/v1/store/packs/")
        await cached.head("/api/v1/store/packs")
        await cached.get("/api/v1/store/creator/packs")
        await cached.get("/healthz")
    assert inner.calls == 4 and not edge.entries


async def test_a_change_committed_in_this_process_shows_at_once(packs, edge, settings):
    settings.STORE_CATALOGUE_LOCAL_SECONDS = 60  # no polling of the version in this test
    edge, inner = edge
    async with client(edge) as cached:
        before = await cached.get("/api/v1/store/packs")
        assert len(before.json()["results"]) == 3
        await sync_to_async(review.pack_withdraw)(pack_id=packs[0].pk)
        after = await cached.get("/api/v1/store/packs")
        assert [p["id"] for p in after.json()["results"]] != [
            p["id"] for p in before.json()["results"]
        ]
        assert packs[0].pk not in [p["id"] for p in after.json()["results"]]
        assert after.headers["ETag"] != before.headers["ETag"]
        assert (await cached.get(f"/api/v1/store/packs/{packs[0].pk}")).status_code == 404


async def test_another_process_change_shows_within_local_seconds(packs, edge, settings):
    settings.STORE_CATALOGUE_LOCAL_SECONDS = 0.3
    edge, inner = edge
    async with client(edge) as cached:
        first = await cached.get("/api/v1/store/packs")
        # Another process moves the shared version (this process's copies are untouched).
        await sync_to_async(catalogue_cache.cache.set)(
            catalogue_cache.VERSION_KEY, "elsewhere", None
        )
        assert (await cached.get("/api/v1/store/packs")).content == first.content
        calls = inner.calls
        await asyncio.sleep(0.35)
        await cached.get("/api/v1/store/packs")
        assert inner.calls == calls + 1, "the new version was read and the page asked again"


async def test_concurrent_misses_send_one_request_into_django(packs, edge):
    edge, inner = edge
    async with client(edge) as cached:
        answers = await asyncio.gather(
            *(cached.get("/api/v1/store/packs?sort=price") for _ in range(8))
        )
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    assert inner.calls == 1


async def test_pages_are_kept_no_longer_than_the_cache_lifetime(packs, edge, settings):
    settings.STORE_CATALOGUE_CACHE_SECONDS = 0  # nothing may be kept: every read is Django's
    edge, inner = edge
    async with client(edge) as cached:
        for _ in range(3):
            assert (await cached.get("/api/v1/store/packs")).status_code == 200
    assert inner.calls == 3 and not edge.entries


async def test_switched_off_every_request_reaches_django(packs, edge, settings):
    settings.STORE_EDGE_CACHE = False
    edge, inner = edge
    async with client(edge) as cached:
        for _ in range(3):
            assert (await cached.get("/api/v1/store/packs")).status_code == 200
    assert inner.calls == 3 and edge.hits == 0


async def test_the_edge_keeps_a_bounded_number_of_pages(packs, edge, settings):
    settings.STORE_EDGE_CACHE_ENTRIES = 2
    edge, inner = edge
    async with client(edge) as cached:
        for sort in ("popular", "new", "price"):
            await cached.get(f"/api/v1/store/packs?sort={sort}")
    assert len(edge.entries) == 2
    assert [k[1] for k in edge.entries] == [b"sort=new", b"sort=price"]


async def test_a_token_changes_nothing_the_catalogue_is_public(packs, edge):
    edge, inner = edge
    h = {"Authorization": "Bearer not-a-token"}
    async with client(DJANGO) as direct, client(edge) as cached:
        plain = await direct.get("/api/v1/store/packs")
        assert seen(await direct.get("/api/v1/store/packs", headers=h)) == seen(plain)
        await cached.get("/api/v1/store/packs")
        assert seen(await cached.get("/api/v1/store/packs", headers=h)) == seen(plain)
    assert inner.calls == 1


async def test_requests_with_cookies_or_a_body_are_left_to_django(packs, edge):
    # Django's session and CSRF middleware answer a bad cookie with a Set-Cookie (and the
    # body size check reads Content-Length): only Django can answer those the same way.
    edge, inner = edge
    odd = [
        {"Cookie": "sessionid=forged"},
        {"Cookie": "csrftoken=short"},
        {"Content-Length": "5"},
    ]
    async with client(DJANGO) as direct, client(edge) as cached:
        await cached.get("/api/v1/store/packs")  # an entry exists for the plain request
        calls = inner.calls
        for h in odd:
            from_django = await direct.get("/api/v1/store/packs", headers=h)
            through = await cached.get("/api/v1/store/packs", headers=h)
            assert cookie_names(seen(through)) == cookie_names(seen(from_django))
        assert inner.calls == calls + len(odd)
        assert "set-cookie" in (await direct.get("/api/v1/store/packs", headers=odd[0])).headers
