"""Plaza settings: one module, everything read from the environment.

With nothing set you get the embedded default (SQLite in WAL mode under var/, the
in-memory channel layer, a local-memory cache, Celery on kombu's filesystem transport).
DATABASE_URL, REDIS_URL and CELERY_BROKER_URL switch to the production shape.
PLAZA_ENV=production refuses to start without the secrets and hosts it needs.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("PLAZA_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

PLAZA_ENV = env.str("PLAZA_ENV", default="development")
PRODUCTION = PLAZA_ENV == "production"
TESTING = env.bool("PLAZA_TESTING", default=False)

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when PLAZA_ENV=production")
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("PLAZA_ENV=production needs SECRET_KEY (50+ characters)")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("PLAZA_ENV=production needs ALLOWED_HOSTS")
else:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="dev-insecure-plaza-key-do-not-use-in-production-0123456789"
    )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "payments",
    "store",
    "chat",
    "brands",
]

MIDDLEWARE = [
    # Run in their sync mode, in the request's one worker thread (config/http.py).
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
# Warm single-thread executors kept for requests' sync work (config/threads.py); a burst
# beyond this many concurrent requests gets fresh threads. 0 = Django's default.
ASGI_WARM_THREADS = env.int("ASGI_WARM_THREADS", default=32)
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- database -------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request runs its view in a fresh worker thread, so Django's
        # persistent connections would reconnect per request (a third of a cheap
        # request's CPU). psycopg's pool keeps connections across threads instead.
        if env.bool("DB_POOL", default=True):
            DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
                "min_size": env.int("DB_POOL_MIN", default=2),
                "max_size": env.int("DB_POOL_MAX", default=16),
                "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
            }
            DATABASES["default"]["CONN_MAX_AGE"] = 0
        else:
            DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
            DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"]["TEST"] = {
            "NAME": "test_plaza"
            + (
                f"_{env.str('PLAZA_TEST_NS', default='')}"
                if env.str("PLAZA_TEST_NS", default="")
                else ""
            )
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "plaza.sqlite3")),
            "OPTIONS": {
                # WAL lets readers and one writer work side by side; IMMEDIATE takes the
                # write lock at BEGIN so two writers queue instead of deadlocking on upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
            "TEST": {"NAME": env.str("SQLITE_TEST_PATH", default="") or None},
        }
    }
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, channel layer, celery -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Tests: PLAZA_TEST_NS keeps parallel runs (several developers, xdist workers) apart on
# one PostgreSQL and one Redis: its own test database and its own key/channel prefixes.
_TEST_NS = env.str("PLAZA_TEST_NS", default="") + env.str("PYTEST_XDIST_WORKER", default="")
_PREFIX = "plaza" + (f"-{_TEST_NS}" if _TEST_NS else "")


def _redis_db_suffix(url: str) -> str:
    from urllib.parse import urlparse

    db = (urlparse(url).path or "/").strip("/") or "0"
    return "" if db == "0" else f"-db{db}"


if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache with one connection pool per process (config/cache.py).
            "BACKEND": "config.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=_PREFIX),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: one subscription per process and per connected person, no
            # per-channel polling; publishes pipelined (config/channel_layer.py says why
            # not channels_redis's pub/sub layer).
            "BACKEND": "config.channel_layer.RedisPubSubLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Pub/sub ignores Redis's database number: two deployments on one Redis
                # (db 0 and db 1, say) would hear each other's groups under one prefix.
                "prefix": env.str("CHANNEL_PREFIX", default=_PREFIX + _redis_db_suffix(REDIS_URL)),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
if not CELERY_BROKER_URL:
    _queue_dir = VAR_DIR / "celery-queue"
    (_queue_dir / "out").mkdir(parents=True, exist_ok=True)
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}  # each app adds its jobs in its AppConfig.ready()

# --- auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [d for d in [BASE_DIR / "static"] if d.exists()]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Request bodies: JSON is small; uploads have their own per-kind limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
PLAZA_MAX_BODY_BYTES = env.int("PLAZA_MAX_BODY_BYTES", default=12 * 1024 * 1024)

# --- REST -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Plaza API",
    "DESCRIPTION": "Chat, wallet, stickers, merchants and brands. See docs/API.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- identity -------------------------------------------------------------------------
OTP_TTL_SECONDS = env.int("OTP_TTL_SECONDS", default=300)
OTP_MAX_TRIES = 5
OTP_RATE_PER_PHONE = env.str("OTP_RATE_PER_PHONE", default="1/m,5/h")
OTP_RATE_PER_IP = env.str("OTP_RATE_PER_IP", default="20/h")
LOGIN_RATE_PER_IP = env.str("LOGIN_RATE_PER_IP", default="30/m")
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="accounts.sms.ConsoleBackend" if not PRODUCTION else "accounts.sms.HttpSmsBackend",
)
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms.log"))
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_ACCOUNT = env.str("SMS_HTTP_ACCOUNT", default="")
SMS_HTTP_TOKEN = env.str("SMS_HTTP_TOKEN", default="")
SMS_HTTP_FROM = env.str("SMS_HTTP_FROM", default="Plaza")
if PRODUCTION and SMS_BACKEND != "accounts.sms.HttpSmsBackend":
    raise ImproperlyConfigured("PLAZA_ENV=production needs SMS_BACKEND=accounts.sms.HttpSmsBackend")
# The dev banner of the web client may show the code only here, never in production.
OTP_EXPOSE_DEBUG_CODE = DEBUG and not PRODUCTION
PLAZA_PUBLIC_URL = env.str("PLAZA_PUBLIC_URL", default="http://127.0.0.1:8000")
WS_AUTH_TIMEOUT_SECONDS = env.float("WS_AUTH_TIMEOUT_SECONDS", default=10.0)
PRIVACY_MIN_AUDIENCE = env.int("PRIVACY_MIN_AUDIENCE", default=100)
PRIVACY_EXPORT_RATE = env.str("PRIVACY_EXPORT_RATE", default="5/h")

# --- friend graph, discovery, add-me codes ----------------------------------------------
FRIEND_REQUEST_DAILY_QUOTA = env.int("FRIEND_REQUEST_DAILY_QUOTA", default=50)
# New (never before checked by this account) phone hashes per rolling 24 hours.
CONTACT_DISCOVERY_DAILY_NEW = env.int("CONTACT_DISCOVERY_DAILY_NEW", default=1000)
CONTACT_DISCOVERY_MAX_BATCH = env.int("CONTACT_DISCOVERY_MAX_BATCH", default=1000)
CONTACT_DISCOVERY_RATE_PER_IP = env.str("CONTACT_DISCOVERY_RATE_PER_IP", default="30/m,500/d")
ADD_ME_RESOLVE_RATE = env.str("ADD_ME_RESOLVE_RATE", default="30/m,500/d")

# --- chat -----------------------------------------------------------------------------
CHAT_GROUP_MAX_MEMBERS = env.int("CHAT_GROUP_MAX_MEMBERS", default=500)
# Group invites: lifetime cap (and default), per-person limits on joins and look-ups.
CHAT_INVITE_MAX_TTL_SECONDS = env.int("CHAT_INVITE_MAX_TTL_SECONDS", default=7 * 86400)
CHAT_INVITE_JOIN_RATE = env.str("CHAT_INVITE_JOIN_RATE", default="10/m,100/h")
CHAT_INVITE_LOOKUP_RATE = env.str("CHAT_INVITE_LOOKUP_RATE", default="30/m,300/h")
CHAT_SEND_RATE_BURST = env.int("CHAT_SEND_RATE_BURST", default=20)
# Chat history (search, backups, disappearing messages): docs/PRIVACY.md, docs/OPERATIONS.md
CHAT_SEARCH_MAX_CANDIDATES = env.int("CHAT_SEARCH_MAX_CANDIDATES", default=1000)
# Words in at least this share of messages (and in more hits than the above) come newest
# first instead of ranked (PostgreSQL; see chat/selectors_search.py).
CHAT_SEARCH_NEWEST_DENSITY = env.float("CHAT_SEARCH_NEWEST_DENSITY", default=0.1)
CHAT_SEARCH_RATE = env.str("CHAT_SEARCH_RATE", default="10/s,300/m")
CHAT_BACKUP_RATE = env.str("CHAT_BACKUP_RATE", default="5/h")
# Threads per server process for WebSocket chat work (each may hold a DB connection).
CHAT_WS_DB_THREADS = env.int("CHAT_WS_DB_THREADS", default=16)
# Group commit of WebSocket sends (chat.sendqueue): at most this many batches written at
# once per process, each of at most CHAT_SEND_BATCH_MAX sends.
CHAT_SEND_BATCH_CONCURRENCY = env.int("CHAT_SEND_BATCH_CONCURRENCY", default=2)
CHAT_SEND_BATCH_MAX = env.int("CHAT_SEND_BATCH_MAX", default=256)
PUSH_BACKEND = env.str("PUSH_BACKEND", default="chat.push.LogPushBackend")
CHAT_UPLOAD_MAX_IMAGE_BYTES = env.int("CHAT_UPLOAD_MAX_IMAGE_BYTES", default=10 * 1024 * 1024)
CHAT_UPLOAD_MAX_FILE_BYTES = env.int("CHAT_UPLOAD_MAX_FILE_BYTES", default=10 * 1024 * 1024)
CHAT_UPLOAD_MAX_VOICE_BYTES = env.int("CHAT_UPLOAD_MAX_VOICE_BYTES", default=2 * 1024 * 1024)

# --- payments -------------------------------------------------------------------------
RED_PACKET_MAX_TOTAL = env.int("RED_PACKET_MAX_TOTAL", default=20000)  # 200.00 per packet
RED_PACKET_MAX_COUNT = env.int("RED_PACKET_MAX_COUNT", default=100)
RED_PACKET_TTL_SECONDS = env.int("RED_PACKET_TTL_SECONDS", default=24 * 3600)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# The sandbox gateway completes top-ups without Stripe (make run offline). Only with no
# Stripe key and DEBUG on; production refuses it (payments.gateways).
PAYMENTS_SANDBOX_GATEWAY = env.bool(
    "PAYMENTS_SANDBOX_GATEWAY", default=DEBUG and not STRIPE_SECRET_KEY and not PRODUCTION
)
if PRODUCTION and PAYMENTS_SANDBOX_GATEWAY:
    raise ImproperlyConfigured("PAYMENTS_SANDBOX_GATEWAY must be off when PLAZA_ENV=production")
PAYMENTS_CURRENCIES = env.list("PAYMENTS_CURRENCIES", default=["USD", "EUR", "GBP", "CNY"])
# Stripe's minimum charge per currency, in minor units.
PAYMENTS_TOPUP_MIN = {"USD": 50, "EUR": 50, "GBP": 30, "CNY": 400, "JPY": 50, "HKD": 400}
PAYMENTS_TOPUP_MAX = env.int("PAYMENTS_TOPUP_MAX", default=1_000_000)
# Sharded hot account (platform revenue): sub-accounts picked at random per entry.
LEDGER_HOT_ACCOUNT_SHARDS = env.int("LEDGER_HOT_ACCOUNT_SHARDS", default=8)
# PostgreSQL: concurrent post_entry calls made outside a transaction share one statement
# and one COMMIT, up to this many entries (payments/ledger_group.py, docs/LEDGER.md).
LEDGER_GROUP_COMMIT = env.bool("LEDGER_GROUP_COMMIT", default=True)
LEDGER_GROUP_COMMIT_MAX = env.int("LEDGER_GROUP_COMMIT_MAX", default=64)
PAYMENTS_PIN_MAX_TRIES = 5
PAYMENTS_PIN_LOCK_SECONDS = env.int("PAYMENTS_PIN_LOCK_SECONDS", default=3 * 3600)
# Upper bound of the password-free limit a user may opt in to (minor units).
PAYMENTS_PIN_FREE_MAX = env.int("PAYMENTS_PIN_FREE_MAX", default=20000)
PAYMENTS_PIN_ARGON2_MEMORY_KIB = (
    1024 if TESTING else env.int("PAYMENTS_PIN_ARGON2_MEMORY_KIB", default=65536)
)
PAYMENTS_PIN_ARGON2_TIME_COST = (
    1 if TESTING else env.int("PAYMENTS_PIN_ARGON2_TIME_COST", default=2)
)
# Daily sum a person may send by transfer, per verification tier (minor units, any currency).
PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 50_000, 2: 500_000, 3: 5_000_000}
# Platform fee on accepted transfers, in basis points (0 = free, as in most P2P wallets).
PAYMENTS_TRANSFER_FEE_BPS = env.int("PAYMENTS_TRANSFER_FEE_BPS", default=0)
PAYMENTS_TRANSFER_MAX = env.int("PAYMENTS_TRANSFER_MAX", default=5_000_000)
PAYMENTS_TRANSFER_EXPIRY_SECONDS = env.int("PAYMENTS_TRANSFER_EXPIRY_SECONDS", default=24 * 3600)
MERCHANT_SECRET_KEYS = env.list("MERCHANT_SECRET_KEYS", default=[])
if PRODUCTION and not MERCHANT_SECRET_KEYS:
    raise ImproperlyConfigured("PLAZA_ENV=production needs MERCHANT_SECRET_KEYS")
# Webhooks to merchants: https only, and never to private/loopback addresses (SSRF), in
# production; dev and tests may POST to a receiver on 127.0.0.1.
MERCHANT_API_RATE = env.str("MERCHANT_API_RATE", default="100/s,100000/h")  # per API key
MERCHANT_WEBHOOK_REQUIRE_HTTPS = env.bool("MERCHANT_WEBHOOK_REQUIRE_HTTPS", default=PRODUCTION)
MERCHANT_WEBHOOK_ALLOW_PRIVATE = env.bool("MERCHANT_WEBHOOK_ALLOW_PRIVATE", default=not PRODUCTION)
# Webhooks a server process commits within this window go to the worker in one Celery
# message (0 = one message per webhook); the price is up to this much added latency.
MERCHANT_WEBHOOK_BATCH_SECONDS = env.float("MERCHANT_WEBHOOK_BATCH_SECONDS", default=0.05)

# --- store ----------------------------------------------------------------------------
# Catalogue pages and pack details are cached as rendered bytes per catalogue version;
# this is how long a page may lag behind popularity counts (any other change is at once).
STORE_CATALOGUE_CACHE_SECONDS = env.int("STORE_CATALOGUE_CACHE_SECONDS", default=30)
# Each server process also keeps hot pages in memory this long (0 = off; off in tests so
# one test's pages never leak into the next): a change made through another process
# shows after at most this delay.
STORE_CATALOGUE_LOCAL_SECONDS = env.float(
    "STORE_CATALOGUE_LOCAL_SECONDS", default=0.0 if TESTING else 1.0
)
# The catalogue edge (store/edge.py): each server process replays Django's catalogue
# answers from memory in front of Django, within the two freshness bounds above.
STORE_EDGE_CACHE = env.bool("STORE_EDGE_CACHE", default=True)
STORE_EDGE_CACHE_ENTRIES = env.int("STORE_EDGE_CACHE_ENTRIES", default=1000)
STORE_EDGE_CACHE_BYTES = env.int("STORE_EDGE_CACHE_BYTES", default=32 * 1024 * 1024)
STORE_PURCHASE_RATE = env.str("STORE_PURCHASE_RATE", default="10/s,300/h")
# Purchases add to their pack's popularity in one UPDATE per process at most this often
# (0 = one per purchase, as in tests).
STORE_POPULARITY_FLUSH_SECONDS = env.float(
    "STORE_POPULARITY_FLUSH_SECONDS", default=0.0 if TESTING else 1.0
)
# Catalogue pages that miss the cache (and so cost database work) per client IP.
STORE_CATALOGUE_BUILD_RATE = env.str("STORE_CATALOGUE_BUILD_RATE", default="30/s,600/m")
STORE_PACK_MIN_STICKERS = env.int("STORE_PACK_MIN_STICKERS", default=1)
# Sticker files go through Django's storage API. Default: local disk under MEDIA_ROOT.
# S3-compatible storage (AWS S3, MinIO, R2): `pip install django-storages[s3]` and set
# MEDIA_STORAGE_BACKEND=storages.backends.s3.S3Storage plus AWS_STORAGE_BUCKET_NAME,
# AWS_S3_ENDPOINT_URL (for non-AWS), AWS_S3_REGION_NAME, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY and optionally AWS_S3_CUSTOM_DOMAIN (a CDN). See docs/OPERATIONS.md.
MEDIA_STORAGE_BACKEND = env.str("MEDIA_STORAGE_BACKEND", default="")
if MEDIA_STORAGE_BACKEND:
    _media_options = {
        k: v
        for k, v in {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME", default=""),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=""),
            "region_name": env.str("AWS_S3_REGION_NAME", default=""),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=""),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=""),
            "custom_domain": env.str("AWS_S3_CUSTOM_DOMAIN", default=""),
        }.items()
        if v
    }
    # Sticker URLs are public and immutable (random names): no signed, expiring URLs.
    _media_options.update(querystring_auth=False, file_overwrite=False, default_acl=None)
    STORAGES["default"] = {"BACKEND": MEDIA_STORAGE_BACKEND, "OPTIONS": _media_options}

# --- brands ---------------------------------------------------------------------------
BRANDS_BATCH_SIZE = env.int("BRANDS_BATCH_SIZE", default=2000)  # people per delivery batch
BRANDS_QUIET_START_HOUR = env.int("BRANDS_QUIET_START_HOUR", default=21)  # person's local time
BRANDS_QUIET_END_HOUR = env.int("BRANDS_QUIET_END_HOUR", default=8)
BRANDS_CAP_PER_BRAND = env.int("BRANDS_CAP_PER_BRAND", default=4)  # per person per window
BRANDS_CAP_PER_BRAND_DAYS = env.int("BRANDS_CAP_PER_BRAND_DAYS", default=30)
BRANDS_CAP_ALL_BRANDS_PER_DAY = env.int("BRANDS_CAP_ALL_BRANDS_PER_DAY", default=1)
BRANDS_ATTRIBUTION_DAYS = env.int("BRANDS_ATTRIBUTION_DAYS", default=7)
BRANDS_ESTIMATE_RATE = env.str("BRANDS_ESTIMATE_RATE", default="30/m,1000/d")  # per brand

# --- logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- production hardening -------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False

# --- brand console: email for team invites, invite lifetime (docs/CONSOLE.md) ----------
# Development prints emails to the console; production sends with SMTP from these.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587 if PRODUCTION else 25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=PRODUCTION)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# For django.core.mail.backends.filebased.EmailBackend (browser tests read invites here).
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "emails"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Plaza console <no-reply@localhost>")
CONSOLE_INVITE_TTL_HOURS = env.int("CONSOLE_INVITE_TTL_HOURS", default=72)
# Links in invites: this origin (e.g. https://console.example.com) or, when empty, the
# origin of the owner's own request.
CONSOLE_BASE_URL = env.str("CONSOLE_BASE_URL", default="")
