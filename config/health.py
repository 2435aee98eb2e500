import asyncio
import time
import uuid

from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse

from .celery import app as celery_app


async def _channel_layer_roundtrip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    marker = uuid.uuid4().hex
    try:
        await layer.send(channel, {"type": "health.ping", "marker": marker})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    finally:
        # Our Redis layer keeps a queue per channel until told (the in-memory one expires).
        discard = getattr(layer, "discard_channel", None)
        if discard is not None:
            discard(channel)
    if message.get("marker") != marker:
        raise RuntimeError("channel layer returned the wrong message")


def _check(fn) -> dict:
    start = time.perf_counter()
    try:
        fn()
        return {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 1)}
    except Exception as e:  # a health check reports, it does not raise
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:200]}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


async def healthz(request):
    from asgiref.sync import sync_to_async

    checks = {
        "database": await sync_to_async(_check)(_database),
        "broker": await sync_to_async(_check)(_broker),
    }
    start = time.perf_counter()
    try:
        await _channel_layer_roundtrip()
        checks["channel_layer"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 1)}
    except Exception as e:
        checks["channel_layer"] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:200]}
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)
