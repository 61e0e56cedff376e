"""Writes on Gateway connections and DEX wallets: role-checked (admin), validated, audited.

A connection over plain HTTP must point at a loopback address (a local Gateway in dev mode):
anything else would carry wallet keys and swaps in the clear. Over HTTPS it needs the client
certificate and key of Gateway's mutual TLS. A wallet's private key is handed to Gateway and
forgotten: only the address Gateway answers is stored, and no message names the key.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, EventSource, event_record
from dex.client import GatewayClient
from dex.models import DexAccount, DexWallet, GatewayConnection, GatewayStatus
from exchanges.errors import ExchangeError
from organizations.models import Organization, Role
from organizations.permissions import require_role

EDITABLE = ("name", "url", "network", "client_cert", "client_key", "ca_cert")
# A Solana secret key in base58: 64 bytes encode to 87 or 88 characters (a 32-byte seed to 43-44).
BASE58_KEY = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{43,90}$")
BASE58_ADDRESS = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_validate(connection: GatewayConnection) -> None:
    """Raise ApplicationError naming the field when the connection cannot be used safely."""
    parts = urlsplit(connection.url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplicationError("Give Gateway's address, e.g. http://127.0.0.1:15888.", field="url")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ApplicationError(
            "Plain HTTP is for a local Gateway only (127.0.0.1 or localhost); a remote one needs https and "
            "the client certificate.",
            field="url",
        )
    if parts.scheme == "https" and not (connection.client_cert and connection.client_key):
        raise ApplicationError(
            "Gateway over https asks for a client certificate: give it and its key.", field="client_cert"
        )
    if connection.client_cert and "BEGIN CERTIFICATE" not in connection.client_cert:
        raise ApplicationError("The client certificate must be PEM (-----BEGIN CERTIFICATE-----).", field="client_cert")
    if connection.client_key and "PRIVATE KEY" not in connection.client_key:
        raise ApplicationError("The client key must be PEM (-----BEGIN ... PRIVATE KEY-----).", field="client_key")
    if connection.ca_cert and "BEGIN CERTIFICATE" not in connection.ca_cert:
        raise ApplicationError("The CA certificate must be PEM (-----BEGIN CERTIFICATE-----).", field="ca_cert")
    if not re.fullmatch(r"[a-z0-9-]{1,32}", connection.network or ""):
        raise ApplicationError("network is a Solana network name such as mainnet-beta or devnet.", field="network")
    try:
        connection.full_clean(exclude=["organization"])
    except ValidationError as exc:
        name, messages = next(iter(exc.message_dict.items()))
        raise ApplicationError(messages[0], field=None if name == "__all__" else name) from None


def _event(connection: GatewayConnection, *, kind: str, message: str, user, source: str, level=EventLevel.INFO, **data):
    event_record(
        organization_id=connection.organization_id,
        kind=kind,
        message=message,
        level=level,
        data={"gateway": connection.pk, **data},
        actor=user,
        source=source,
    )


def connection_create(
    *, organization: Organization, user=None, source: str = EventSource.SYSTEM, **values: Any
) -> GatewayConnection:
    require_role(user=user, organization=organization, role=Role.ADMIN, action="Adding a Gateway connection")
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ApplicationError(f"Unknown field: {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    connection = GatewayConnection(organization=organization, **values)
    connection_validate(connection)
    try:
        with transaction.atomic():
            connection.save()
            _event(
                connection,
                kind="dex.gateway_added",
                message=f"Gateway {connection.name} added ({connection.url}).",
                user=user,
                source=source,
            )
    except IntegrityError:
        raise ApplicationError(f"A Gateway named {connection.name!r} exists already.", field="name") from None
    return connection


def connection_update(
    *, connection: GatewayConnection, user=None, source: str = EventSource.SYSTEM, **values: Any
) -> GatewayConnection:
    require_role(
        user=user, organization=connection.organization_id, role=Role.ADMIN, action="Changing a Gateway connection"
    )
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ApplicationError(f"Unknown field: {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    connection = GatewayConnection.objects.get(pk=connection.pk)
    for name, value in values.items():
        setattr(connection, name, value)
    connection_validate(connection)
    connection.status, connection.status_reason = GatewayStatus.UNVERIFIED, ""
    try:
        with transaction.atomic():
            connection.save()
            changed = sorted(values)
            _event(
                connection,
                kind="dex.gateway_changed",
                message=f"Gateway {connection.name} changed: {', '.join(changed)}.",
                user=user,
                source=source,
                fields=changed,
            )
    except IntegrityError:
        raise ApplicationError(f"A Gateway named {connection.name!r} exists already.", field="name") from None
    return connection


def connection_verify(
    *, connection: GatewayConnection, user=None, source: str = EventSource.SYSTEM
) -> GatewayConnection:
    """Check the server (`GET /`) and its Solana status (block, RPC and swap providers). The
    connection becomes active with what it answered, or error with the reason; audited either way."""
    require_role(user=user, organization=connection.organization_id, role=Role.TRADER, action="Checking a Gateway")
    connection = GatewayConnection.objects.get(pk=connection.pk)
    now = timezone.now()
    try:
        with GatewayClient.for_connection(connection, timeout=10) as client:
            client.health()
            status = client.chain_status(network=connection.network)
    except ExchangeError as exc:
        values = {"status": GatewayStatus.ERROR, "status_reason": exc.message[:500]}
        outcome = (
            "dex.gateway_unreachable",
            f"Gateway {connection.name} failed its check: {exc.message}",
            EventLevel.WARNING,
        )
    else:
        values = {
            "status": GatewayStatus.ACTIVE,
            "status_reason": "",
            "last_verified_at": now,
            "block_number": status["currentBlockNumber"],
            "rpc_provider": str(status.get("rpcProvider") or "")[:64],
            "swap_provider": str(status.get("swapProvider") or "")[:64],
        }
        outcome = (
            "dex.gateway_verified",
            f"Gateway {connection.name} answers: Solana {status.get('network', connection.network)} at slot "
            f"{status['currentBlockNumber']}.",
            EventLevel.INFO,
        )
    with transaction.atomic():
        GatewayConnection.objects.filter(pk=connection.pk).update(updated_at=now, **values)
        for name, value in values.items():
            setattr(connection, name, value)
        kind, message, level = outcome
        _event(connection, kind=kind, message=message, level=level, user=user, source=source)
    return connection


# -- wallets ----------------------------------------------------------------------------------------
def wallet_add(
    *, connection: GatewayConnection, private_key: str, label: str = "", user=None, source: str = EventSource.SYSTEM
) -> DexWallet:
    """Register a Solana wallet in Gateway (`POST /wallet/add`) and keep its address. The key is
    checked for shape first, sent once, and dropped; a refusal says why without repeating it."""
    require_role(user=user, organization=connection.organization_id, role=Role.ADMIN, action="Adding a wallet")
    private_key = (private_key or "").strip()
    if not BASE58_KEY.match(private_key):
        raise ApplicationError(
            "The private key must be a Solana secret key in base58 (87-88 characters).", field="private_key"
        )
    if connection.status != GatewayStatus.ACTIVE:
        raise ApplicationError(f"Check Gateway {connection.name} first: it is {connection.status}.", field="connection")
    try:
        with GatewayClient.for_connection(connection) as client:
            address = client.wallet_add(private_key=private_key)
    except ExchangeError as exc:
        raise ApplicationError(f"Gateway did not add the wallet: {exc.message.replace(private_key, '***')}") from None
    finally:
        private_key = ""
    if not BASE58_ADDRESS.match(address):
        raise ApplicationError("Gateway answered an address that is not a Solana address.")
    with transaction.atomic():
        wallet, created = DexWallet.objects.get_or_create(
            connection=connection,
            chain="solana",
            address=address,
            defaults={"organization_id": connection.organization_id, "label": label[:64]},
        )
        _event(
            connection,
            kind="dex.wallet_added",
            message=f"Wallet {address} {'registered' if created else 'registered again'} in Gateway {connection.name}.",
            user=user,
            source=source,
            address=address,
        )
    return wallet


def wallet_remove(*, wallet: DexWallet, user=None, source: str = EventSource.SYSTEM) -> None:
    """Remove the wallet from Gateway (`DELETE /wallet/remove`) and forget its address. A wallet
    with swaps on record stays (their history names it); it is refused here."""
    connection = wallet.connection
    require_role(user=user, organization=connection.organization_id, role=Role.ADMIN, action="Removing a wallet")
    if wallet.swaps.exists():
        raise ApplicationError(
            f"Wallet {wallet.address} has swaps on record: it stays, so that their history names it.", field="wallet"
        )
    try:
        with GatewayClient.for_connection(connection) as client:
            client.wallet_remove(address=wallet.address)
    except ExchangeError as exc:
        raise ApplicationError(f"Gateway did not remove the wallet: {exc.message}") from None
    with transaction.atomic():
        DexWallet.objects.filter(pk=wallet.pk).delete()
        _event(
            connection,
            kind="dex.wallet_removed",
            message=f"Wallet {wallet.address} removed from Gateway {connection.name}.",
            user=user,
            source=source,
            address=wallet.address,
        )


def wallets_sync(*, connection: GatewayConnection, user=None, source: str = EventSource.SYSTEM) -> list[DexWallet]:
    """Take in the Solana addresses Gateway holds that are not registered here (added to Gateway
    directly, e.g. with its CLI); addresses Gateway no longer has are reported, not deleted."""
    require_role(
        user=user, organization=connection.organization_id, role=Role.ADMIN, action="Reading Gateway's wallets"
    )
    try:
        with GatewayClient.for_connection(connection) as client:
            addresses = [a for a in client.wallets() if BASE58_ADDRESS.match(a)]
    except ExchangeError as exc:
        raise ApplicationError(f"Gateway did not list its wallets: {exc.message}") from None
    known = set(connection.wallets.values_list("address", flat=True))
    added = [
        DexWallet.objects.create(organization_id=connection.organization_id, connection=connection, address=a)
        for a in addresses
        if a not in known
    ]
    missing = sorted(known - set(addresses))
    if added or missing:
        _event(
            connection,
            kind="dex.wallets_synced",
            message=f"Gateway {connection.name}: {len(added)} wallet(s) taken in"
            + (f"; not in Gateway any more: {', '.join(missing)}" if missing else "")
            + ".",
            level=EventLevel.WARNING if missing else EventLevel.INFO,
            user=user,
            source=source,
            added=[w.address for w in added],
            missing=missing,
        )
    return added


# -- DEX accounts -----------------------------------------------------------------------------------
PAIR = re.compile(r"^[A-Za-z0-9]{1,44}/[A-Za-z0-9]{1,44}$")


def dex_account_create(
    *,
    organization: Organization,
    connection: GatewayConnection,
    label: str,
    wallet: DexWallet | None = None,
    pairs: list[str] | tuple[str, ...] = ("SOL/USDC",),
    slippage_bps: int = 50,
    quote_amount: Any = "1",
    paper_balances: dict[str, Any] | None = None,
    user=None,
    source: str = EventSource.SYSTEM,
):
    """An exchange account bots trade a DEX with (admin role): live from `wallet`, or paper (no
    wallet: Gateway's quotes, fills simulated, funded with `paper_balances`). It starts
    unverified; verifying it checks that Gateway holds the wallet's key and quotes every pair."""
    from decimal import Decimal, InvalidOperation

    from dex.models import DEX_LIVE, DEX_PAPER, DexAccount
    from exchanges.models import ExchangeAccount
    from exchanges.paper import paper_balance_set

    require_role(user=user, organization=organization, role=Role.ADMIN, action="Adding a DEX account")
    if connection.organization_id != organization.pk:
        raise ApplicationError("The Gateway connection belongs to another organization.", field="connection")
    if wallet is not None and wallet.connection_id != connection.pk:
        raise ApplicationError("The wallet is registered in another Gateway.", field="wallet")
    pairs = [str(p).strip() for p in pairs or ()]
    if not pairs or any(not PAIR.match(p) or p.split("/")[0] == p.split("/")[1] for p in pairs):
        raise ApplicationError("Give the pairs as BASE/QUOTE token symbols or mints, e.g. SOL/USDC.", field="pairs")
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 1 <= slippage_bps <= 5000:
        raise ApplicationError("slippage_bps is a whole number from 1 to 5000.", field="slippage_bps")
    try:
        size = Decimal(str(quote_amount))
    except InvalidOperation:
        size = Decimal(0)
    if not size.is_finite() or size <= 0:
        raise ApplicationError("quote_amount is the positive base amount prices are quoted for.", field="quote_amount")
    funds: dict[str, Decimal] = {}
    for asset, amount in (paper_balances or {}).items():
        try:
            funds[str(asset)] = Decimal(str(amount))
        except InvalidOperation:
            raise ApplicationError(f"The paper balance of {asset} is not a number.", field="paper_balances") from None
        if not funds[str(asset)].is_finite() or funds[str(asset)] < 0:
            raise ApplicationError(f"The paper balance of {asset} cannot be negative.", field="paper_balances")
    if funds and wallet is not None:
        raise ApplicationError(
            "A live DEX account trades its wallet's balances: give no paper balances.", field="paper_balances"
        )
    label = (label or "").strip()
    if not label:
        raise ApplicationError("Name the account.", field="label")
    if ExchangeAccount.objects.filter(organization=organization, label=label).exists():
        raise ApplicationError(f"An exchange account is already named {label}.", field="label")
    with transaction.atomic():
        account = ExchangeAccount.objects.create(
            organization=organization, exchange=DEX_PAPER if wallet is None else DEX_LIVE, label=label[:120]
        )
        dex = DexAccount.objects.create(
            organization=organization,
            account=account,
            connection=connection,
            wallet=wallet,
            slippage_bps=slippage_bps,
            pairs=pairs,
            quote_amount=size,
        )
        for asset, amount in funds.items():
            paper_balance_set(account=account, asset=asset, free=amount)
        _event(
            connection,
            kind="dex.account_created",
            message=f"DEX account {label} ({'paper' if wallet is None else 'live, wallet ' + wallet.address}) "
            f"for {', '.join(pairs)}, slippage {slippage_bps} bps.",
            user=user,
            source=source,
            account=account.pk,
        )
    return dex


# -- DEX account changes ------------------------------------------------------------------------------
# Imported here, with the functions below that need it: this section was added after the module's
# imports, which stay as they were.
DEX_ACCOUNT_EDITABLE = ("pairs", "slippage_bps")


def _dex_account_pairs(pairs: Any) -> list[str]:
    """The pairs as dex_account_create takes them, with its message."""
    pairs = [str(p).strip() for p in pairs or ()]
    if not pairs or any(not PAIR.match(p) or p.split("/")[0] == p.split("/")[1] for p in pairs):
        raise ApplicationError("Give the pairs as BASE/QUOTE token symbols or mints, e.g. SOL/USDC.", field="pairs")
    return pairs


def _dex_account_slippage(slippage_bps: Any) -> int:
    """The slippage limit as dex_account_create takes it, with its message."""
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 1 <= slippage_bps <= 5000:
        raise ApplicationError("slippage_bps is a whole number from 1 to 5000.", field="slippage_bps")
    return slippage_bps


def dex_account_update(
    *,
    dex_account: DexAccount,
    pairs: list[str] | tuple[str, ...] | None = None,
    slippage_bps: int | None = None,
    user=None,
    source: str = EventSource.SYSTEM,
) -> DexAccount:
    """Change the pairs a DEX account trades and its swaps' slippage limit (admin role), checked
    as on creation; None leaves a value as it is. Its venue, Gateway and wallet stay what they were
    made with. A change is an event naming what changed; nothing changed records nothing."""
    require_role(user=user, organization=dex_account.organization_id, role=Role.ADMIN, action="Changing a DEX account")
    values: dict[str, Any] = {}
    if pairs is not None:
        values["pairs"] = _dex_account_pairs(pairs)
    if slippage_bps is not None:
        values["slippage_bps"] = _dex_account_slippage(slippage_bps)
    with transaction.atomic():
        locked = (
            DexAccount.objects.select_for_update(of=("self",))
            .select_related("account", "connection", "wallet")
            .get(pk=dex_account.pk)
        )
        before = {name: getattr(locked, name) for name in values}
        changed = sorted(name for name, value in values.items() if before[name] != value)
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, values[name])
        locked.save(update_fields=changed)
        if "pairs" in changed:
            # Verification quotes every pair: new pairs have not been checked yet.
            from exchanges.models import ExchangeAccountStatus

            type(locked.account).objects.filter(pk=locked.account_id).update(
                status=ExchangeAccountStatus.UNVERIFIED, status_reason="", last_verified_at=None
            )
        said = []
        if "pairs" in changed:
            said.append(f"pairs {', '.join(locked.pairs)} (were {', '.join(map(str, before['pairs'])) or 'none'})")
        if "slippage_bps" in changed:
            said.append(f"slippage {locked.slippage_bps} bps (was {before['slippage_bps']})")
        _event(
            locked.connection,
            kind="dex.account_updated",
            message=f"DEX account {locked.account.label} changed: {'; '.join(said)}.",
            user=user,
            source=source,
            account=locked.account_id,
            fields=changed,
        )
    return locked
