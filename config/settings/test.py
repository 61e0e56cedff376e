"""Test settings: the real PostgreSQL and Redis on this machine, never SQLite or an in-memory layer."""

from .base import *  # noqa: F403
from .base import database_config, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="test-only-secret-key-not-for-any-deployment-0123456789")
DATABASES = {
    "default": database_config(env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/backoffice"))
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "test-asgi"},
    }
}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/1")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Two fixed keys: the first encrypts, both decrypt (rotation tests swap them).
FIELD_ENCRYPTION_KEY = env.list(
    "FIELD_ENCRYPTION_KEY",
    default=[
        "dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs=",
        "dGVzdC1rZXktdHdvLXRlc3Qta2V5LXR3by10ZXN0LWs=",
    ],
)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Static files come straight from the app folders; collectstatic is for production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Never a real AI model from the tests: the AI tests set a key and a loopback server's URL.
SIGNALS_AI_API_KEY = ""
SIGNALS_AI_BASE_URL = "http://127.0.0.1:9/v1"
