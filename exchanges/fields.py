"""`SecretField`: django-encrypted-model-fields' text field, made to fail loudly."""

from __future__ import annotations

from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from exchanges.secrets import decrypt, encrypt


class SecretField(EncryptedTextField):
    """Fernet-encrypted text (the library's storage format) under our key ring.

    Differences from the stock field: reading a value no configured key can decrypt raises
    `SecretDecryptionError` instead of returning the ciphertext; keys are read from settings at
    use, not at import, so rotation and tests see the current list; an empty value stays empty.
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value, where=f"{self.model._meta.label}.{self.name}")

    def to_python(self, value):
        # Values reaching to_python come from forms and code, never from the database.
        return models.TextField.to_python(self, value)

    def get_db_prep_save(self, value, connection):
        value = models.TextField.get_db_prep_save(self, value, connection)
        if value in (None, ""):
            return value
        return encrypt(str(value))
