"""Settings for the Zoom → Brevo connector portal.

Everything comes from the environment (and an optional ``.env`` file) through
django-environ. With no environment at all the portal runs for development: SQLite
and an embedded Celery broker under ``var/``, generated keys, the local sandbox on.
With ``DEBUG=false`` the secrets must be given explicitly.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)


def _dev_secret(name: str, make) -> str:
    """Read a development secret from var/, creating it on first use."""
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")
    path = VAR_DIR / f".{name.lower()}"
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_secret(
    "SECRET_KEY", lambda: secrets.token_urlsafe(50)
)
# Comma-separated: the first key encrypts, every key decrypts (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    _dev_secret("FIELD_ENCRYPTION_KEYS", _fernet_key)
]

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL of this portal, used in OAuth redirect URIs and Brevo notify URLs.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip(
    "/"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "connector",
]

# The sandbox imitates Zoom and Brevo locally. On by default in development, off
# in production unless SANDBOX=true is set on purpose.
SANDBOX = env.bool("SANDBOX", default=DEBUG)
if SANDBOX:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "connector.security.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes;
    # IMMEDIATE transactions take the write lock up front instead of failing
    # with "database is locked" when a read turns into a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
# Keep connections between requests: opening one (for SQLite, the PRAGMAs above
# and Django's function registrations) costs more than a webhook request itself.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", 60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
# Sign-in throttling: this many failures lock an address or user name out.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
LOGIN_REDIRECT_URL = "/connect/zoom/"
LOGOUT_REDIRECT_URL = "login"

# Production hardening: `manage.py check --deploy` passes with DEBUG off.
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Zoom webhooks carry at most a few KB; anything near this is refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
WEBHOOK_TIMESTAMP_TOLERANCE = env.int("WEBHOOK_TIMESTAMP_TOLERANCE", default=300)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=90)
# A replaced webhook secret token keeps verifying deliveries this long.
WEBHOOK_SECRET_ROTATION_HOURS = env.int("WEBHOOK_SECRET_ROTATION_HOURS", default=24)
# Reconciliation looks this many days back for occurrences no sync run covered,
# and starts at most this many scheduled runs for one occurrence.
RECONCILE_DAYS = env.int("RECONCILE_DAYS", default=3)
RECONCILE_MAX_ATTEMPTS = env.int("RECONCILE_MAX_ATTEMPTS", default=3)

# Where the portal reaches Zoom and Brevo. The sandbox is reached the same way.
_sandbox_base = f"{PORTAL_BASE_URL}/sandbox"
ZOOM_API_BASE_URL = env.str(
    "ZOOM_API_BASE_URL",
    default=f"{_sandbox_base}/zoom/v2" if SANDBOX else "https://api.zoom.us/v2",
).rstrip("/")
ZOOM_OAUTH_BASE_URL = env.str(
    "ZOOM_OAUTH_BASE_URL",
    default=f"{_sandbox_base}/zoom" if SANDBOX else "https://zoom.us",
).rstrip("/")
BREVO_API_BASE_URL = env.str(
    "BREVO_API_BASE_URL",
    default=f"{_sandbox_base}/brevo/v3" if SANDBOX else "https://api.brevo.com/v3",
).rstrip("/")

# Brevo contact imports: body ceiling (Brevo allows 10 MB, recommends about 8);
# how completion is followed: "auto" asks Brevo to call the portal back
# (notifyUrl) when PORTAL_BASE_URL is reachable, "on"/"off" force it; how long to
# wait for that call before asking /processes; and how long to follow at most.
BREVO_IMPORT_MAX_BYTES = env.int("BREVO_IMPORT_MAX_BYTES", default=7_500_000)
BREVO_IMPORT_NOTIFY = env.str("BREVO_IMPORT_NOTIFY", default="auto")
BREVO_IMPORT_NOTIFY_WAIT = env.float("BREVO_IMPORT_NOTIFY_WAIT", default=30.0)
BREVO_IMPORT_FOLLOW_SECONDS = env.float("BREVO_IMPORT_FOLLOW_SECONDS", default=900.0)

# The user-level Zoom OAuth app behind the "Connect Zoom" button.
ZOOM_OAUTH_CLIENT_ID = env.str("ZOOM_OAUTH_CLIENT_ID", default="")
ZOOM_OAUTH_CLIENT_SECRET = env.str("ZOOM_OAUTH_CLIENT_SECRET", default="")
ZOOM_OAUTH_WEBHOOK_SECRET = env.str("ZOOM_OAUTH_WEBHOOK_SECRET", default="")
ZOOM_OAUTH_SCOPES = env.list("ZOOM_OAUTH_SCOPES", default=[])
if SANDBOX:
    # With no OAuth app configured, "Connect Zoom" uses the sandbox's development
    # app (the sandbox accepts exactly these values; they protect nothing).
    ZOOM_OAUTH_CLIENT_ID = ZOOM_OAUTH_CLIENT_ID or "SbxUserOAuthClient0001"
    ZOOM_OAUTH_CLIENT_SECRET = (
        ZOOM_OAUTH_CLIENT_SECRET or "sandbox-user-oauth-client-secret-dev-only"
    )
    ZOOM_OAUTH_WEBHOOK_SECRET = (
        ZOOM_OAUTH_WEBHOOK_SECRET or "sandbox-user-oauth-webhook-secret-dev-only"
    )
# Sandbox switches read when its configuration row is first created; change them
# at run time through /sandbox/api/config.
SANDBOX_RATE_LIMITS = env.bool("SANDBOX_RATE_LIMITS", default=True)

HTTP_TIMEOUT = env.float("HTTP_TIMEOUT", default=30.0)
HTTP_MAX_RETRIES = env.int("HTTP_MAX_RETRIES", default=4)

# Celery. The default broker is kombu's filesystem transport under var/: no
# server needed. Set CELERY_BROKER_URL to redis:// or amqp:// in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The worker looks for new files this often (seconds).
        "polling_interval": 0.1,
    }
else:
    # Redis redelivers a task whose worker died without acknowledging it after
    # this many seconds (RabbitMQ does so as soon as the connection drops).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "portal"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Workers log through LOGGING below (event keys with ids), like the web server.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "purge-old-deliveries": {
        "task": "connector.purge_old_deliveries",
        "schedule": 24 * 3600,
    },
    "reconcile-recent-meetings": {
        "task": "connector.reconcile_recent_meetings",
        "schedule": 3600,
    },
    "requeue-stale-deliveries": {
        "task": "connector.requeue_stale_deliveries",
        "schedule": 600,
    },
}

# Shared rate-limit and token state between workers: Redis when the broker is
# Redis (or RATE_LIMIT_REDIS_URL is set), else an in-process limiter.
RATE_LIMIT_REDIS_URL = env.str(
    "RATE_LIMIT_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "",
)

# The cache holds sign-in failure counters; Redis shares them between processes.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": RATE_LIMIT_REDIS_URL,
            "KEY_PREFIX": "portal",
        }
        if RATE_LIMIT_REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Zoom → Brevo connector portal",
    "DESCRIPTION": "Webhook intake and the read API over deliveries and sync runs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "connector.models.WebhookDelivery.Status",
        "SyncRunStatusEnum": "connector.models.SyncRun.Status",
    },
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "connector.logging.ContextFilter"}},
    "formatters": {"events": {"()": "connector.logging.EventFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "events",
            "filters": ["ids"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
        # urllib3 logs URLs at DEBUG; Brevo and Zoom never get keys in URLs, but
        # keep it quiet anyway.
        "urllib3": {"level": "WARNING"},
    },
}
