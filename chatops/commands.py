"""What the Telegram commands answer, as plain sync functions of a chat link (the bot's handlers
call them through `sync_to_async`). Every read is scoped to the link's selected organization and
re-checks the member's membership; every action only asks for confirmation here, and runs in
`confirm()` through the same services as the dashboard, with Telegram as the source.

A reply is text (split under Telegram's 4,096 characters by `split_text`) and optional inline
buttons; long lists are paged (`PAGE` rows) with Previous / Next buttons. Callback data is
`<verb>:<args>`, at most 64 bytes, and is never trusted: a bot id in it is looked up again in
the link's organization.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import MetricSnapshot
from bots.models import OPEN_ORDER_STATUSES, Bot, Order, Position
from bots.services import bot_start, bot_stop, position_close
from bots.state import ACTIVE_STATUSES, BotStatus
from chatops.models import TelegramLink
from core.errors import ApplicationError
from core.events import EventSource
from exchanges.errors import ExchangeError
from exchanges.gateway import Gateway
from exchanges.models import ExchangeAccount
from exchanges.types import Balance
from organizations.models import ROLE_RANK, Membership, Role
from risk.selectors import kill_switch_engaged
from risk.services import kill_switch_engage
from signals.models import Signal

MAX_TEXT = 4096
PAGE = 15
ZERO = Decimal("0")


@dataclass
class Reply:
    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)  # rows of (label, callback data)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Text in pieces of at most `limit` characters, cut at line ends where there are any."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = limit if cut <= 0 else cut
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def _membership(link: TelegramLink) -> Membership | None:
    """The member's membership in the selected organization (the first by name when none is
    selected or the member left it)."""
    memberships = Membership.objects.filter(user_id=link.user_id).select_related("organization")
    if not link.organization_id:
        chosen = None
    elif link.organization_id == getattr(link, "selected_membership_for", None):
        chosen = link.selected_membership  # read with the link (chatops.services.link_for_chat)
    else:
        chosen = memberships.filter(organization_id=link.organization_id).first()
    if chosen is None:
        chosen = memberships.order_by("organization__name").first()
        new_id = chosen.organization_id if chosen else None
        if new_id != link.organization_id:
            TelegramLink.objects.filter(pk=link.pk).update(organization_id=new_id)
            link.organization_id = new_id
    return chosen


def _need_membership(link: TelegramLink) -> Membership:
    membership = _membership(link)
    if membership is None:
        raise ApplicationError("You are not a member of any organization any more.")
    return membership


def _bots(link: TelegramLink):
    return Bot.objects.filter(organization_id=link.organization_id)


def find_bot(link: TelegramLink, ref: str) -> Bot:
    """A bot of the selected organization by id or exact name (case-insensitive)."""
    ref = (ref or "").strip()
    if not ref:
        raise ApplicationError("Name the bot: its name or id (/bots lists them).")
    bots = _bots(link)
    bot = bots.filter(pk=int(ref)).first() if ref.isdigit() else None
    bot = bot or bots.filter(name__iexact=ref).first()
    if bot is None:
        raise ApplicationError(f"No bot {ref!r} in this organization; /bots lists them.")
    return bot


def has_bot(link: TelegramLink, ref: str) -> bool:
    try:
        find_bot(link, ref)
    except ApplicationError:
        return False
    return True


# -- reads ------------------------------------------------------------------------------------------
def org_command(link: TelegramLink, arg: str = "") -> Reply:
    """`/org` lists the member's organizations; `/org <number|slug|name>` switches."""
    current = _need_membership(link)
    memberships = list(
        Membership.objects.filter(user_id=link.user_id).select_related("organization").order_by("organization__name")
    )
    if arg.strip():
        ref = arg.strip().lower()
        for number, m in enumerate(memberships, 1):
            if ref in (str(number), m.organization.slug.lower(), m.organization.name.lower()):
                TelegramLink.objects.filter(pk=link.pk).update(organization_id=m.organization_id)
                link.organization_id = m.organization_id
                return Reply(f"Now acting on {m.organization.name} (role {m.get_role_display().lower()}).")
        raise ApplicationError(f"You are not a member of {arg.strip()!r}; /org lists yours.")
    lines = [
        f"{number}. {m.organization.name} ({m.get_role_display().lower()})"
        + (" \u2190 current" if m.organization_id == current.organization_id else "")
        for number, m in enumerate(memberships, 1)
    ]
    return Reply("Your organizations:\n" + "\n".join(lines) + "\n\nSwitch with /org <number>.")


def status_command(link: TelegramLink) -> Reply:
    membership = _need_membership(link)
    counts = dict(_bots(link).values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    by_status = ", ".join(f"{counts[s]} {s}" for s in BotStatus.values if counts.get(s)) or "none"
    switch = "ENGAGED: no bot can start" if kill_switch_engaged(organization_id=link.organization_id) else "released"
    return Reply(
        f"{membership.organization.name} (you: {membership.get_role_display().lower()})\n"
        f"Bots: {total} ({by_status})\n"
        f"Kill switch: {switch}"
    )


def paged(title: str, rows, page: int, verb: str, line, button=None, *, empty: str) -> Reply:
    """One page (PAGE rows) of `rows` (a queryset; only the page is fetched, with the number of
    all rows beside it in the same query) under `title`, each row written by `line(row)` and, with
    `button`, given the button `button(row)` (label, data); Previous / Next buttons carry
    `<verb>:<page>`. No rows: the `empty` text."""
    page = max(page, 1)
    shown, total = _page_rows(rows, page)
    if not shown and page > 1:  # past the end (the list shrank since its buttons were sent)
        total = rows.count()
        page = max(1, (total + PAGE - 1) // PAGE)
        shown, total = _page_rows(rows, page)
    if not total:
        return Reply(empty)
    pages = max(1, (total + PAGE - 1) // PAGE)
    buttons = [[button(row)] for row in shown] if button else []
    nav = []
    if page > 1:
        nav.append(("\u2039 Previous", f"{verb}:{page - 1}"))
    if page < pages:
        nav.append(("Next \u203a", f"{verb}:{page + 1}"))
    if nav:
        buttons.append(nav)
    heading = f"{title}, page {page} of {pages}:" if pages > 1 else f"{title}:"
    return Reply(heading + "\n" + "\n".join(line(row) for row in shown), buttons)


def _page_rows(rows, page: int) -> tuple[list, int]:
    """The rows of page `page` and the number of all rows, in one query: COUNT(*) OVER () is
    counted before LIMIT applies. A values_list row gets the count last, and loses it here."""
    fetched = list(rows.annotate(paged_total=Window(Count("*")))[(page - 1) * PAGE : page * PAGE])
    if not fetched:
        return [], 0
    if isinstance(fetched[0], tuple):
        return [row[:-1] for row in fetched], fetched[0][-1]
    return fetched, fetched[0].paged_total


def bots_command(link: TelegramLink, page: int = 1) -> Reply:
    _need_membership(link)
    rows = _bots(link).order_by("name", "pk").values_list("pk", "name", "status", "strategy", "symbol", "mode")

    def line(row) -> str:
        pk, name, status, strategy, symbol, mode = row
        return f"#{pk} {name}: {status} \u00b7 {strategy} {symbol} ({mode})"

    return paged("Bots", rows, page, "bots", line, empty="No bots in this organization yet.")


def bot_command(link: TelegramLink, ref: str) -> Reply:
    _need_membership(link)
    bot = find_bot(link, ref)
    position = bot.positions.filter(closed_at__isnull=True).only("bot_id", "quantity", "average_entry_price").first()
    lines = [
        f"#{bot.pk} {bot.name}: {bot.status}",
        f"{bot.strategy} on {bot.symbol} ({bot.market_type}, {bot.mode}, {bot.get_execution_display().lower()})",
        f"Capital {money(bot.capital)}",
        f"Position {qty(position.quantity)} @ {money(position.average_entry_price, 4)}"
        if position
        else "No open position",
    ]
    if bot.last_tick_at:
        lines.append(f"Last tick {bot.last_tick_at:%Y-%m-%d %H:%M:%S} UTC")
    if bot.last_error:
        lines.append(f"Last error: {bot.last_error[:300]}")
    return Reply("\n".join(lines))


def money(value: Decimal | None, places: int = 2) -> str:
    """A Decimal for a chat message: fixed places, a sign on PnL-like figures left to the caller."""
    if value is None:
        return "\u2014"
    return f"{value.quantize(Decimal(1).scaleb(-places)):,f}"


def signed(value: Decimal | None, places: int = 2) -> str:
    return money(value, places) if value is None or value < 0 else "+" + money(value, places)


def qty(value: Decimal) -> str:
    """A quantity without trailing zeros (0.1, not 0.100000000000000000)."""
    return f"{value.normalize():f}"


def _open_positions(link: TelegramLink):
    return (
        Position.objects.for_organization(link.organization_id)
        .filter(closed_at__isnull=True)
        .exclude(quantity=0)
        .select_related("bot")
        .order_by("bot__name", "symbol", "pk")
    )


def positions_command(link: TelegramLink, page: int = 1) -> Reply:
    """Open positions: size, entry, unrealized PnL and liquidation price where known, each with a
    Close button (which asks first)."""
    _need_membership(link)
    positions = _open_positions(link).only(
        "symbol", "quantity", "average_entry_price", "unrealized_pnl", "liquidation_price", "bot__name"
    )

    def line(p: Position) -> str:
        side = "long" if p.quantity > 0 else "short"
        text = f"#{p.pk} {p.bot.name}: {side} {qty(abs(p.quantity))} {p.symbol} @ {money(p.average_entry_price, 4)}"
        if p.unrealized_pnl is not None:
            text += f", uPnL {signed(p.unrealized_pnl)}"
        if p.liquidation_price is not None:
            text += f", liq. {money(p.liquidation_price, 4)}"
        return text

    def button(p: Position) -> tuple[str, str]:
        return (f"Close #{p.pk} {p.symbol} ({p.bot.name})"[:60], f"close:{p.pk}")

    return paged(
        "Open positions", positions, page, "positions", line, button, empty="No open positions in this organization."
    )


def orders_command(link: TelegramLink, page: int = 1) -> Reply:
    _need_membership(link)
    orders = (
        Order.objects.for_organization(link.organization_id)
        .filter(status__in=OPEN_ORDER_STATUSES)
        .select_related("bot")
        .only("side", "amount", "symbol", "price", "status", "filled", "bot__name")
        .order_by("-created_at", "-pk")
    )

    def line(o: Order) -> str:
        price = f" @ {money(o.price, 4)}" if o.price is not None else " at market"
        filled = f", {qty(o.filled)} filled" if o.filled else ""
        owner = o.bot.name if o.bot else "no bot"
        return f"#{o.pk} {owner}: {o.side} {qty(o.amount)} {o.symbol}{price} ({o.status}{filled})"

    return paged("Open orders", orders, page, "orders", line, empty="No open orders in this organization.")


NET = F("realized_pnl") - F("fees_paid") + F("funding")


def _days(arg: str, *, default: int | None, most: int, name: str) -> int | None:
    arg = (arg or "").strip()
    if not arg:
        return default
    if not arg.isdigit() or not 1 <= int(arg) <= most:
        raise ApplicationError(f"{name} takes a number of days from 1 to {most}, e.g. {name} 7.")
    return int(arg)


def profit_command(link: TelegramLink, arg: str = "") -> Reply:
    """`/profit [days]`: round trips closed in the last `days` (all of them without), net of fees
    and funding; the open positions' unrealized PnL; the bots' equity against their capital."""
    membership = _need_membership(link)
    days = _days(arg, default=None, most=3650, name="/profit")
    closed = Position.objects.for_organization(link.organization_id).filter(closed_at__isnull=False)
    if days:
        closed = closed.filter(closed_at__gte=timezone.now() - dt.timedelta(days=days))
    # By bot, best first; the totals are the bots' sums (one query for both).
    by_bot = list(
        closed.values("bot__name")
        .annotate(
            net=Sum(NET),
            trips=Count("id"),
            wins=Count("id", filter=Q(realized_pnl__gt=F("fees_paid") - F("funding"))),
            fees=Sum("fees_paid"),
        )
        .order_by("-net")
        .values_list("bot__name", "net", "trips", "wins", "fees")
    )
    unrealized = _open_positions(link).aggregate(u=Sum("unrealized_pnl"), n=Count("id"))
    latest = MetricSnapshot.objects.filter(bot=OuterRef("pk")).order_by("-ts")
    marks = [
        (equity, capital)
        for equity, capital in _bots(link)
        .annotate(equity=Subquery(latest.values("equity")[:1]))
        .values_list("equity", "capital")
        if equity is not None
    ]
    span = f"the last {days} days" if days else "all time"
    trips = sum(row[2] for row in by_bot)
    lines = [f"Profit of {membership.organization.name}, {span}:"]
    if trips:
        net, wins, fees = (sum(row[i] for row in by_bot) for i in (1, 3, 4))
        lines.append(
            f"Closed: {trips} round trips, net {signed(net)} (fees {money(fees)}), {wins} won ({100 * wins // trips}%)"
        )
        lines.append(f"Best bot: {by_bot[0][0]} {signed(by_bot[0][1])}")
        if len(by_bot) > 1:
            lines.append(f"Worst bot: {by_bot[-1][0]} {signed(by_bot[-1][1])}")
    else:
        lines.append("Closed: no round trip.")
    if unrealized["n"]:
        lines.append(f"Open: {unrealized['n']} positions, unrealized {signed(unrealized['u'] or ZERO)}")
    if marks:
        equity, capital = sum(e for e, _ in marks), sum(c for _, c in marks)
        lines.append(f"Bots' equity {money(equity)} on capital {money(capital)} ({signed(equity - capital)})")
    return Reply("\n".join(lines))


def daily_command(link: TelegramLink, arg: str = "") -> Reply:
    """`/daily [n]`: the last n UTC days (7 without), each with the net PnL and the number of
    the round trips closed that day."""
    _need_membership(link)
    days = _days(arg, default=7, most=90, name="/daily")
    today = timezone.now().astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    rows = (
        Position.objects.for_organization(link.organization_id)
        .filter(closed_at__gte=dt.datetime.combine(first, dt.time(), dt.UTC))
        .annotate(day=TruncDate("closed_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(net=Sum(NET), trips=Count("id"))
    )
    by_day = {row["day"]: row for row in rows}
    lines, total = [], ZERO
    for offset in range(days):
        day = today - dt.timedelta(days=offset)
        row = by_day.get(day)
        net = row["net"] if row else ZERO
        total += net
        trips = row["trips"] if row else 0
        lines.append(f"{day:%Y-%m-%d}  {signed(net):>12}  {trips} trade{'s' if trips != 1 else ''}")
    return Reply(f"Daily net PnL, last {days} days (UTC):\n" + "\n".join(lines) + f"\nTotal {signed(total)}")


def balance_command(link: TelegramLink) -> Reply:
    """Each exchange account's balances: a live account's as the exchange reports them now, a
    paper account's from its ledger. An account that cannot be read says why; the others are
    still shown. (The bot runs the three steps apart, the exchange's on threads of their own.)"""
    accounts = balance_accounts(link)
    return balance_text(accounts, {a.pk: balance_fetch(a) for a in accounts if balance_is_live(a)})


def balance_accounts(link: TelegramLink) -> list[ExchangeAccount]:
    """The organization's exchange accounts, with their paper balances."""
    _need_membership(link)
    return list(
        ExchangeAccount.objects.for_organization(link.organization_id)
        .order_by("label")
        .prefetch_related("paper_balances")
    )


def balance_is_live(account: ExchangeAccount) -> bool:
    """Its balances come from the exchange (not a paper ledger, not paused)."""
    return not account.is_paper and account.status != "paused"


def balance_fetch(account: ExchangeAccount) -> list[Balance] | str:
    """A live account's balances as the exchange reports them now, or why they could not be read."""
    try:
        return list(Gateway(account).balances().values())
    except ExchangeError as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"


def balance_text(accounts: list[ExchangeAccount], live: dict[int, list[Balance] | str]) -> Reply:
    """The balances reply, from `balance_accounts` and each live account's `balance_fetch`."""
    if not accounts:
        return Reply("No exchange account in this organization.")
    blocks = []
    for account in accounts:
        head = f"{account.label} ({account.exchange})"
        if account.is_paper:
            held = [Balance(b.asset, b.free, b.locked) for b in account.paper_balances.all()]
        elif account.status == "paused":
            blocks.append(f"{head}: paused \u2014 {account.status_reason or 'credentials refused'}")
            continue
        else:
            held = live[account.pk]
            if isinstance(held, str):
                blocks.append(f"{head}: could not be read ({held})")
                continue
        held = sorted((b for b in held if b.total), key=lambda b: b.total, reverse=True)
        if not held:
            blocks.append(f"{head}: empty")
            continue
        rows = [f"  {b.asset} {qty(b.total)}" + (f" ({qty(b.used)} in orders)" if b.used else "") for b in held[:12]]
        if len(held) > 12:
            rows.append(f"  \u2026 and {len(held) - 12} more assets")
        blocks.append(head + "\n" + "\n".join(rows))
    return Reply("Balances:\n" + "\n\n".join(blocks))


def signals_command(link: TelegramLink, page: int = 1) -> Reply:
    """The organization's signals that are still valid, newest first."""
    _need_membership(link)
    signals = (
        Signal.objects.for_organization(link.organization_id)
        .filter(valid_until__gt=timezone.now())
        .select_related("source")
        .only("symbol", "timeframe", "side", "kind", "confidence", "created_at", "source__name")
        .order_by("-created_at", "-pk")
    )

    def line(s: Signal) -> str:
        return (
            f"#{s.pk} {s.symbol} {s.timeframe}: {s.side} ({s.kind}), confidence {int(s.confidence * 100)}%, "
            f"{s.source.name}, {s.created_at:%m-%d %H:%M} UTC"
        )

    return paged(
        "Valid signals", signals, page, "signals", line, empty="No valid signal in this organization right now."
    )


# -- buttons under alerts ---------------------------------------------------------------------------
def alert_action(link: TelegramLink, data: str) -> Reply:
    """A button under an alert (chatops.alerts): `ab:bot:<id>` shows the bot, `ab:stop:<id>` asks
    to stop it. The bot may belong to another of the member's organizations than the chat's
    current one: the chat then switches to it, and says so. Stopping is checked against the
    member's role there, here and again when Yes is pressed."""
    verb, _, ref = data.partition(":")[2].partition(":")
    if verb not in ("bot", "stop") or not ref.isdigit():
        raise ApplicationError("That button is not one of mine any more.")
    bot = Bot.objects.filter(pk=int(ref), organization__memberships__user_id=link.user_id).first()
    if bot is None:
        raise ApplicationError("That bot is not in any of your organizations.")
    note = ""
    if bot.organization_id != link.organization_id:
        TelegramLink.objects.filter(pk=link.pk).update(organization_id=bot.organization_id)
        link.organization_id = bot.organization_id
        note = f"\n(Commands now act on {bot.organization.name}.)"
    if verb == "bot":
        reply = bot_command(link, ref)
    else:
        role = _need_membership(link).role
        if ROLE_RANK[Role(role)] < ROLE_RANK[Role.TRADER]:
            raise ApplicationError(f"Stopping a bot needs the trader role; you are {role} in {bot.organization.name}.")
        reply = ask(link, "stop", ref)
    return Reply(reply.text + note, reply.buttons)


# -- actions: ask, then confirm ---------------------------------------------------------------------
ACTIONS = {"start": "Start", "stop": "Stop"}
ORG_ACTIONS = ("stopall", "kill")


def ask_org(link: TelegramLink, verb: str) -> Reply:
    """`/stopall` (every running bot) or `/kill` (the kill switch): the question."""
    membership = _need_membership(link)
    name = membership.organization.name
    if verb == "stopall":
        running = _bots(link).filter(status__in=ACTIVE_STATUSES | {BotStatus.STARTING}).count()
        if not running:
            raise ApplicationError("No bot is running in this organization.")
        return Reply(
            f"Stop all {running} running bots of {name}?",
            [[("Yes, stop them all", "org:stopall"), ("Cancel", "cancel")]],
        )
    return Reply(
        f"Engage the kill switch of {name}? Every bot stops and none can start until it is released.",
        [[("Yes, engage it", "org:kill"), ("Cancel", "cancel")]],
    )


def confirm_org(link: TelegramLink, data: str) -> Reply:
    membership = _need_membership(link)
    verb = data.partition(":")[2]
    if verb == "kill":
        kill_switch_engage(
            organization=membership.organization,
            user=link.user,
            reason=f"Engaged from Telegram by {link.user.get_username()}",
            source=EventSource.TELEGRAM,
        )
        return Reply(f"Kill switch of {membership.organization.name} engaged; its bots are stopping.")
    if verb != "stopall":
        raise ApplicationError("That button is not one of mine any more.")
    stopped, refused = [], []
    for bot in _bots(link).filter(status__in=ACTIVE_STATUSES | {BotStatus.STARTING}).order_by("name"):
        try:
            bot_stop(bot=bot, user=link.user, source=EventSource.TELEGRAM, reason="stop all, from Telegram")
            stopped.append(bot.name)
        except ApplicationError as exc:
            refused.append(f"{bot.name}: {exc.message}")
    text = f"Stopping {len(stopped)} bots" + (f": {', '.join(stopped)}." if stopped else ".")
    if refused:
        text += "\nNot stopped:\n" + "\n".join(refused)
    return Reply(text)


def ask(link: TelegramLink, verb: str, ref: str) -> Reply:
    """`/start <bot>` or `/stop <bot>`: the question, with Yes / Cancel buttons."""
    _need_membership(link)
    bot = find_bot(link, ref)
    if verb == "start" and bot.status not in (BotStatus.STOPPED, BotStatus.ERROR):
        raise ApplicationError(f"{bot.name} is {bot.status}; only a stopped bot can start.")
    if verb == "stop" and bot.status not in ACTIVE_STATUSES | {BotStatus.STARTING}:
        raise ApplicationError(f"{bot.name} is {bot.status}; only a running bot can stop.")
    return Reply(
        f"{ACTIONS[verb]} {bot.name} ({bot.strategy} {bot.symbol}, {bot.mode})?",
        [[(f"Yes, {verb} it", f"do:{verb}:{bot.pk}"), ("Cancel", "cancel")]],
    )


def find_position(link: TelegramLink, ref: str) -> Position:
    ref = (ref or "").strip().lstrip("#")
    if not ref.isdigit():
        raise ApplicationError("Name the position by its number: /positions lists them (e.g. /close 12).")
    position = _open_positions(link).filter(pk=int(ref)).first()
    if position is None:
        raise ApplicationError(f"No open position #{ref} in this organization; /positions lists them.")
    return position


def ask_close(link: TelegramLink, ref: str) -> Reply:
    """`/close <position>` or a Close button under /positions: the question."""
    _need_membership(link)
    position = find_position(link, ref)
    side = "sell" if position.quantity > 0 else "buy"
    return Reply(
        f"Close #{position.pk}: {qty(abs(position.quantity))} {position.symbol} of {position.bot.name} "
        f"(entry {money(position.average_entry_price, 4)}) with a market {side}? The bot keeps running.",
        [[("Yes, close it", f"do:close:{position.pk}"), ("Cancel", "cancel")]],
    )


def confirm(link: TelegramLink, data: str) -> Reply:
    """A pressed confirmation button: the action, through the dashboard's services."""
    _need_membership(link)
    verb, _, ref = data.partition(":")[2].partition(":")
    if verb not in (*ACTIONS, "close") or not ref.isdigit():
        raise ApplicationError("That button is not one of mine any more.")
    if verb == "close":
        position = find_position(link, ref)
        order = position_close(position=position, user=link.user, source=EventSource.TELEGRAM)
        price = f" at {money(order.average, 4)}" if order.average else ""
        return Reply(
            f"Market {order.side} {qty(order.amount)} {order.symbol} for {position.bot.name}: {order.status}{price}."
        )
    bot_id = ref
    bot = find_bot(link, bot_id)
    if verb == "start":
        bot = bot_start(bot=bot, user=link.user, source=EventSource.TELEGRAM)
        return Reply(f"{bot.name} is {bot.status}.")
    bot = bot_stop(bot=bot, user=link.user, source=EventSource.TELEGRAM, reason="stopped from Telegram")
    return Reply(f"{bot.name} is {bot.status}.")
