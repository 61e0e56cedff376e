"""Writes on exchange accounts: add, edit and verify. Every surface (API, dashboard, admin) calls
these, so the role rule, the write-only credentials and the audit trail live in one place.

Credentials never appear in an event, a reason or an error raised here.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, event_record
from exchanges import venues
from exchanges.errors import AuthError, ExchangeError, RetryPolicy
from exchanges.models import ExchangeAccount, ExchangeAccountStatus
from organizations.models import Organization, Role
from organizations.permissions import require_role

SECRET_FIELDS = venues.ALL_CREDENTIALS
ACCOUNT_EDITABLE_FIELDS = frozenset(
    {
        "exchange",
        "label",
        "is_testnet",
        "paper_taker_fee",
        "paper_maker_fee",
        "paper_slippage",
        "paper_participation",
        "paper_funding_rate",
        "paper_funding_interval_hours",
        "paper_max_leverage",
        *SECRET_FIELDS,
    }
)
# Verification is one interactive call: a short retry budget, so a person is not kept waiting.
VERIFY_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5, budget_seconds=1.0)


def _account_full_clean(account: ExchangeAccount) -> None:
    """The model's validation as one ApplicationError naming the first field at fault."""
    try:
        account.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        name, messages = next(iter(errors.items()))
        raise ApplicationError(
            messages[0] if messages else "Invalid input.", field=None if name == "__all__" else name
        ) from exc


def _check_fields(data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - ACCOUNT_EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"{unknown[0]} cannot be set.", field=unknown[0])


def _refuse_external(exchange: str | None) -> None:
    """A venue another app serves keeps its settings there (a DEX account's Gateway and wallet):
    its accounts are made by that app, never as a bare exchange account."""
    venue = venues.external_venue(exchange or "")
    if venue is not None:
        raise ApplicationError(
            f"{venue.label} accounts are added as DEX accounts (with their Gateway and wallet), not here.",
            field="exchange",
        )


def _record(account: ExchangeAccount, *, kind: str, message: str, level: str = EventLevel.INFO, **kw: Any) -> None:
    event_record(organization_id=account.organization_id, kind=kind, message=message, level=level, **kw)


def exchange_account_create(
    *,
    organization: Organization,
    data: dict[str, Any],
    user=None,
    source: str = "system",
    audit_data: dict[str, Any] | None = None,
) -> ExchangeAccount:
    """Add an exchange account (admin role). It starts unverified; audited without its credentials."""
    data = dict(data)
    _check_fields(data)
    require_role(user=user, organization=organization, role=Role.ADMIN, action="Adding an exchange account")
    _refuse_external(data.get("exchange"))
    account = ExchangeAccount(organization=organization, **data)
    with transaction.atomic():
        _account_full_clean(account)
        account.save()
        _record(
            account,
            kind="exchange_account.created",
            message=f"Exchange account {account.label} ({account.exchange}) added.",
            data=audit_data,
            actor=user,
            source=source,
        )
    return account


def exchange_account_update(
    *,
    account: ExchangeAccount,
    data: dict[str, Any],
    user=None,
    source: str = "system",
    audit_data: dict[str, Any] | None = None,
) -> ExchangeAccount:
    """Edit an account (admin role). Empty or omitted credentials are kept; new ones make the
    account unverified again, since nobody has checked them against the exchange yet. Moving an
    account to another exchange drops the credentials that exchange does not take."""
    data = dict(data)
    _check_fields(data)
    require_role(user=user, organization=account.organization_id, role=Role.ADMIN, action="Editing an exchange account")
    secrets = {name: data.pop(name) for name in SECRET_FIELDS if data.get(name)}
    for name in SECRET_FIELDS:
        data.pop(name, None)
    with transaction.atomic():
        locked = ExchangeAccount.objects.select_for_update().get(pk=account.pk)
        moved = "exchange" in data and data["exchange"] != locked.exchange
        if moved:
            _refuse_external(data["exchange"])
            _refuse_external(locked.exchange)
        for name, value in {**data, **secrets}.items():
            setattr(locked, name, value)
        changed = set(data) | set(secrets)
        if moved:
            # Credentials of the old exchange mean nothing to the new one: they are dropped.
            wanted = venues.credential_fields(locked.exchange)
            for name in SECRET_FIELDS:
                if name not in wanted and name not in secrets and getattr(locked, name):
                    setattr(locked, name, "")
                    changed.add(name)
        if secrets or moved:
            locked.status, locked.last_verified_at, locked.status_reason = ExchangeAccountStatus.UNVERIFIED, None, ""
            changed |= {"status", "last_verified_at", "status_reason"}
        _account_full_clean(locked)
        locked.save(update_fields=sorted(changed | {"updated_at"}))
        _record(
            locked,
            kind="exchange_account.updated",
            message=f"Exchange account {locked.label} edited: {', '.join(sorted(changed)) or 'nothing'}.",
            data=audit_data,
            actor=user,
            source=source,
        )
    return locked


def _failure_reason(exc: ExchangeError, account: ExchangeAccount) -> str:
    """A reason fit to show: what went wrong, in our words, with the exchange's own message when it
    carries one, and every credential of the account blanked out of it."""
    venue = venues.external_venue(account.exchange)
    if venue is not None:
        lead = f"{venue.label} could not be used" if exc.permanent else f"{venue.label} could not be reached"
    elif isinstance(exc, AuthError):
        lead = (
            "The exchange refused the credentials (check the wallet address and that the private key signs for it)"
            if "wallet_address" in account.credential_fields
            else "The exchange refused the credentials (check the API key, secret and the key's permissions)"
        )
    elif not exc.permanent:
        lead = "The exchange could not be reached"
    else:
        lead = "The exchange refused the request"
    detail = exc.message
    for secret in (getattr(account, name) for name in SECRET_FIELDS):
        if secret:
            detail = detail.replace(secret, "***")
    return f"{lead}: {detail}"[:500]


def exchange_account_verify(
    *,
    account: ExchangeAccount,
    user=None,
    source: str = "system",
    audit_data: dict[str, Any] | None = None,
) -> ExchangeAccount:
    """Check the account's credentials by reading its balance, and its open positions where the
    exchange has perpetuals, through the exchange gateway (admin role). Success makes the account
    active with the time of the check; missing credentials, a refusal or an unreachable exchange
    mark it in error with the reason. A paper account needs no credentials and verifies at once.
    Either way the outcome is recorded in the event log and the account returned."""
    require_role(
        user=user, organization=account.organization_id, role=Role.ADMIN, action="Verifying an exchange account"
    )
    account = ExchangeAccount.objects.get(pk=account.pk)
    error: str | None = None
    assets = 0
    positions: int | None = None
    if account.is_paper:
        pass
    elif account.missing_credentials:
        error = f"The account needs {venues.credentials_sentence(account.exchange)} before it can be verified."
    else:
        from exchanges.gateway import Gateway

        try:
            gateway = Gateway(account, policy=VERIFY_RETRY)
            assets = len(gateway.balances())
            if venues.has_perps(account.exchange):
                positions = len(gateway.positions())
            gateway.signing_check()
        except ExchangeError as exc:
            error = _failure_reason(exc, account)
    now = timezone.now()
    if error is None:
        values = {"status": ExchangeAccountStatus.ACTIVE, "status_reason": "", "last_verified_at": now}
    else:
        values = {"status": ExchangeAccountStatus.ERROR, "status_reason": error}
    with transaction.atomic():
        ExchangeAccount.objects.filter(pk=account.pk).update(updated_at=now, **values)
        for name, value in values.items():
            setattr(account, name, value)
        account.updated_at = now
        if error is None:
            detail = "paper exchange" if account.is_paper else f"balance read, {assets} asset(s)"
            if positions is not None:
                detail += f", {positions} open position(s)"
            _record(
                account,
                kind="exchange_account.verified",
                message=f"Exchange account {account.label} verified ({detail}).",
                data={**(audit_data or {}), "account": account.pk},
                actor=user,
                source=source,
            )
        else:
            _record(
                account,
                kind="exchange_account.verify_failed",
                message=f"Exchange account {account.label} failed verification: {error}",
                level=EventLevel.WARNING,
                data={**(audit_data or {}), "account": account.pk},
                actor=user,
                source=source,
            )
    return account
