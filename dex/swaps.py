"""Swaps through Gateway (Jupiter) that are never sent twice and never lost.

`swap_execute` writes the swap before anything is sent, quotes it (slippage in basis points;
Gateway takes percent), reads the wallet's base and quote balances, marks it submitted, and
only then sends execute, once:

- confirmed at once (status 1): the amounts and fee are recorded;
- pending (status 0): the signature is recorded and `swap_refresh` polls it;
- failed on chain (-1), or refused by Gateway (4xx: a stale quote, a failed simulation): failed,
  nothing is pending;
- no answer (a timeout, a dropped connection, a 5xx): the outcome is unknown. The swap stays
  submitted and is never sent again. Once its blockhash can no longer land
  (DEX_SWAP_EXPIRY_SECONDS after submitting, 120 s by default against Solana's ~150 slots), the
  balances read before decide: moved by the swap, it is confirmed from them; unmoved, expired.

`swap_refresh` polls a submitted swap: confirmed (1), failed (-1), or, still unseen (0) after
the expiry, expired: it never landed and cannot any more, so the caller may try again (with a
new intent key; the old key keeps answering the old swap).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, EventSource, event_record
from dex.client import GatewayClient
from dex.models import DexSwap, DexWallet, GatewayStatus, SwapSide, SwapStatus
from exchanges.errors import ExchangeError
from organizations.models import Role
from organizations.permissions import require_role

MAX_SLIPPAGE_BPS = 5000


def expiry() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "DEX_SWAP_EXPIRY_SECONDS", 120)))


def _client(wallet: DexWallet) -> GatewayClient:
    return GatewayClient.for_connection(wallet.connection, timeout=float(getattr(settings, "DEX_GATEWAY_TIMEOUT", 30)))


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _save(swap: DexSwap, **values: Any) -> DexSwap:
    for name, value in values.items():
        setattr(swap, name, value)
    DexSwap.objects.filter(pk=swap.pk).update(**values)
    return swap


def _event(
    swap: DexSwap, kind: str, message: str, level: str = EventLevel.INFO, *, user=None, source=EventSource.SYSTEM
):
    event_record(
        organization_id=swap.organization_id,
        kind=kind,
        message=message,
        level=level,
        data={"swap": swap.pk, "signature": swap.signature, "wallet": swap.wallet.address},
        actor=user,
        source=source,
    )


def _describe(swap: DexSwap) -> str:
    return f"{swap.side} {swap.amount.normalize():f} {swap.base} for {swap.quote}"


def _validate(
    *, side: str, amount: Any, slippage_bps: Any, base: str, quote: str, intent_key: str
) -> tuple[Decimal, int]:
    if side not in SwapSide.values:
        raise ApplicationError("side is buy or sell.", field="side")
    value = _decimal(amount)
    if value is None or not value.is_finite() or value <= 0:
        raise ApplicationError("amount must be a positive number of the base token.", field="amount")
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 1 <= slippage_bps <= MAX_SLIPPAGE_BPS:
        raise ApplicationError(f"slippage_bps is a whole number from 1 to {MAX_SLIPPAGE_BPS}.", field="slippage_bps")
    for name, token in (("base", base), ("quote", quote)):
        if not token or len(token) > 64 or not token.isalnum():
            raise ApplicationError(f"{name} is a token symbol or mint address.", field=name)
    if base == quote:
        raise ApplicationError("base and quote must differ.", field="quote")
    if not intent_key or len(intent_key) > 96:
        raise ApplicationError("intent_key names the swap (1-96 characters).", field="intent_key")
    return value, slippage_bps


def swap_execute(
    *,
    wallet: DexWallet,
    base: str,
    quote: str,
    side: str,
    amount: Any,
    slippage_bps: int,
    intent_key: str,
    user=None,
    source: str = EventSource.SYSTEM,
) -> DexSwap:
    """Swap on Jupiter through the wallet's Gateway (see the module doc). A second call with the
    same intent key returns the first swap, refreshed, and sends nothing."""
    require_role(user=user, organization=wallet.organization_id, role=Role.TRADER, action="Swapping on a DEX")
    value, slippage_bps = _validate(
        side=side, amount=amount, slippage_bps=slippage_bps, base=base, quote=quote, intent_key=intent_key
    )
    existing = DexSwap.objects.filter(wallet=wallet, intent_key=intent_key).first()
    if existing is not None and existing.status not in (SwapStatus.NEW, SwapStatus.QUOTED):
        return swap_refresh(swap=existing)
    if wallet.connection.status != GatewayStatus.ACTIVE:
        raise ApplicationError(f"Gateway {wallet.connection.name} is {wallet.connection.status}: check it first.")
    swap = existing
    if swap is None:
        try:
            with transaction.atomic():
                swap = DexSwap.objects.create(
                    organization_id=wallet.organization_id,
                    wallet=wallet,
                    intent_key=intent_key,
                    base=base,
                    quote=quote,
                    side=side,
                    amount=value,
                    slippage_bps=slippage_bps,
                )
        except IntegrityError:  # a concurrent call made it first
            return swap_refresh(swap=DexSwap.objects.get(wallet=wallet, intent_key=intent_key))
    network = wallet.connection.network
    with _client(wallet) as client:
        # 1. Quote. Nothing is sent yet: any failure here ends the swap as failed.
        try:
            quoted = client.quote_swap(
                network=network, base=base, quote=quote, amount=value, side=side, slippage_bps=slippage_bps
            )
            limit = quoted.get("minAmountOut") if side == SwapSide.SELL else quoted.get("maxAmountIn")
            _save(
                swap,
                status=SwapStatus.QUOTED,
                quote_id=str(quoted["quoteId"])[:64],
                quoted_price=_decimal(quoted.get("price")),
                limit_amount=_decimal(limit),
            )
            before = client.balances(network=network, address=wallet.address, tokens=[base, quote])
        except (ExchangeError, KeyError, TypeError) as exc:
            reason = exc.message if isinstance(exc, ExchangeError) else "Gateway's quote lacks its id."
            _save(swap, status=SwapStatus.FAILED, error=f"Not sent: {reason}"[:500], finished_at=timezone.now())
            _event(
                swap,
                "dex.swap_failed",
                f"Swap {_describe(swap)} not sent: {reason}",
                EventLevel.WARNING,
                user=user,
                source=source,
            )
            return swap
        # 2. Marked submitted before execute: from here on it is never sent again.
        _save(
            swap,
            status=SwapStatus.SUBMITTED,
            submitted_at=timezone.now(),
            balances_before={k: str(v) for k, v in before.items()},
        )
        try:
            answer = client.execute_quote(network=network, wallet=wallet.address, quote_id=swap.quote_id)
        except ExchangeError as exc:
            if exc.permanent:  # Gateway refused it before broadcasting (stale quote, failed simulation)
                _save(swap, status=SwapStatus.FAILED, error=exc.message[:500], finished_at=timezone.now())
                _event(
                    swap,
                    "dex.swap_failed",
                    f"Swap {_describe(swap)} refused: {exc.message}",
                    EventLevel.WARNING,
                    user=user,
                    source=source,
                )
                return swap
            _save(swap, error=f"Outcome unknown: {exc.message}"[:500])
            _event(
                swap,
                "dex.swap_unknown",
                f"Swap {_describe(swap)} sent, no answer ({exc.message}); it is not sent again and is settled from "
                "the chain.",
                EventLevel.WARNING,
                user=user,
                source=source,
            )
            return swap
    return _apply_execute(swap, answer, user=user, source=source)


def _apply_execute(swap: DexSwap, answer: Any, *, user=None, source=EventSource.SYSTEM) -> DexSwap:
    if not isinstance(answer, dict) or not isinstance(answer.get("signature"), str):
        _save(swap, error="Outcome unknown: Gateway's answer has no signature.")
        return swap
    status = answer.get("status")
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    _save(swap, signature=answer["signature"][:100])
    if status == 1:
        return _confirm(swap, data.get("amountIn"), data.get("amountOut"), data.get("fee"), user=user, source=source)
    if status == -1:
        return _fail(swap, "The transaction failed on chain.", fee=data.get("fee"), user=user, source=source)
    _event(
        swap, "dex.swap_submitted", f"Swap {_describe(swap)} submitted ({swap.signature}).", user=user, source=source
    )
    return swap


def _confirm(
    swap: DexSwap, amount_in, amount_out, fee, *, user=None, source=EventSource.SYSTEM, how: str = ""
) -> DexSwap:
    _save(
        swap,
        status=SwapStatus.CONFIRMED,
        amount_in=_decimal(amount_in),
        amount_out=_decimal(amount_out),
        fee=_decimal(fee),
        error="",
        finished_at=timezone.now(),
    )
    _event(
        swap,
        "dex.swap_confirmed",
        f"Swap {_describe(swap)} confirmed{how}: {swap.amount_in} in, {swap.amount_out} out.",
        user=user,
        source=source,
    )
    return swap


def _fail(swap: DexSwap, reason: str, *, fee=None, user=None, source=EventSource.SYSTEM) -> DexSwap:
    _save(swap, status=SwapStatus.FAILED, fee=_decimal(fee), error=reason[:500], finished_at=timezone.now())
    _event(
        swap,
        "dex.swap_failed",
        f"Swap {_describe(swap)} failed: {reason}",
        EventLevel.WARNING,
        user=user,
        source=source,
    )
    return swap


def swap_refresh(*, swap: DexSwap, now: dt.datetime | None = None) -> DexSwap:
    """Settle a submitted swap from the chain where it can be (see the module doc); any other
    swap is returned as it is. Safe to run twice at once: the row is locked while it is settled."""
    now = now or timezone.now()
    with transaction.atomic():
        swap = (
            DexSwap.objects.select_for_update(skip_locked=True)
            .select_related("wallet__connection")
            .filter(pk=swap.pk)
            .first()
            or swap
        )
        if swap.status != SwapStatus.SUBMITTED:
            return swap
        late = swap.submitted_at is not None and now - swap.submitted_at > expiry()
        network = swap.wallet.connection.network
        try:
            with _client(swap.wallet) as client:
                if swap.signature:
                    polled = client.poll(
                        network=network,
                        signature=swap.signature,
                        wallet=swap.wallet.address,
                        tokens=[swap.base, swap.quote],
                    )
                    return _apply_poll(swap, polled, late=late)
                if not late:
                    return swap  # the answer was lost; wait until the transaction can no longer land
                after = client.balances(network=network, address=swap.wallet.address, tokens=[swap.base, swap.quote])
        except ExchangeError as exc:
            _save(swap, polls=swap.polls + 1, error=f"Poll failed: {exc.message}"[:500])
            return swap
        return _settle_by_balances(swap, after)


def _apply_poll(swap: DexSwap, polled: Any, *, late: bool) -> DexSwap:
    _save(swap, polls=swap.polls + 1)
    status = polled.get("txStatus") if isinstance(polled, dict) else None
    if status == 1:
        changes = polled.get("tokenBalanceChanges") or {}
        base_change, quote_change = _decimal(changes.get(swap.base)), _decimal(changes.get(swap.quote))
        amount_in = amount_out = None
        if base_change is not None and quote_change is not None:
            spent, got = (base_change, quote_change) if swap.side == SwapSide.SELL else (quote_change, base_change)
            amount_in, amount_out = abs(spent), abs(got)
        return _confirm(swap, amount_in, amount_out, polled.get("fee"))
    if status == -1:
        meta = ((polled.get("txData") or {}).get("meta") or {}) if isinstance(polled.get("txData"), dict) else {}
        return _fail(swap, f"The transaction failed on chain: {str(meta.get('err'))[:300]}", fee=polled.get("fee"))
    if late:
        _save(swap, status=SwapStatus.EXPIRED, error="Never landed: its blockhash expired.", finished_at=timezone.now())
        _event(
            swap,
            "dex.swap_expired",
            f"Swap {_describe(swap)} never landed ({swap.signature}); it can be tried again.",
            EventLevel.WARNING,
        )
    return swap


def _settle_by_balances(swap: DexSwap, after: dict[str, Decimal]) -> DexSwap:
    """No signature and past the expiry: did the wallet's base balance move by the swap?"""
    before = {k: Decimal(v) for k, v in (swap.balances_before or {}).items()}
    moved = after.get(swap.base, Decimal(0)) - before.get(swap.base, Decimal(0))
    expected = swap.amount if swap.side == SwapSide.BUY else -swap.amount
    if before and moved * expected > 0 and abs(moved) >= abs(expected) / 2:
        quote_moved = after.get(swap.quote, Decimal(0)) - before.get(swap.quote, Decimal(0))
        spent, got = (abs(moved), abs(quote_moved)) if swap.side == SwapSide.SELL else (abs(quote_moved), abs(moved))
        return _confirm(swap, spent, got, None, how=" from the wallet's balances (the answer was lost)")
    _save(
        swap,
        status=SwapStatus.EXPIRED,
        error="No answer and no balance change: it never landed.",
        finished_at=timezone.now(),
    )
    _event(
        swap,
        "dex.swap_expired",
        f"Swap {_describe(swap)} never landed (no answer, balances unchanged).",
        EventLevel.WARNING,
    )
    return swap


def swaps_refresh_due(*, now: dt.datetime | None = None) -> int:
    """Settle every submitted swap (the beat task); returns how many are still submitted."""
    pending = 0
    for swap in DexSwap.objects.filter(status=SwapStatus.SUBMITTED).select_related("wallet__connection"):
        pending += swap_refresh(swap=swap, now=now).status == SwapStatus.SUBMITTED
    return pending
