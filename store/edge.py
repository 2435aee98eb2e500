"""The catalogue edge: an ASGI cache in front of Django for the public catalogue GETs.

`GET /api/v1/store/packs` and `GET /api/v1/store/packs/<id>` are the same for everyone, so
they can be answered the way a CDN would: each server process keeps the complete
responses Django gave (status, headers, body) in memory and replays them — or a 304 for a
matching `If-None-Match` — without entering Django's request machinery (no middleware, no
URL resolution, no thread hop, no database, no cache round trip).

What a client sees is the same either way, by construction:

- An entry is only ever a response Django itself produced: a 200 whose view vouched for
  it (`vouch`: the page, its ETag and the catalogue version it was built under) and that
  varies on nothing but the request's path, query string, host, scheme and
  Accept-Encoding — all part of the key. Anything else Django answers (400, 404, 429, a
  redirect, a response that sets a cookie or varies on more) is passed through as is and
  never stored.
- Requests whose answer could depend on more than the key go to Django: any with a
  Cookie header or a body (see `_key`).
- A 304 is the stored 200's headers without Content-Type and with `Content-Length: 0`,
  which is exactly what Django's own 304 carries; `If-None-Match` is read by the same
  function the view uses (`etag_matches`).

Freshness, per process:

- The catalogue version (store.catalogue_cache) is re-read from the shared cache at most
  every `STORE_CATALOGUE_LOCAL_SECONDS` (in a worker thread, one read for all requests
  waiting on it); an entry built under another version is never served. A change
  committed in this process is seen at once (its commit moves `local_generation`).
- An entry lives until its page's `built_at + STORE_CATALOGUE_CACHE_SECONDS`, the same
  bound the shared cache puts on popularity lag.
- Concurrent misses for one key send one request into Django; the others wait for its
  answer (or, if it cannot be stored, go to Django themselves).
- At most `STORE_EDGE_CACHE_ENTRIES` entries and `STORE_EDGE_CACHE_BYTES` bytes, least
  recently used first out. `STORE_EDGE_CACHE=false` turns the edge off (every request
  goes to Django, which answers the same bytes from its own cache).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from . import catalogue_cache

PATHS = re.compile(r"/api/v1/store/packs(?:/[0-9]{1,19})?")
SCOPE_KEY = "plaza.store.catalogue"
_MAX_BODY = 1 << 20


def etag_matches(header: str, etag: str) -> bool:
    """Does an If-None-Match header value match this (strong) ETag? Weak comparison, as
    RFC 9110 asks for If-None-Match: `W/"x"` matches `"x"`; `*` matches anything."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return etag in {t.strip().removeprefix("W/") for t in header.split(",")}


def vouch(request, *, version: str, built_at: float, etag: str) -> None:
    """Called by a catalogue view on the response it returns: this page is the same for
    everyone and may be replayed by the edge (see the module docstring)."""
    scope = getattr(request, "scope", None)
    if scope is not None:
        scope[SCOPE_KEY] = (version, built_at, etag)


@dataclass
class _Entry:
    version: str
    expires: float  # time.monotonic()
    etag: str
    headers: list  # the 200's [(name, value)] as Django sent them
    not_modified_headers: list
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + 64 * len(self.headers)


def _not_modified_headers(headers: list) -> list:
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-type":
            continue
        out.append((name, b"0" if lower == b"content-length" else value))
    return out


class _Capture:
    """An ASGI `send` that keeps Django's answer instead of sending it."""

    def __init__(self):
        self.start: dict | None = None
        self.chunks: list[bytes] = []
        self.done = False

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.done = True

    async def replay(self, send) -> None:
        await send(self.start)
        await send({"type": "http.response.body", "body": b"".join(self.chunks)})


class CatalogueEdge:
    """ASGI middleware: answers catalogue GETs from memory, passes everything else on."""

    def __init__(self, app):
        self.app = app
        self.entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self.size = 0
        self._version: str | None = None
        self._version_until = 0.0
        self._generation = -1
        self._refresh: asyncio.Future | None = None
        self._refresh_generation = -1
        self._inflight: dict[tuple, asyncio.Future] = {}
        # Observability for tests and the bench: requests answered here / sent to Django.
        self.hits = 0
        self.misses = 0

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not PATHS.fullmatch(scope["path"])
            or not getattr(settings, "STORE_EDGE_CACHE", True)
        ):
            return await self.app(scope, receive, send)
        key, inm = self._key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        version = await self._current_version()
        if version is None:
            return await self.app(scope, receive, send)
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None:
            if entry.version == version and entry.expires > now:
                self.entries.move_to_end(key)
                self.hits += 1
                return await self._answer(entry, inm, send)
            self._drop(key)
        self.misses += 1
        waiting = self._inflight.get(key)
        if waiting is not None:
            entry = await asyncio.shield(waiting)
            if entry is not None:
                return await self._answer(entry, inm, send)
            return await self.app(scope, receive, send)
        return await self._fill(key, scope, receive, send, inm, version)

    # --- keys and versions ----------------------------------------------------------

    @staticmethod
    def _key(scope) -> tuple[tuple | None, str]:
        """(key, If-None-Match), or (None, _) for a request the edge must leave to Django:
        one with cookies (the session and CSRF middleware answer a bad cookie with a
        Set-Cookie), with a body (the body size check), or any request while
        DISALLOWED_USER_AGENTS is set (CommonMiddleware's 403)."""
        host = forwarded_host = accept_encoding = proxy_ssl = b""
        inm = ""
        proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        proxy_name = (
            proxy_header[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
            if proxy_header
            else None
        )
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name == b"if-none-match":  # repeated lines join, as Django's META does
                inm = f"{inm},{value.decode('latin-1')}" if inm else value.decode("latin-1")
            elif name == proxy_name:
                proxy_ssl = value
            elif name == b"x-forwarded-host":
                forwarded_host = value
            elif (
                name == b"cookie"
                or name == b"transfer-encoding"
                or (name == b"content-length" and value.strip() != b"0")
            ):
                return None, inm
        if getattr(settings, "DISALLOWED_USER_AGENTS", None):
            return None, inm
        key = (
            scope["path"],
            scope.get("query_string", b""),
            host,
            forwarded_host,
            scope.get("scheme", "http"),
            proxy_ssl,
            accept_encoding,
        )
        return key, inm

    async def _current_version(self) -> str | None:
        generation = catalogue_cache.local_generation()
        if (
            self._version is not None
            and generation == self._generation
            and time.monotonic() < self._version_until
        ):
            return self._version
        # One read for every request waiting on it — unless it started before a change
        # committed here, whose requests must see the version read after it.
        if self._refresh is None or self._refresh_generation != generation:
            self._refresh = asyncio.ensure_future(self._read_version(generation))
            self._refresh_generation = generation
        try:
            return await asyncio.shield(self._refresh)
        except Exception:  # the shared cache is unreachable: let Django answer
            return None

    async def _read_version(self, generation: int) -> str:
        try:
            version = await asyncio.to_thread(catalogue_cache.catalogue_version)
        finally:
            if self._refresh_generation == generation:
                self._refresh = None
        if generation < self._generation:
            return version  # a newer read already landed; keep it
        if version != self._version:
            self.entries.clear()
            self.size = 0
        self._version = version
        self._generation = generation
        seconds = float(getattr(settings, "STORE_CATALOGUE_LOCAL_SECONDS", 1.0))
        self._version_until = time.monotonic() + max(0.0, seconds)
        return version

    # --- answering and filling ------------------------------------------------------

    @staticmethod
    async def _answer(entry: _Entry, inm: str, send) -> None:
        if etag_matches(inm, entry.etag):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": list(entry.not_modified_headers),
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": list(entry.headers)})
        await send({"type": "http.response.body", "body": entry.body})

    async def _fill(self, key, scope, receive, send, inm: str, version: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        entry = None
        try:
            # Ask Django for the full page (without If-None-Match) so there is a 200 to
            # keep; the client still gets its 304 below when its ETag matches.
            inner = dict(scope)
            inner["headers"] = [(n, v) for n, v in scope["headers"] if n != b"if-none-match"]
            capture = _Capture()
            await self.app(inner, receive, capture)
            entry = self._entry_from(inner, capture)
            if entry is not None and entry.version == version:
                self._store(key, entry)
        finally:
            del self._inflight[key]
            future.set_result(entry)
        if entry is not None:
            await self._answer(entry, inm, send)
        elif capture.start is not None:
            await capture.replay(send)

    @staticmethod
    def _entry_from(scope, capture: _Capture) -> _Entry | None:
        vouched = scope.get(SCOPE_KEY)
        start = capture.start
        if vouched is None or start is None or not capture.done or start["status"] != 200:
            return None
        version, built_at, etag = vouched
        headers = [(bytes(n), bytes(v)) for n, v in start.get("headers", [])]
        for name, value in headers:
            lower = name.lower()
            if lower == b"set-cookie":
                return None
            if lower == b"vary" and {v.strip().lower() for v in value.split(b",")} - {
                b"accept-encoding"
            }:
                return None
            if lower == b"etag" and value != etag.encode("latin-1"):
                return None
        body = b"".join(capture.chunks)
        seconds = float(getattr(settings, "STORE_CATALOGUE_CACHE_SECONDS", 30))
        left = min(seconds, built_at + seconds - time.time())
        if left <= 0 or len(body) > _MAX_BODY:
            return None
        return _Entry(
            version=version,
            expires=time.monotonic() + left,
            etag=etag,
            headers=headers,
            not_modified_headers=_not_modified_headers(headers),
            body=body,
        )

    def _store(self, key, entry: _Entry) -> None:
        max_entries = int(getattr(settings, "STORE_EDGE_CACHE_ENTRIES", 1000))
        max_bytes = int(getattr(settings, "STORE_EDGE_CACHE_BYTES", 32 << 20))
        self._drop(key)
        self.entries[key] = entry
        self.size += entry.size
        while self.entries and (len(self.entries) > max_entries or self.size > max_bytes):
            self._drop(next(iter(self.entries)))

    def _drop(self, key) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= old.size

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0
        self._version = None
