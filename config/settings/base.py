"""Settings shared by every environment.

The environment is read here through one `environ.Env()` and nowhere else. Each external service
is optional in development and named by one URL variable: DATABASE_URL, REDIS_URL,
CELERY_BROKER_URL, MQTT_URL.
"""

from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
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
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "channels",
    "django_celery_beat",
    "django_prometheus",
    "organizations",
    "exchanges",
    "strategies",
    "risk",
    "signals",
    "dex",
    "bots",
    "hummingbot",
    "analytics",
    "backtest",
    "alerts",
    "dashboard",
    "chatops",
    "api",
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
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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


def database_config(url: str) -> dict:
    """Parse a DATABASE_URL; SQLite gets WAL mode and immediate write transactions so that
    web, worker and beat can share one file without 'database is locked' errors."""
    config = environ.Env.db_url_config(url)
    config["ATOMIC_REQUESTS"] = False
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
        config["CONN_HEALTH_CHECKS"] = True
    prepared = env.bool("DATABASE_PREPARED_STATEMENTS", default=True) and find_spec("psycopg") is not None
    if config["ENGINE"] == "django.db.backends.postgresql" and prepared:
        # The API's list pages run as prepared statements (api/rows.py); every other query goes
        # through Django's cursors, which bind on the client and are never prepared. Turn this off
        # behind a transaction-mode connection pooler, which cannot keep prepared statements.
        # Each run still gets a plan of its own: one generic plan per statement would scan for a
        # small organization's rows as if it were an average one.
        options = config.setdefault("OPTIONS", {})
        options.setdefault("prepare_threshold", 5)
        options["options"] = " ".join(filter(None, [options.get("options"), "-c plan_cache_mode=force_custom_plan"]))
    return config


DATABASES = {"default": database_config(env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in attempts (dashboard and admin): after this many failures per username or per address
# within the window, attempts are refused until it ends (core/ratelimit.py).
LOGIN_RATE_LIMIT_ATTEMPTS = env.int("LOGIN_RATE_LIMIT_ATTEMPTS", default=5)
LOGIN_RATE_LIMIT_WINDOW_SECONDS = env.int("LOGIN_RATE_LIMIT_WINDOW_SECONDS", default=15 * 60)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Secrets at rest. A comma-separated list: the first key encrypts, every key decrypts, so a key is
# rotated by prepending the new one and running `manage.py rotate_encryption_key`.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])

# Channel layer: Redis when REDIS_URL is set, otherwise in-process memory (one web process only).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The cache holds API throttles and sign-in attempt counters: shared by every process on Redis.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# Celery. Without CELERY_BROKER_URL the broker is a folder on disk, which needs no server and is
# shared by web, worker and beat on one machine.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-broker"
    (_queue_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(_queue_dir / "control"),  # kombu's default is ./control, beside the code
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {}

MQTT_URL = env.str("MQTT_URL", default="mqtt://127.0.0.1:1883")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # API keys first: a request with no credentials then gets 401 with `WWW-Authenticate: Api-Key`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.access.IsMemberOrApiKey"],
    "DEFAULT_RENDERER_CLASSES": [
        "api.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.ApiKeyRateThrottle",
        "api.throttling.UserRateThrottle",
        "api.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_THROTTLE_KEY", default="600/min"),
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
    },
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": [],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trading back office API",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema endpoint is not part of the API it describes.
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "BotStatusEnum": "bots.state.BotStatus",
        "OrderStatusEnum": "bots.models.OrderStatus",
        "ExchangeAccountStatusEnum": "exchanges.models.ExchangeAccountStatus",
        "InstanceStatusEnum": "hummingbot.models.InstanceStatus",
        "DeploymentStatusEnum": "hummingbot.models.DeploymentStatus",
        "BacktestStatusEnum": "backtest.models.BacktestStatus",
        "MarketTypeEnum": "bots.models.MarketType",
        "MarginModeEnum": "bots.models.MarginMode",
        # Kept under its old name now that signals have a `side` of their own.
        "SideEnum": "bots.models.OrderSide",
        "SignalSideEnum": "signals.models.SignalSide",
        "SignalKindEnum": "signals.models.SignalKind",
        "SourceKindEnum": "signals.models.SourceKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "exchanges.secrets.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Exchanges.
EXCHANGE_TIMEOUT_MS = env.int("EXCHANGE_TIMEOUT_MS", default=10_000)
# Consecutive unhealthy answers (network, 5xx, 429) that open an account's circuit breaker, and how
# long it stays open before one probe call is let through.
EXCHANGE_CIRCUIT_THRESHOLD = env.int("EXCHANGE_CIRCUIT_THRESHOLD", default=5)
EXCHANGE_CIRCUIT_COOLDOWN_SECONDS = env.int("EXCHANGE_CIRCUIT_COOLDOWN_SECONDS", default=30)
# Base URL per ccxt exchange id, replacing the exchange's own hosts (a proxy, or a loopback
# server in tests). Empty in normal operation.
EXCHANGE_URL_OVERRIDES: dict[str, str] = {}
# Exchanges report fresh orders as "not found" for a while; reconciliation marks an order missing
# only after it has been absent this long.
RECONCILE_MISSING_GRACE_SECONDS = env.int("RECONCILE_MISSING_GRACE_SECONDS", default=90)
# Trades are re-read this far back on each pass, so late and out-of-order reports are caught.
RECONCILE_TRADES_OVERLAP_SECONDS = env.int("RECONCILE_TRADES_OVERLAP_SECONDS", default=600)
# The paper exchange replays these candles; market time = PAPER_REPLAY_START + wall time since
# PAPER_REPLAY_ANCHOR, wrapping around at the end of the data.
PAPER_DATA_EXCHANGE = "binance"
PAPER_TIMEFRAME = "5m"

# Bot runtime. Beat runs `dispatch_ticks` every second (run exactly one beat process): it claims
# the bots whose next_tick_at is due, pushing next_tick_at TICK_CLAIM_SECONDS ahead, and enqueues
# their ticks in chunks. A tick that never reports back (a lost message, a killed worker) is
# dispatched again when that claim runs out. A tick holds its bot for at most TICK_LOCK_SECONDS.
TICK_CLAIM_SECONDS = env.int("TICK_CLAIM_SECONDS", default=60)
TICK_LOCK_SECONDS = env.int("TICK_LOCK_SECONDS", default=30)
TICK_DISPATCH_CHUNK = env.int("TICK_DISPATCH_CHUNK", default=20)
TICK_DISPATCH_MAX_MESSAGES = env.int("TICK_DISPATCH_MAX_MESSAGES", default=200)
TICK_DISPATCH_MAX = env.int("TICK_DISPATCH_MAX", default=50_000)
# Consecutive failed ticks that put a bot into error; watchdog restarts before it gives up.
BOT_MAX_CONSECUTIVE_ERRORS = env.int("BOT_MAX_CONSECUTIVE_ERRORS", default=5)
BOT_WATCHDOG_MAX_RESTARTS = env.int("BOT_WATCHDOG_MAX_RESTARTS", default=3)

CELERY_BEAT_SCHEDULE = {
    "dispatch-ticks": {"task": "bots.tasks.dispatch_ticks", "schedule": 1.0, "options": {"expires": 5}},
    "watchdog": {"task": "bots.tasks.watchdog", "schedule": 15.0, "options": {"expires": 30}},
    "reconcile-accounts": {"task": "bots.tasks.reconcile_all", "schedule": 60.0},
    "hummingbot-health": {"task": "bots.tasks.hummingbot_health", "schedule": 10.0, "options": {"expires": 20}},
    # Streams are at most once: every 5 minutes, /history repairs the fills the bridge missed.
    "hummingbot-reconcile": {"task": "bots.hummingbot.tasks.hb_reconcile_all", "schedule": 300.0},
    "metric-snapshots": {"task": "analytics.tasks.take_snapshots", "schedule": 60.0, "options": {"expires": 50}},
    "metric-snapshots-downsample": {"task": "analytics.tasks.downsample_snapshots", "schedule": 3600.0},
    # Yesterday's figures to the alert rules subscribed to summary.daily (CELERY_TIMEZONE is UTC).
    "alerts-daily-summary": {"task": "alerts.tasks.daily_summary", "schedule": crontab(minute=5, hour=0)},
    # Each watched market's signal at its candle close (the newest closed candle, within a minute).
    "signals-compute": {"task": "signals.tasks.signals_compute_due", "schedule": 60.0, "options": {"expires": 50}},
    # Submitted DEX swaps: confirmed, failed or expired from Gateway's transaction poll.
    "dex-swaps-refresh": {"task": "dex.tasks.refresh_swaps", "schedule": 5.0, "options": {"expires": 10}},
    "dex-snipers-run": {"task": "dex.tasks.run_snipers", "schedule": 10.0, "options": {"expires": 20}},
}

# DEX swaps through Hummingbot Gateway (dex/). A swap still unseen this long after it was sent can
# no longer land (Solana drops a transaction whose blockhash is ~150 slots old): it is expired.
DEX_SWAP_EXPIRY_SECONDS = env.int("DEX_SWAP_EXPIRY_SECONDS", default=120)
# How long the sniper waits for its source of new tokens.
DEX_SNIPER_SOURCE_TIMEOUT = env.float("DEX_SNIPER_SOURCE_TIMEOUT", default=10.0)
DEX_GATEWAY_TIMEOUT = env.float("DEX_GATEWAY_TIMEOUT", default=30.0)

# The AI factor (signals/ai.py): any server speaking OpenAI's chat-completions API. Off while the
# key is empty. Prices are USD per 1,000 tokens, to count each call against the organization's
# monthly AI budget; set them to the model's list price.
SIGNALS_AI_API_KEY = env.str("SIGNALS_AI_API_KEY", default="")
SIGNALS_AI_BASE_URL = env.str("SIGNALS_AI_BASE_URL", default="https://api.openai.com/v1")
SIGNALS_AI_MODEL = env.str("SIGNALS_AI_MODEL", default="gpt-4o-mini")
SIGNALS_AI_TIMEOUT = env.float("SIGNALS_AI_TIMEOUT", default=30.0)
SIGNALS_AI_PRICE_PER_1K_PROMPT = env("SIGNALS_AI_PRICE_PER_1K_PROMPT", cast=Decimal, default=Decimal("0.00015"))
SIGNALS_AI_PRICE_PER_1K_COMPLETION = env("SIGNALS_AI_PRICE_PER_1K_COMPLETION", cast=Decimal, default=Decimal("0.0006"))

# The platform's Telegram bot, through which members control their bots (chatops/). Off while the
# token is empty. TELEGRAM_MODE is "polling" (the `telegram_bot` command) or "webhook" (Telegram
# posts to /telegram/webhook/ with TELEGRAM_WEBHOOK_SECRET in X-Telegram-Bot-Api-Secret-Token).
# TELEGRAM_API_BASE_URL is the Bot API's address (a loopback server in tests).
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_BOT_USERNAME = env.str("TELEGRAM_BOT_USERNAME", default="")
TELEGRAM_MODE = env.str("TELEGRAM_MODE", default="polling")
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
TELEGRAM_WEBHOOK_URL = env.str("TELEGRAM_WEBHOOK_URL", default="")  # public https URL of /telegram/webhook/
TELEGRAM_WORKERS = env.int("TELEGRAM_WORKERS", default=1)  # polling: processes handling updates (chatops.shards)
TELEGRAM_DB_THREADS = env.int("TELEGRAM_DB_THREADS", default=1)  # per worker: commands reading the database
TELEGRAM_IO_THREADS = env.int("TELEGRAM_IO_THREADS", default=8)  # per worker: commands waiting on an exchange
TELEGRAM_HTTP_CONNECTIONS = env.int("TELEGRAM_HTTP_CONNECTIONS", default=16)  # to the Bot API
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
TELEGRAM_LINK_CODE_MINUTES = env.int("TELEGRAM_LINK_CODE_MINUTES", default=15)
TELEGRAM_RATE_PER_MINUTE = env.int("TELEGRAM_RATE_PER_MINUTE", default=30)  # updates per chat

# Analytics. Metric snapshots are kept at 1 minute for ANALYTICS_RAW_RETENTION_DAYS, then as hourly
# rows until ANALYTICS_HOURLY_RETENTION_DAYS, then as daily rows.
ANALYTICS_RAW_RETENTION_DAYS = env.int("ANALYTICS_RAW_RETENTION_DAYS", default=7)
ANALYTICS_HOURLY_RETENTION_DAYS = env.int("ANALYTICS_HOURLY_RETENTION_DAYS", default=90)

# Prometheus. /metrics answers a request bearing `Authorization: Bearer <METRICS_TOKEN>` or a
# signed-in staff member, nobody else. With PROMETHEUS_MULTIPROC_DIR set (as `make run` does),
# every process writes its metrics there and a scrape sums them; the folder must be emptied before
# the processes start (prometheus_client reads the variable itself, too).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Request counts and latencies (django-prometheus): first and last, to time everything between.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
