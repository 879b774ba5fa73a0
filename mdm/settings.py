"""Settings for the MDM service, read from the environment (see README "Configuration").

With no environment at all the service runs on the embedded default: SQLite under
``var/`` and Celery tasks executed in-process, so the demo needs no servers.
Production and the test suite set ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from mdm.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MDM_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("MDM_REQUIRE_SECRET_KEY", False):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set")
    # Local-only default; `check --deploy` flags it, and production sets SECRET_KEY.
    SECRET_KEY = "django-insecure-local-development-key-change-me-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "golden",
    "connectors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "mdm.context.CorrelationIdMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "mdm.urls"
WSGI_APPLICATION = "mdm.wsgi.application"

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

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "mdm.sqlite3",
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# The demo and tests run without collectstatic; production serves the collected,
# hashed files through WhiteNoise.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("MDM_MANIFEST_STATIC", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "/steward/login/"

# Security: strict when DEBUG is off and TLS terminates in front of us.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "golden.api.authentication.BearerOrTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["golden.api.permissions.CanRead"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "golden.api.pagination.CanonicalIdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "golden.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MDM service API",
    "DESCRIPTION": (
        "Golden records, crosswalk lookups and ingestion for customers, legal entities, "
        "projects and service codes across CRM, PSA and ERP."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: Redis when configured; otherwise tasks run in-process (embedded default).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Batch-matching partitions are long and CPU-bound: their own queue, so they never hold up
# deliveries (workers consume both: `celery -A mdm worker -Q celery,matching`).
CELERY_TASK_ROUTES = {"golden.tasks.*": {"queue": "matching"}}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
CELERY_TIMEZONE = "UTC"
# Keep Django's logging (with the correlation ID) in workers instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "mdm.context.CorrelationIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["correlation"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Domain configuration -------------------------------------------------------------

# Canonical-ID prefixes per entity type; numbers come from a sequence and are never reused.
MDM_CANONICAL_ID_DIGITS = 6

# Survivorship v1: per entity type and attribute, the systems in priority order.
# An attribute not listed uses the entity's "*" entry; ties and gaps fall back to the
# most recent source `updated_at`. ERP owns financial fields, CRM account context,
# PSA project execution.
MDM_SURVIVORSHIP = {
    "customer": {
        # Account context (website, email, phone, industry, hierarchy) from the CRM;
        # the legal name, tax ID, billing address and currency from the ERP.
        "*": ["crm", "erp", "psa"],
        "name": ["erp", "crm", "psa"],
        "tax_id": ["erp", "crm", "psa"],
        "country": ["erp", "crm", "psa"],
        "currency": ["erp", "psa", "crm"],
        "address": ["erp", "crm", "psa"],
    },
    "legal_entity": {"*": ["erp", "psa", "crm"]},
    "project": {
        "*": ["psa", "erp", "crm"],
        "billing_method": ["erp", "psa", "crm"],
        "billing_legal_entity": ["erp", "psa", "crm"],
        "currency": ["erp", "psa", "crm"],
        "cost_center": ["erp", "psa", "crm"],
        "department": ["erp", "psa", "crm"],
        "crm_opportunity_ref": ["crm", "psa", "erp"],
        "customer": ["erp", "psa", "crm"],
    },
    "service_code": {"*": ["erp", "psa", "crm"]},
}

# --- Outbound sync (connectors) ---------------------------------------------------------

# Target systems the adapters talk to; the defaults point at the local sandboxes
# (`manage.py run_sandbox crm --port 8711`, `psa --port 8712`, `erp --port 8713`).
# `ca_bundle` pins the CA for TLS (else REQUESTS_CA_BUNDLE / the system store applies).
# `rate_limit` (requests/s, env MDM_<CODE>_RATE_LIMIT) paces every worker together through
# a Redis token bucket (connectors/pacing.py); set it at or a little below the account's
# limit. `batch_size`: messages one delivery task claims for a target and entity type (the
# CRM sends up to 200 in one sObject Collections call; the others one call per record).
MDM_TARGETS = {
    "crm": {
        "adapter": "salesforce",
        "url": env_str("MDM_CRM_URL", "https://127.0.0.1:8711"),
        "client_id": env_str("MDM_CRM_CLIENT_ID", "mdm-sandbox"),
        "client_secret": env_str("MDM_CRM_CLIENT_SECRET", "sandbox-secret"),
        "api_version": env_str("MDM_CRM_API_VERSION", "59.0"),
        "ca_bundle": env_str("MDM_CRM_CA_BUNDLE", ""),
        "rate_limit": float(env_str("MDM_CRM_RATE_LIMIT", "0")),
        "batch_size": env_int("MDM_CRM_BATCH_SIZE", 200),
    },
    "psa": {
        "adapter": "kantata",
        "url": env_str("MDM_PSA_URL", "http://127.0.0.1:8712"),
        "token": env_str("MDM_PSA_TOKEN", "kantata-sandbox-token"),
        "rate_limit": float(env_str("MDM_PSA_RATE_LIMIT", "0")),
        "batch_size": env_int("MDM_PSA_BATCH_SIZE", 50),
        # Records of a batch sent at once (no batch write: one request chain per record).
        "max_concurrency": env_int("MDM_PSA_MAX_CONCURRENCY", 4),
    },
    "erp": {
        "adapter": "netsuite",
        "url": env_str("MDM_ERP_URL", "http://127.0.0.1:8713"),
        "token": env_str("MDM_ERP_TOKEN", "netsuite-sandbox-token"),
        "rate_limit": float(env_str("MDM_ERP_RATE_LIMIT", "0")),
        "batch_size": env_int("MDM_ERP_BATCH_SIZE", 50),
        # Requests of a batch in flight at once, per worker process. NetSuite's account
        # concurrency limit (15 on Tier 1, +10 per SuiteCloud Plus licence) covers every
        # integration: 2 workers × 5 leaves 5 for the others.
        "max_concurrency": env_int("MDM_ERP_MAX_CONCURRENCY", 5),
    },
    # A real Tryton server (JSON-RPC); its routes are seeded disabled.
    "tryton": {
        "adapter": "tryton",
        "url": env_str("MDM_TRYTON_URL", "http://127.0.0.1:8000"),
        "database": env_str("MDM_TRYTON_DATABASE", "mdm"),
        "user": env_str("MDM_TRYTON_USER", "admin"),
        "password": env_str("MDM_TRYTON_PASSWORD", "admin"),
        "rate_limit": float(env_str("MDM_TRYTON_RATE_LIMIT", "0")),
    },
}

# Delivery timing: exponential backoff with jitter (base × 2^(attempt-1), capped), the
# claim lease, how often a message waiting for a dependency looks again, and how long
# it may wait before it fails.
MDM_SYNC = {
    "retry_base_seconds": float(env_str("MDM_SYNC_RETRY_BASE_SECONDS", "2")),
    "retry_cap_seconds": float(env_str("MDM_SYNC_RETRY_CAP_SECONDS", "600")),
    "max_attempts": env_int("MDM_SYNC_MAX_ATTEMPTS", 20),
    "lease_seconds": float(env_str("MDM_SYNC_LEASE_SECONDS", "120")),
    "http_timeout_seconds": float(env_str("MDM_SYNC_HTTP_TIMEOUT_SECONDS", "15")),
    "wait_recheck_seconds": float(env_str("MDM_SYNC_WAIT_RECHECK_SECONDS", "30")),
    "max_wait_seconds": float(env_str("MDM_SYNC_MAX_WAIT_SECONDS", "86400")),
    "requeue_after_seconds": float(env_str("MDM_SYNC_REQUEUE_AFTER_SECONDS", "60")),
}

# Prometheus metrics at /metrics (connectors/metrics.py): when set, scrapes must send
# `Authorization: Bearer <token>`; unset, the endpoint is open.
MDM_METRICS_TOKEN = env_str("MDM_METRICS_TOKEN", "")

CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {
        "task": "connectors.tasks.sweep_outbox_task",
        "schedule": float(env_str("MDM_SYNC_SWEEP_SECONDS", "10")),
    },
}
