"""The listing sniper: new Solana tokens from a feed, vetted, bought risk-sized, sold at a
take-profit or a stop-loss.

Each run (the beat job, every few seconds; one run per sniper at a time, by a lease):

1. Reads the sniper's source: a JSON list of listings (or `{"tokens": [...]}`), each with `mint`
   (required) and, when the source knows them, `symbol`, `liquidity_usd`, `mint_authority`,
   `freeze_authority` (null when renounced), `top_holders_pct` (share of the supply the ten
   largest holders have) and `creator`. A listing it cannot read is logged and skipped.
2. Vets each token it has not seen before, in this order, and records the first reason to refuse
   it: on the blacklist (mint, symbol or creator); liquidity unknown or under the minimum; a mint
   authority (the supply can grow) or a freeze authority (holders can be frozen) still set, when
   the sniper refuses them; the top holders above the limit, when the source gives it; already
   holding `max_open` tokens.
3. Buys a token that passes with `risk_pct` of the free quote balance, at most
   `max_position_quote`: Gateway prices one token, the amount that budget buys is quoted, and
   the buy is that quote. Paper fills at the quote and keeps the quote balance in the paper
   ledger; live sends one swap (`dex.swaps`: never sent twice, settled from the chain).
4. Prices every token held by quoting its sale: at or above cost x (1 + take_profit_pct/100) it
   sells (`take_profit`), at or under cost x (1 - stop_loss_pct/100) it sells (`stop_loss`). A live
   sale that fails or expires is tried again on a later run with a new intent; one whose outcome
   is unknown is waited for.

Every decision (refused and why, bought, sold, a failed buy or sale, an unreadable source) is an
event of the sniper's organization.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, EventSource, event_record
from dex.client import GatewayClient
from dex.models import DexAccount, Sniper, SnipeStatus, SnipeToken, SwapSide, SwapStatus
from exchanges.errors import ExchangeError
from exchanges.models import PaperBalance
from organizations.models import Organization, Role
from organizations.permissions import require_role

logger = logging.getLogger(__name__)
MINT = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
SOURCE_MAX_BYTES = 2_000_000
LEASE = dt.timedelta(seconds=60)
QUANTUM = Decimal("0.000000001")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Listing:
    mint: str
    symbol: str = ""
    liquidity_usd: Decimal | None = None
    mint_authority: str | None = None
    freeze_authority: str | None = None
    top_holders_pct: Decimal | None = None
    creator: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "mint": self.mint,
            "symbol": self.symbol,
            "liquidity_usd": None if self.liquidity_usd is None else str(self.liquidity_usd),
            "mint_authority": self.mint_authority,
            "freeze_authority": self.freeze_authority,
            "top_holders_pct": None if self.top_holders_pct is None else str(self.top_holders_pct),
            "creator": self.creator,
        }


@dataclass
class RunReport:
    seen: int = 0
    rejected: int = 0
    bought: int = 0
    sold: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _number(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name} must be a positive number")
    return number


def _authority(value: Any, name: str) -> str | None:
    if value in (None, "", False):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{name} must be an address or null")
    return value


def listing_parse(item: Any) -> Listing:
    """One listing from the feed; ValueError says what is wrong with it."""
    if not isinstance(item, dict):
        raise ValueError("a listing must be an object")
    mint = item.get("mint")
    if not isinstance(mint, str) or not MINT.match(mint):
        raise ValueError("mint must be a Solana address")
    symbol = item.get("symbol") or ""
    creator = item.get("creator") or ""
    if not isinstance(symbol, str) or not isinstance(creator, str):
        raise ValueError("symbol and creator must be text")
    top = _number(item.get("top_holders_pct"), "top_holders_pct")
    if top is not None and top > HUNDRED:
        raise ValueError("top_holders_pct is a percentage (0-100)")
    return Listing(
        mint=mint,
        symbol=symbol.strip()[:32],
        liquidity_usd=_number(item.get("liquidity_usd"), "liquidity_usd"),
        mint_authority=_authority(item.get("mint_authority"), "mint_authority"),
        freeze_authority=_authority(item.get("freeze_authority"), "freeze_authority"),
        top_holders_pct=top,
        creator=creator.strip()[:64],
    )


def listings_fetch(url: str, *, timeout: float | None = None) -> list[Any]:
    """The source's listings, raw. Raises ExchangeError with the reason when it cannot be read."""
    timeout = timeout or float(getattr(settings, "DEX_SNIPER_SOURCE_TIMEOUT", 10))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, client.stream("GET", url) as answer:
            if answer.status_code != 200:
                raise ExchangeError(f"the source answered HTTP {answer.status_code}")
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > SOURCE_MAX_BYTES:
                    raise ExchangeError(f"the source sent more than {SOURCE_MAX_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise ExchangeError(f"the source could not be read ({type(exc).__name__})", permanent=False) from None
    try:
        data = json.loads(body)
    except ValueError:
        raise ExchangeError("the source did not send JSON") from None
    if isinstance(data, dict) and isinstance(data.get("tokens"), list):
        data = data["tokens"]
    if not isinstance(data, list):
        raise ExchangeError('the source must send a list of listings, or {"tokens": [...]}')
    return data


def vet(sniper: Sniper, listing: Listing, *, open_count: int) -> str | None:
    """The first reason to refuse the token, or None when it may be bought."""
    banned = {str(b).strip().lower() for b in sniper.blacklist or [] if str(b).strip()}
    for what, value in (("mint", listing.mint), ("symbol", listing.symbol), ("creator", listing.creator)):
        if value and value.lower() in banned:
            return f"blacklisted {what} {value}"
    if listing.liquidity_usd is None:
        return "liquidity unknown"
    if listing.liquidity_usd < sniper.min_liquidity_usd:
        return f"liquidity ${listing.liquidity_usd:,.0f} under the minimum ${sniper.min_liquidity_usd:,.0f}"
    if sniper.refuse_mint_authority and listing.mint_authority:
        return f"mint authority still set ({listing.mint_authority}): the supply can grow"
    if sniper.refuse_freeze_authority and listing.freeze_authority:
        return f"freeze authority still set ({listing.freeze_authority}): holders can be frozen"
    if sniper.max_top_holders_pct is not None and listing.top_holders_pct is not None:
        if listing.top_holders_pct > sniper.max_top_holders_pct:
            return f"top 10 holders own {listing.top_holders_pct}%, over the limit of {sniper.max_top_holders_pct}%"
    if open_count >= sniper.max_open:
        return f"already holding {open_count} token(s), the most at once"
    return None


# -- writes -----------------------------------------------------------------------------------------
RULES = (
    "quote_token",
    "min_liquidity_usd",
    "blacklist",
    "refuse_mint_authority",
    "refuse_freeze_authority",
    "max_top_holders_pct",
    "risk_pct",
    "max_position_quote",
    "max_open",
    "take_profit_pct",
    "stop_loss_pct",
    "enabled",
)


def _sniper_validate(sniper: Sniper) -> None:
    if not (sniper.name or "").strip():
        raise ApplicationError("Name the sniper.", field="name")
    if not str(sniper.source_url or "").startswith(("http://", "https://")):
        raise ApplicationError("The source is an http(s) URL of a JSON feed.", field="source_url")
    quote = sniper.quote_token or ""
    if not quote.isalnum() or len(quote) > (44 if sniper.live else 16):
        raise ApplicationError("The quote token is a symbol (e.g. SOL) or, live, a mint.", field="quote_token")
    for name, low, high in (
        ("risk_pct", Decimal("0.01"), HUNDRED),
        ("take_profit_pct", Decimal("0.1"), Decimal(100000)),
        ("stop_loss_pct", Decimal("0.1"), Decimal(99)),
    ):
        value = Decimal(str(getattr(sniper, name)))
        if not low <= value <= high:
            raise ApplicationError(f"{name} is from {low} to {high}.", field=name)
    if Decimal(str(sniper.max_position_quote)) <= 0:
        raise ApplicationError("max_position_quote must be positive.", field="max_position_quote")
    if Decimal(str(sniper.min_liquidity_usd)) < 0:
        raise ApplicationError("min_liquidity_usd cannot be negative.", field="min_liquidity_usd")
    top = sniper.max_top_holders_pct
    if top is not None and not 0 < Decimal(str(top)) <= HUNDRED:
        raise ApplicationError("max_top_holders_pct is a percentage (0-100).", field="max_top_holders_pct")
    if not isinstance(sniper.blacklist, list) or not all(isinstance(b, str) for b in sniper.blacklist):
        raise ApplicationError("The blacklist is a list of mints, symbols or creators.", field="blacklist")
    if sniper.max_open < 1:
        raise ApplicationError("max_open is at least 1.", field="max_open")
    if sniper.live and sniper.account.is_paper:
        raise ApplicationError("A live sniper needs a live DEX account (one with a wallet).", field="live")
    if not sniper.live and not sniper.account.is_paper:
        raise ApplicationError(
            "A paper sniper trades a paper DEX account; set live to trade this wallet.", field="account"
        )


def sniper_create(
    *,
    organization: Organization,
    account: DexAccount,
    name: str,
    source_url: str,
    live: bool = False,
    user=None,
    source: str = EventSource.SYSTEM,
    **rules: Any,
) -> Sniper:
    """A sniper (trader role; live needs the admin role). Paper unless `live`."""
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise ApplicationError(f"{unknown[0]} cannot be set.", field=unknown[0])
    require_role(user=user, organization=organization, role=Role.TRADER, action="Adding a sniper")
    if live:
        require_role(user=user, organization=organization, role=Role.ADMIN, action="Adding a live sniper")
    if account.organization_id != organization.pk:
        raise ApplicationError("The DEX account belongs to another organization.", field="account")
    sniper = Sniper(organization=organization, account=account, name=(name or "").strip(), source_url=source_url)
    sniper.live = bool(live)
    for key, value in rules.items():
        setattr(sniper, key, value)
    try:
        for key in ("min_liquidity_usd", "max_top_holders_pct", "risk_pct", "max_position_quote"):
            value = getattr(sniper, key)
            if value is not None:
                setattr(sniper, key, Decimal(str(value)))
        for key in ("take_profit_pct", "stop_loss_pct"):
            setattr(sniper, key, Decimal(str(getattr(sniper, key))))
    except InvalidOperation:
        raise ApplicationError(f"{key} is not a number.", field=key) from None
    _sniper_validate(sniper)
    try:
        with transaction.atomic():
            sniper.save()
            _event(
                sniper,
                "sniper.created",
                f"Sniper {sniper.name} ({'live' if sniper.live else 'paper'}) watching {sniper.source_url}.",
                user=user,
                source=source,
            )
    except IntegrityError:
        raise ApplicationError(f"A sniper is already named {sniper.name}.", field="name") from None
    return sniper


def _event(
    sniper: Sniper,
    kind: str,
    message: str,
    level: str = EventLevel.INFO,
    *,
    user=None,
    source: str = EventSource.SYSTEM,
    **data: Any,
) -> None:
    event_record(
        organization_id=sniper.organization_id,
        kind=kind,
        message=f"Sniper {sniper.name}: {message}",
        level=level,
        data={"sniper": sniper.pk, **data},
        actor=user,
        source=source,
    )


# -- the run ----------------------------------------------------------------------------------------
def _lease(sniper: Sniper, now: dt.datetime) -> bool:
    taken = (
        Sniper.objects.filter(pk=sniper.pk, enabled=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    return taken == 1


class _Run:
    def __init__(self, sniper: Sniper, now: dt.datetime) -> None:
        self.sniper = sniper
        self.dex = sniper.account
        self.now = now
        self.report = RunReport()
        self.gateway = GatewayClient.for_connection(
            self.dex.connection, timeout=float(getattr(settings, "DEX_GATEWAY_TIMEOUT", 30))
        )

    # prices
    def _quote(self, mint: str, side: str, amount: Decimal) -> dict[str, Any]:
        return self.gateway.quote_swap(
            network=self.dex.connection.network,
            base=mint,
            quote=self.sniper.quote_token,
            amount=amount,
            side=side,
            slippage_bps=self.dex.slippage_bps,
        )

    @staticmethod
    def _amounts(answer: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
        """(price, amount in, amount out) of a Gateway quote, or ExchangeError."""
        try:
            price, amount_in, amount_out = (Decimal(str(answer[k])) for k in ("price", "amountIn", "amountOut"))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            raise ExchangeError("Gateway's quote lacks its price or amounts.") from None
        if min(price, amount_in, amount_out) <= 0 or not all(x.is_finite() for x in (price, amount_in, amount_out)):
            raise ExchangeError("Gateway quoted an amount that is not positive.")
        return price, amount_in, amount_out

    # funds
    def _free_quote(self) -> Decimal:
        if self.sniper.live:
            held = self.gateway.balances(
                network=self.dex.connection.network, address=self.dex.wallet.address, tokens=[self.sniper.quote_token]
            )
            return held.get(self.sniper.quote_token, Decimal(0))
        row = PaperBalance.objects.filter(account_id=self.dex.account_id, asset=self.sniper.quote_token).first()
        return row.free if row else Decimal(0)

    def _paper_move(self, delta: Decimal) -> bool:
        """Add `delta` (negative: spend) to the paper quote balance; False when it would go below 0."""
        with transaction.atomic():
            row, _ = PaperBalance.objects.select_for_update().get_or_create(
                account_id=self.dex.account_id, asset=self.sniper.quote_token
            )
            if row.free + delta < 0:
                return False
            row.free += delta
            row.save(update_fields=["free"])
        return True

    # steps
    def listings(self) -> list[Listing]:
        try:
            raw = listings_fetch(self.sniper.source_url)
        except ExchangeError as exc:
            Sniper.objects.filter(pk=self.sniper.pk).update(last_error=f"Source: {exc.message}"[:500])
            _event(
                self.sniper, "sniper.source_failed", f"the source could not be read: {exc.message}", EventLevel.WARNING
            )
            self.report.errors.append(exc.message)
            return []
        out = []
        for i, item in enumerate(raw[:500]):
            try:
                out.append(listing_parse(item))
            except ValueError as exc:
                self.report.skipped += 1
                _event(self.sniper, "sniper.listing_invalid", f"listing {i} skipped: {exc}", EventLevel.WARNING)
        Sniper.objects.filter(pk=self.sniper.pk).update(last_polled_at=self.now, last_error="")
        return out

    def consider(self, listing: Listing) -> None:
        try:
            with transaction.atomic():
                token = SnipeToken.objects.create(
                    organization_id=self.sniper.organization_id,
                    sniper=self.sniper,
                    mint=listing.mint,
                    symbol=listing.symbol,
                    listing=listing.as_json(),
                    status=SnipeStatus.REJECTED,
                    reason="vetting",
                )
        except IntegrityError:
            return  # seen already (another run, or a repeat in the feed)
        self.report.seen += 1
        held = SnipeToken.objects.filter(
            sniper=self.sniper, status__in=(SnipeStatus.BUYING, SnipeStatus.OPEN, SnipeStatus.SELLING)
        ).count()
        reason = vet(self.sniper, listing, open_count=held)
        if reason is None:
            try:
                free = self._free_quote()
            except ExchangeError as exc:
                reason = f"the quote balance could not be read ({exc.message})"
            else:
                budget = min(free * self.sniper.risk_pct / HUNDRED, self.sniper.max_position_quote)
                reason = None if budget > 0 else f"no {self.sniper.quote_token} free to buy with"
        name = listing.symbol or listing.mint
        if reason is not None:
            self._save(token, status=SnipeStatus.REJECTED, reason=reason[:500])
            self.report.rejected += 1
            _event(self.sniper, "sniper.rejected", f"{name} refused: {reason}.", mint=listing.mint)
            return
        self.buy(token, budget)

    def _save(self, token: SnipeToken, **values: Any) -> None:
        for key, value in values.items():
            setattr(token, key, value)
        SnipeToken.objects.filter(pk=token.pk).update(**values)

    def buy(self, token: SnipeToken, budget: Decimal) -> None:
        try:
            unit, _, _ = self._amounts(self._quote(token.mint, SwapSide.SELL, Decimal(1)))
            amount = (budget / unit).quantize(QUANTUM)
            _, cost, got = self._amounts(self._quote(token.mint, SwapSide.BUY, amount))
            if cost > budget * Decimal("1.02"):  # price impact: buy less, once
                amount = (amount * budget / cost).quantize(QUANTUM)
                _, cost, got = self._amounts(self._quote(token.mint, SwapSide.BUY, amount))
        except ExchangeError as exc:
            self._fail_buy(token, f"no quote ({exc.message})")
            return
        if amount <= 0:
            self._fail_buy(token, "the budget buys less than the smallest amount")
            return
        if not self.sniper.live:
            if not self._paper_move(-cost):
                self._fail_buy(token, f"paper balance too low for {cost} {self.sniper.quote_token}")
                return
            self._opened(token, amount=got, cost=cost)
            return
        from dex.swaps import swap_execute

        swap = swap_execute(
            wallet=self.dex.wallet,
            base=token.mint,
            quote=self.sniper.quote_token,
            side=SwapSide.BUY,
            amount=amount,
            slippage_bps=self.dex.slippage_bps,
            intent_key=f"snipe:{token.pk}:buy",
        )
        self._save(token, buy_swap=swap, status=SnipeStatus.BUYING, reason="")
        self.settle_buy(token)

    def _opened(self, token: SnipeToken, *, amount: Decimal, cost: Decimal) -> None:
        entry = (cost / amount).quantize(QUANTUM) if amount else None
        self._save(token, status=SnipeStatus.OPEN, amount=amount, cost_quote=cost, entry_price=entry, reason="")
        self.report.bought += 1
        _event(
            self.sniper,
            "sniper.bought",
            f"bought {amount.normalize():f} {token.symbol or token.mint} for {cost.normalize():f} "
            f"{self.sniper.quote_token}{' (paper)' if not self.sniper.live else ''}.",
            mint=token.mint,
            signature=token.buy_swap.signature if token.buy_swap else "",
        )

    def _fail_buy(self, token: SnipeToken, reason: str) -> None:
        self._save(token, status=SnipeStatus.FAILED, reason=reason[:500], closed_at=self.now)
        _event(
            self.sniper, "sniper.buy_failed", f"{token.symbol or token.mint} not bought: {reason}.", EventLevel.WARNING
        )
        self.report.errors.append(reason)

    def settle_buy(self, token: SnipeToken) -> None:
        swap = token.buy_swap
        if swap.status == SwapStatus.CONFIRMED:
            self._opened(token, amount=swap.amount_out or swap.amount, cost=swap.amount_in or Decimal(0))
        elif swap.status in (SwapStatus.FAILED, SwapStatus.EXPIRED):
            self._fail_buy(token, f"the swap {swap.status}: {swap.error}")

    def manage(self, token: SnipeToken) -> None:
        name = token.symbol or token.mint
        try:
            _, _, value = self._amounts(self._quote(token.mint, SwapSide.SELL, token.amount))
        except ExchangeError as exc:
            _event(self.sniper, "sniper.price_failed", f"{name} could not be priced: {exc.message}", EventLevel.WARNING)
            return
        cost = token.cost_quote
        if value >= cost * (1 + self.sniper.take_profit_pct / HUNDRED):
            why = "take_profit"
        elif value <= cost * (1 - self.sniper.stop_loss_pct / HUNDRED):
            why = "stop_loss"
        else:
            return
        if not self.sniper.live:
            self._paper_move(value)
            self._closed(token, proceeds=value, why=why)
            return
        from dex.swaps import swap_execute

        swap = swap_execute(
            wallet=self.dex.wallet,
            base=token.mint,
            quote=self.sniper.quote_token,
            side=SwapSide.SELL,
            amount=token.amount,
            slippage_bps=self.dex.slippage_bps,
            intent_key=f"snipe:{token.pk}:sell:{token.sells}",
        )
        self._save(token, sell_swap=swap, status=SnipeStatus.SELLING, exit_reason=why, sells=token.sells + 1)
        self.settle_sell(token)

    def _closed(self, token: SnipeToken, *, proceeds: Decimal, why: str) -> None:
        exit_price = (proceeds / token.amount).quantize(QUANTUM) if token.amount else None
        self._save(
            token,
            status=SnipeStatus.CLOSED,
            proceeds_quote=proceeds,
            exit_price=exit_price,
            exit_reason=why,
            closed_at=self.now,
        )
        self.report.sold += 1
        pnl = proceeds - token.cost_quote
        _event(
            self.sniper,
            "sniper.sold",
            f"sold {token.symbol or token.mint} at its {why.replace('_', '-')}: {proceeds.normalize():f} "
            f"{self.sniper.quote_token} back for {token.cost_quote.normalize():f} ({pnl:+f}).",
            mint=token.mint,
            reason=why,
            pnl=str(pnl),
        )

    def settle_sell(self, token: SnipeToken) -> None:
        swap = token.sell_swap
        if swap.status == SwapStatus.CONFIRMED:
            self._closed(token, proceeds=swap.amount_out or Decimal(0), why=token.exit_reason)
        elif swap.status in (SwapStatus.FAILED, SwapStatus.EXPIRED):
            self._save(token, status=SnipeStatus.OPEN)
            _event(
                self.sniper,
                "sniper.sell_failed",
                f"sale of {token.symbol or token.mint} {swap.status} ({swap.error}); it is tried again.",
                EventLevel.WARNING,
            )

    def close(self) -> None:
        self.gateway.close()


def sniper_run(*, sniper: Sniper, now: dt.datetime | None = None) -> RunReport | None:
    """One run (see the module doc); None when another run holds the sniper or it is disabled."""
    now = now or timezone.now()
    if not _lease(sniper, now):
        return None
    sniper = Sniper.objects.select_related("account__connection", "account__wallet").get(pk=sniper.pk)
    run = _Run(sniper, now)
    try:
        for token in SnipeToken.objects.filter(sniper=sniper, status=SnipeStatus.BUYING).select_related("buy_swap"):
            run.settle_buy(token)
        for token in SnipeToken.objects.filter(sniper=sniper, status=SnipeStatus.SELLING).select_related("sell_swap"):
            run.settle_sell(token)
        for listing in run.listings():
            run.consider(listing)
        for token in SnipeToken.objects.filter(sniper=sniper, status=SnipeStatus.OPEN).order_by("seen_at", "id"):
            run.manage(token)
    finally:
        run.close()
        Sniper.objects.filter(pk=sniper.pk).update(lease_until=None)
    return run.report


def snipers_run_due(*, now: dt.datetime | None = None) -> int:
    """Run every enabled sniper (the beat job); returns how many ran."""
    ran = 0
    for sniper in Sniper.objects.filter(enabled=True):
        try:
            ran += sniper_run(sniper=sniper, now=now) is not None
        except Exception as exc:  # one sniper's failure must not stop the others
            logger.exception("Sniper %s run failed", sniper.pk)
            Sniper.objects.filter(pk=sniper.pk).update(last_error=f"Run failed: {type(exc).__name__}"[:500])
            _event(sniper, "sniper.run_failed", f"the run failed ({type(exc).__name__}).", EventLevel.ERROR)
    return ran


def sniper_enable(*, sniper: Sniper, enabled: bool, user=None, source: str = EventSource.SYSTEM) -> Sniper:
    """Switch a sniper on or off (trader role; a live one, admin). Tokens held stay held."""
    require_role(user=user, organization=sniper.organization_id, role=Role.TRADER, action="Switching a sniper")
    if sniper.live:
        require_role(user=user, organization=sniper.organization_id, role=Role.ADMIN, action="Switching a live sniper")
    with transaction.atomic():
        Sniper.objects.filter(pk=sniper.pk).update(enabled=enabled)
        sniper.enabled = enabled
        _event(sniper, "sniper.switched", f"switched {'on' if enabled else 'off'}.", user=user, source=source)
    return sniper
