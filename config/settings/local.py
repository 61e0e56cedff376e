"""Development defaults: `make run` works with no environment variable set.

Secrets that production must be given are generated once into var/dev-keys.env (git-ignored), so
restarts keep decrypting what earlier runs encrypted.
"""

from cryptography.fernet import Fernet
from django.utils.crypto import get_random_string

from .base import *  # noqa: F403
from .base import VAR_DIR, env

# Django's secret-key characters without "$": django-environ reads a value starting with "$" as
# the name of another variable, so such a generated key could not be read back.
_KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)"


def _dev_keys() -> dict[str, str]:
    path = VAR_DIR / "dev-keys.env"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"DJANGO_SECRET_KEY={get_random_string(50, _KEY_CHARS)}\n"
            f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
        )
        path.chmod(0o600)
    return dict(line.split("=", 1) for line in path.read_text().split())


_keys = _dev_keys()
DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_keys["DJANGO_SECRET_KEY"])
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[_keys["FIELD_ENCRYPTION_KEY"]])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
# Static files come straight from the app folders; collectstatic is for production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
