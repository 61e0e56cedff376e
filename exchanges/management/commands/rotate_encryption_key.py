"""`manage.py rotate_encryption_key`: re-encrypt every secret under the first configured key.

Rotation: put the new key first in FIELD_ENCRYPTION_KEY (keep the old ones after it), deploy,
run this command, then drop the old keys. All rows change in one transaction, so an
undecryptable row aborts the run with nothing half-rotated.
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from exchanges.fields import SecretField
from exchanges.secrets import SecretDecryptionError, decrypt, is_current


def secret_fields():
    for model in apps.get_models():
        names = [f for f in model._meta.concrete_fields if isinstance(f, SecretField)]
        if names:
            yield model, names


class Command(BaseCommand):
    help = "Re-encrypt all secret fields with the first key of FIELD_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")

    def handle(self, *args, dry_run=False, **options):
        rotated = current = 0
        try:
            with transaction.atomic():
                for model, fields in secret_fields():
                    r, c = self._rotate_model(model, fields, dry_run=dry_run)
                    rotated += r
                    current += c
                    if r or c:
                        self.stdout.write(f"{model._meta.label}: {r} rotated, {c} already current")
        except SecretDecryptionError as exc:
            raise CommandError(f"{exc} Nothing was changed.") from exc
        verb = "would rotate" if dry_run else "rotated"
        self.stdout.write(self.style.SUCCESS(f"Done: {verb} {rotated} secret(s); {current} already current."))

    def _rotate_model(self, model, fields, *, dry_run: bool) -> tuple[int, int]:
        # Read the stored ciphertext itself (bypassing decryption on load) to tell which rows are
        # under an older key.
        table = connection.ops.quote_name(model._meta.db_table)
        pk = model._meta.pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        rotated = current = 0
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {connection.ops.quote_name(pk.column)}, {columns} FROM {table} FOR UPDATE"
                if connection.features.has_select_for_update
                else f"SELECT {connection.ops.quote_name(pk.column)}, {columns} FROM {table}"
            )
            rows = cursor.fetchall()
        for row in rows:
            updates = {}
            for field, token in zip(fields, row[1:], strict=True):
                if not token:
                    continue
                if is_current(token):
                    current += 1
                    continue
                updates[field.name] = decrypt(token, where=f"{model._meta.label}.{field.name} (pk={row[0]})")
            if updates:
                rotated += len(updates)
                if not dry_run:
                    # update() encrypts through the field, i.e. with the first key.
                    model._default_manager.filter(pk=row[0]).update(**updates)
        return rotated, current
