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

from dataclasses import dataclass, field

from django.db.models import Count

from bots.models import Bot
from bots.services import bot_start, bot_stop
from bots.state import ACTIVE_STATUSES, BotStatus
from chatops.models import TelegramLink
from core.errors import ApplicationError
from core.events import EventSource
from organizations.models import Membership
from risk.selectors import kill_switch_engaged
from risk.services import kill_switch_engage

MAX_TEXT = 4096
PAGE = 15


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
    chosen = memberships.filter(organization_id=link.organization_id).first() if link.organization_id else None
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
    bots = _bots(link).select_related("exchange_account")
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


def bots_command(link: TelegramLink, page: int = 1) -> Reply:
    _need_membership(link)
    rows = list(_bots(link).order_by("name").values_list("pk", "name", "status", "strategy", "symbol", "mode"))
    if not rows:
        return Reply("No bots in this organization yet.")
    pages = (len(rows) + PAGE - 1) // PAGE
    page = min(max(page, 1), pages)
    shown = rows[(page - 1) * PAGE : page * PAGE]
    lines = [
        f"#{pk} {name}: {status} \u00b7 {strategy} {symbol} ({mode})"
        for pk, name, status, strategy, symbol, mode in shown
    ]
    nav = []
    if page > 1:
        nav.append(("\u2039 Previous", f"bots:{page - 1}"))
    if page < pages:
        nav.append(("Next \u203a", f"bots:{page + 1}"))
    return Reply(f"Bots, page {page} of {pages}:\n" + "\n".join(lines), [nav] if nav else [])


def bot_command(link: TelegramLink, ref: str) -> Reply:
    _need_membership(link)
    bot = find_bot(link, ref)
    position = bot.positions.filter(closed_at__isnull=True).first()
    lines = [
        f"#{bot.pk} {bot.name}: {bot.status}",
        f"{bot.strategy} on {bot.symbol} ({bot.market_type}, {bot.mode}, {bot.get_execution_display().lower()})",
        f"Capital {bot.capital}",
        f"Position {position.quantity} @ {position.average_entry_price}" if position else "No open position",
    ]
    if bot.last_tick_at:
        lines.append(f"Last tick {bot.last_tick_at:%Y-%m-%d %H:%M:%S} UTC")
    if bot.last_error:
        lines.append(f"Last error: {bot.last_error[:300]}")
    return Reply("\n".join(lines))


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


def confirm(link: TelegramLink, data: str) -> Reply:
    """A pressed confirmation button: the action, through the dashboard's services."""
    _need_membership(link)
    verb, _, bot_id = data.partition(":")[2].partition(":")
    if verb not in ACTIONS or not bot_id.isdigit():
        raise ApplicationError("That button is not one of mine any more.")
    bot = find_bot(link, bot_id)
    if verb == "start":
        bot = bot_start(bot=bot, user=link.user, source=EventSource.TELEGRAM)
        return Reply(f"{bot.name} is {bot.status}.")
    bot = bot_stop(bot=bot, user=link.user, source=EventSource.TELEGRAM, reason="stopped from Telegram")
    return Reply(f"{bot.name} is {bot.status}.")
