"""Secrets: encrypted at rest, loud on a wrong or missing key, rotatable, never shown."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from exchanges.models import ExchangeAccount
from exchanges.secrets import RedactSecretsFilter, SecretDecryptionError, mask, redact
from tests.factories import ExchangeAccountFactory

KEY_ONE = "dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs="
KEY_TWO = "dGVzdC1rZXktdHdvLXRlc3Qta2V5LXR3by10ZXN0LWs="
KEY_NEW = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE="
SECRET = "s3cr3t-api-secret-value-9876"


def stored(account: ExchangeAccount, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM exchanges_exchangeaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def account(db):
    return ExchangeAccountFactory(exchange="binance", api_key="AKIAKEY-1234-abcd", api_secret=SECRET)


def test_it_round_trips_and_stores_only_ciphertext(account):
    reloaded = ExchangeAccount.objects.get(pk=account.pk)
    assert reloaded.api_secret == SECRET
    assert reloaded.api_key == "AKIAKEY-1234-abcd"
    raw = stored(account, "api_secret")
    assert SECRET not in raw
    assert raw.startswith("gAAAA")  # a Fernet token


def test_an_empty_secret_stays_empty(db):
    account = ExchangeAccountFactory(api_key="", api_secret="")
    assert stored(account, "api_key") == ""
    assert ExchangeAccount.objects.get(pk=account.pk).api_key == ""


def test_a_wrong_key_raises_instead_of_returning_ciphertext(account):
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_NEW]), pytest.raises(SecretDecryptionError, match="api_key"):
        ExchangeAccount.objects.get(pk=account.pk)


def test_a_missing_key_raises_on_read_and_on_write(account):
    with override_settings(FIELD_ENCRYPTION_KEY=[]):
        with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY is not set"):
            ExchangeAccount.objects.get(pk=account.pk)
        with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY is not set"):
            ExchangeAccountFactory(api_secret="anything")


def test_a_malformed_key_is_named(account):
    with override_settings(FIELD_ENCRYPTION_KEY=["not-a-key"]), pytest.raises(ImproperlyConfigured, match="entry 1"):
        ExchangeAccount.objects.get(pk=account.pk)


def test_rotation_reencrypts_every_secret_under_the_first_key(account, capsys):
    other = ExchangeAccountFactory(organization=account.organization, passphrase="pass-phrase-42")
    wallet = ExchangeAccountFactory(
        organization=account.organization, exchange="hyperliquid", wallet_address="0xabc0001", private_key="0xkey99"
    )
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_NEW, KEY_ONE, KEY_TWO]):
        call_command("rotate_encryption_key")
        assert "rotated 5 secret(s)" in capsys.readouterr().out
        # A second run finds nothing left to do.
        call_command("rotate_encryption_key")
        assert "rotated 0 secret(s); 5 already current" in capsys.readouterr().out
    # Only the new key is needed now; the old ones can be dropped.
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_NEW]):
        assert ExchangeAccount.objects.get(pk=account.pk).api_secret == SECRET
        assert ExchangeAccount.objects.get(pk=other.pk).passphrase == "pass-phrase-42"
        assert ExchangeAccount.objects.get(pk=wallet.pk).private_key == "0xkey99"
    assert not {stored(wallet, "wallet_address"), stored(wallet, "private_key")} & {"0xabc0001", "0xkey99"}
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_ONE]), pytest.raises(SecretDecryptionError):
        ExchangeAccount.objects.get(pk=account.pk)


def test_rotation_changes_nothing_when_a_row_cannot_be_decrypted(account):
    before = stored(account, "api_secret")
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_NEW]):
        other = ExchangeAccountFactory(organization=account.organization, api_secret="under-the-new-key")
    other_before = stored(other, "api_secret")
    # KEY_TWO cannot read `other`, so the run must abort as a whole.
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_TWO, KEY_ONE]), pytest.raises(CommandError, match="Nothing"):
        call_command("rotate_encryption_key")
    assert stored(account, "api_secret") == before
    assert stored(other, "api_secret") == other_before


def test_dry_run_writes_nothing(account, capsys):
    before = stored(account, "api_secret")
    with override_settings(FIELD_ENCRYPTION_KEY=[KEY_NEW, KEY_ONE]):
        call_command("rotate_encryption_key", "--dry-run")
    assert "would rotate 2" in capsys.readouterr().out
    assert stored(account, "api_secret") == before


def test_masking_shows_only_the_last_four():
    assert mask(SECRET) == "••••9876"
    assert mask("short") == "••••"
    assert mask("") == ""


def test_str_and_repr_never_contain_a_secret(account):
    assert SECRET not in str(account)
    assert SECRET not in repr(account)
    assert account.masked_api_secret == "••••9876"


def test_log_lines_are_redacted(caplog):
    logger = logging.getLogger("exchanges.test")
    handler_filter = RedactSecretsFilter()
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="exchanges.test"):
            logger.info("request headers {'X-MBX-APIKEY': '%s'} query signature=%s", "AKIAKEY-1234", "deadbeef")
    finally:
        logger.removeFilter(handler_filter)
    assert "AKIAKEY-1234" not in caplog.text
    assert "deadbeef" not in caplog.text
    assert redact("apiKey=abc&secret=xyz") == "apiKey=***&secret=***"


def test_the_admin_never_renders_a_secret(client, superuser, account):
    client.force_login(superuser)
    change = client.get(f"/admin/exchanges/exchangeaccount/{account.pk}/change/")
    listing = client.get("/admin/exchanges/exchangeaccount/")
    for response in (change, listing):
        assert response.status_code == 200
        html = response.content.decode()
        assert SECRET not in html
        assert "AKIAKEY-1234-abcd" not in html
    assert "••••9876" in change.content.decode()


def test_editing_in_admin_with_blank_secrets_keeps_them(client, superuser, account):
    client.force_login(superuser)
    response = client.post(
        f"/admin/exchanges/exchangeaccount/{account.pk}/change/",
        {
            "organization": account.organization_id,
            "label": "renamed",
            "exchange": "binance",
            "api_key": "",
            "api_secret": "",
            "passphrase": "",
            "status": "active",
            "status_reason": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.label == "renamed"
    assert account.api_secret == SECRET
