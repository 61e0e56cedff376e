"""Production: every secret and external service must be given; nothing is generated."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import REDIS_URL, database_config, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DATABASES = {"default": database_config(env.str("DATABASE_URL"))}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
CELERY_BROKER_TRANSPORT_OPTIONS = {}

if not FIELD_ENCRYPTION_KEY or not all(FIELD_ENCRYPTION_KEY):
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must list at least one Fernet key.")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set in production (channel layer for live updates).")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("Production needs PostgreSQL; DATABASE_URL points at SQLite.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
