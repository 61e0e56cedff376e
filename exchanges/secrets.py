"""Secrets at rest and in output: the key ring, masking, and log redaction.

The stock django-encrypted-model-fields field hands back the ciphertext when no key matches,
which would send garbage to an exchange as if it were a credential. `SecretField` (fields.py)
uses this key ring instead and raises.
"""

from __future__ import annotations

import functools
import logging
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretDecryptionError(RuntimeError):
    """Stored ciphertext cannot be decrypted with any configured key."""


def configured_keys() -> tuple[str, ...]:
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = keys.split(",")
    cleaned = tuple(k.strip() for k in (keys or ()) if k and k.strip())
    if not cleaned:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set: secrets can be neither read nor written.")
    return cleaned


@functools.lru_cache(maxsize=16)
def _key_ring(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY entry {position} is not a valid Fernet key (32 url-safe base64 bytes)."
            ) from exc
    return MultiFernet(fernets), fernets[0]


def key_ring() -> MultiFernet:
    """Encrypts with the first configured key, decrypts with any of them."""
    return _key_ring(configured_keys())[0]


def primary_key() -> Fernet:
    return _key_ring(configured_keys())[1]


def encrypt(plaintext: str) -> str:
    return key_ring().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, where: str = "a secret") -> str:
    try:
        return key_ring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            f"Cannot decrypt {where}: no configured FIELD_ENCRYPTION_KEY matches. "
            "Was the key replaced without rotating (`manage.py rotate_encryption_key`)?"
        ) from None


def is_current(token: str) -> bool:
    """True when the token is already encrypted under the first (current) key."""
    try:
        primary_key().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def mask(value: str | None, *, visible: int = 4) -> str:
    """`••••abcd` for display; short or empty values reveal nothing."""
    if not value:
        return ""
    if len(value) <= visible * 2:
        return "••••"
    return "••••" + value[-visible:]


_SECRET_PAIR = re.compile(
    r"(?i)((?:api[-_]?key|api[-_]?secret|secret|passphrase|password|signature|x-mbx-apikey|token)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
)


def redact(text: str) -> str:
    return _SECRET_PAIR.sub(lambda m: m.group(1) + "***", text)


class RedactSecretsFilter(logging.Filter):
    """Blanks credential-looking key=value pairs in log lines, including exchange clients'
    verbose request dumps (headers, signed query strings)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
