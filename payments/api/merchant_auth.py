"""Authentication of merchants' machines: signed requests (see payments/merchant_signing.py).

Headers: X-Plaza-Merchant (the API key id), X-Plaza-Timestamp (Unix seconds),
X-Plaza-Nonce (8-64 of [A-Za-z0-9_-]), X-Plaza-Signature (hex HMAC-SHA256). A timestamp
more than five minutes from our clock, or a nonce this key already used, is refused; the
nonce is remembered in the shared cache (Redis in production) for longer than that window.
A key whose signature checks out is then rate limited (settings.MERCHANT_API_RATE).
"""

from __future__ import annotations

import hashlib
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, permissions

from config.cache import default_cache_client
from config.errors import DomainError, RateLimited
from config.ratelimit import check_rate, parse_rates

from .. import merchant_secrets, sql_rows
from ..merchant_signing import MAX_SKEW_SECONDS, sign, signature_matches
from ..models import Merchant, MerchantApiKey

_NONCE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")


class MerchantAuthFailed(DomainError):
    status = 401
    code = "merchant_signature_invalid"
    message = "The request signature is missing or wrong."


class MerchantPrincipal:
    """Stands in for request.user on the merchant API."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None
    id = None

    def __init__(self, merchant: Merchant):
        self.merchant = merchant

    def __str__(self) -> str:
        return f"merchant {self.merchant.id}"


class MerchantSignatureAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        meta = request._request.META
        key_id = meta.get("HTTP_X_PLAZA_MERCHANT", "")
        timestamp = meta.get("HTTP_X_PLAZA_TIMESTAMP", "")
        nonce = meta.get("HTTP_X_PLAZA_NONCE", "")
        signature = meta.get("HTTP_X_PLAZA_SIGNATURE", "")
        if not (key_id and timestamp and nonce and signature):
            raise MerchantAuthFailed(
                "Sign the request: X-Plaza-Merchant, X-Plaza-Timestamp, X-Plaza-Nonce and "
                "X-Plaza-Signature are required.",
                code="merchant_signature_missing",
            )
        if not _KEY_ID.match(key_id) or not _NONCE.match(nonce) or len(signature) > 128:
            raise MerchantAuthFailed("Malformed signature headers.")
        try:
            ts = int(timestamp)
        except ValueError:
            raise MerchantAuthFailed("X-Plaza-Timestamp must be Unix seconds.")
        if abs(time.time() - ts) > MAX_SKEW_SECONDS:
            raise MerchantAuthFailed(
                "The timestamp is more than five minutes away from our clock.",
                code="merchant_timestamp_stale",
            )
        key = _active_key(key_id)
        secret = merchant_secrets.decrypt_remembered(key.secret_encrypted) if key else None
        body = request._request.body
        path = request._request.get_full_path()
        # Compute a signature even for an unknown key, so timing says nothing about ids.
        expected = sign(secret or "unknown-key", request.method, path, timestamp, nonce, body)
        if not signature_matches(expected, signature) or key is None or secret is None:
            raise MerchantAuthFailed()
        _spend_nonce_and_count(key_id, nonce)
        if key.merchant.status != Merchant.Status.ACTIVE:
            raise DomainError("This merchant is suspended.", code="merchant_suspended", status=403)
        return MerchantPrincipal(key.merchant), key

    def authenticate_header(self, request):
        return "Plaza-HMAC-SHA256"


NONCE_TTL = 2 * MAX_SKEW_SECONDS + 60

# The nonce (SET NX: refused if this key used it) and, only for a fresh nonce, one hit in
# every rate window (INCR, the TTL set on a window's first hit) in ONE round trip: the
# same keys and counting as cache.add + config.ratelimit.check_rate, which took three
# to five round trips through Django's cache per request.
_NONCE_AND_RATE = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then return {0} end
local out = {1}
for i = 2, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
  out[i] = n
end
return out
"""
_scripts: dict[int, object] = {}


def _cache_key(raw: str) -> str:
    # What Django's cache would name `raw` (KEY_PREFIX and VERSION applied).
    conf = settings.CACHES["default"]
    return f"{conf.get('KEY_PREFIX', '')}:{conf.get('VERSION', 1)}:{raw}"


def _nonce_reused() -> MerchantAuthFailed:
    return MerchantAuthFailed(
        "This nonce was already used; send a fresh one.", code="merchant_nonce_reused"
    )


def _spend_nonce_and_count(key_id: str, nonce: str) -> None:
    """Refuse a nonce this key already used, then count the request against the key's
    rate limit (settings.MERCHANT_API_RATE); a replay is refused before it counts."""
    nonce_key = f"mnonce:{key_id}:{nonce}"
    spec = settings.MERCHANT_API_RATE
    client = default_cache_client()
    if client is None:  # the embedded shape's local-memory cache
        if not cache.add(nonce_key, 1, timeout=NONCE_TTL):
            raise _nonce_reused()
        check_rate("merchant-api", key_id, spec)
        return
    now = time.time()
    digest = hashlib.sha256(key_id.encode()).hexdigest()[:32]
    windows = [(limit, window, int(now // window)) for limit, window in parse_rates(spec)]
    keys = [_cache_key(nonce_key)] + [
        _cache_key(f"rl:merchant-api:{window}:{bucket}:{digest}") for _l, window, bucket in windows
    ]
    script = _scripts.get(id(client))
    if script is None:  # redis-py's Script: EVALSHA, loading it again after a restart
        script = _scripts[id(client)] = client.register_script(_NONCE_AND_RATE)
    reply = script(keys=keys, args=[NONCE_TTL] + [window + 1 for _l, window, _b in windows])
    if not reply[0]:
        raise _nonce_reused()
    for (limit, window, bucket), count in zip(windows, reply[1:], strict=True):
        if count > limit:
            raise RateLimited(None, retry_after=int((bucket + 1) * window - now) + 1)


# The key and its merchant in one hand-written statement: every merchant request reads
# it, and the ORM's query building cost more CPU than the round trip.
_KEY_SQL = f"""
SELECT {sql_rows.columns(MerchantApiKey, "k")}, {sql_rows.columns(Merchant, "m")}
  FROM payments_merchantapikey k JOIN payments_merchant m ON m.id = k.merchant_id
 WHERE k.key_id = %s AND k.revoked_at IS NULL
"""  # noqa: S608 (column names from the models, no input)
_KEY_COLUMNS = len(MerchantApiKey._meta.concrete_fields)


def _active_key(key_id: str) -> MerchantApiKey | None:
    """The unrevoked API key `key_id` with its merchant, or None."""
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [key_id])
        row = cursor.fetchone()
    if row is None:
        return None
    key = sql_rows.from_row(MerchantApiKey, row[:_KEY_COLUMNS])
    key.merchant = sql_rows.from_row(Merchant, row[_KEY_COLUMNS:])
    return key


class IsSignedMerchant(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, MerchantApiKey)


class MerchantSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "payments.api.merchant_auth.MerchantSignatureAuthentication"
    name = "merchantSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Plaza-Signature",
            "description": (
                "hex HMAC-SHA256 of METHOD\\npath\\ntimestamp\\nnonce\\nbody with the "
                "merchant's secret; also send X-Plaza-Merchant (key id), X-Plaza-Timestamp "
                "and X-Plaza-Nonce. See docs/API.md."
            ),
        }
