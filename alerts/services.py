"""Writes on alerts: turning events into alerts (matched, deduplicated), deliveries and their
outcomes, and the daily summary.

Events reach `events_raised` after the write that made them commits (a post_save receiver for
single events; the `events_written` signal for bulk writes), so a rolled-back event never alerts. Matching
reads the organization's rules from a small per-process cache, so an event that no rule wants
costs no query.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from alerts.levels import RANK, AlertLevel, alert_level_for
from alerts.matching import fingerprint, rule_matches
from alerts.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertStatus,
    ChannelKind,
    DeliveryStatus,
)
from alerts.transports import Notice, TransportError, transport_for
from organizations.models import Role

logger = logging.getLogger(__name__)

SUMMARY_KIND = "summary.daily"
RULE_CACHE_SECONDS = 30
TITLES = {
    "bot.error": "Bot in error",
    "bot.watchdog_restart": "Bot restarted by the watchdog",
    "tick.failed": "Tick failed",
    "risk.rejected": "Order rejected by the risk check",
    "risk.kill_switch_engaged": "Kill switch engaged",
    "risk.kill_switch_released": "Kill switch released",
    "exchange.auth_failed": "Exchange authentication failed",
    "order.rejected": "Order rejected",
    "reconcile.order_missing": "Reconciliation: order missing on the exchange",
    "reconcile.order_adopted": "Reconciliation: order adopted",
    "reconcile.fills_added": "Reconciliation: fills added",
    "reconcile.order_updated": "Reconciliation: order corrected",
    "hummingbot.instance_offline": "Hummingbot instance offline",
    "hummingbot.instance_online": "Hummingbot instance online",
    "hummingbot.failed_over": "Hummingbot failover: running natively",
    "hummingbot.redeployed": "Hummingbot failover: redeployed",
    "hummingbot.paused": "Hummingbot failover: bot paused",
    "hummingbot.no_answer": "Hummingbot command unanswered",
    SUMMARY_KIND: "Daily summary",
}


# -- channels -----------------------------------------------------------------------------------------
# What besides rule, kind and bot tells one alert from another: two instances going offline are two
# alerts; signals on different markets or sides are different calls (a source repeating the same
# call within the dedupe window folds into one).
FINGERPRINT_KEYS = ("instance", "account")
FINGERPRINT_SIGNAL_KEYS = ("symbol", "timeframe", "side")


def channel_validate(*, channel: AlertChannel) -> None:
    """Raise ValidationError (naming the field) when the channel cannot deliver."""
    config = channel.config if isinstance(channel.config, dict) else None
    if config is None:
        raise ValidationError({"config": "Must be a JSON object."})
    for key in ("token", "bot_token", "url", "webhook_url", "secret", "signing_secret"):
        if key in config:
            raise ValidationError({"config": f"Put {key} in its encrypted field, not in config."})
    kind = channel.kind
    if kind == ChannelKind.EMAIL:
        emails = config.get("emails")
        if not isinstance(emails, list) or not emails:
            raise ValidationError({"config": 'Email channels need {"emails": ["ops@example.com", ...]}.'})
        for address in emails:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError({"config": f"{address!r} is not an email address."}) from None
    elif kind == ChannelKind.TELEGRAM:
        chat = config.get("chat_id")
        if isinstance(chat, bool) or not isinstance(chat, int | str) or chat == "":
            raise ValidationError({"config": 'Telegram channels need {"chat_id": <id or @channel>}.'})
        if not channel.bot_token:
            raise ValidationError({"bot_token": "Telegram channels need the bot token."})
        api_url = config.get("api_url")
        if api_url is not None and not (isinstance(api_url, str) and api_url.startswith(("http://", "https://"))):
            raise ValidationError({"config": "api_url must be an http(s) URL."})
    elif kind == ChannelKind.MEMBERS:
        role = config.get("min_role", Role.VIEWER)
        if role not in Role.values:
            raise ValidationError({"config": f"min_role must be one of {', '.join(Role.values)}."})
        if channel.bot_token or channel.webhook_url or channel.signing_secret:
            raise ValidationError({"config": "A members channel uses the platform's Telegram bot: it takes no secret."})
    else:
        url = channel.webhook_url or ""
        if not url.startswith(("https://", "http://")):
            raise ValidationError({"webhook_url": "Give the webhook's http(s) URL."})
        if kind == ChannelKind.WEBHOOK and not channel.signing_secret:
            raise ValidationError({"signing_secret": "Generic webhooks are signed: set a signing secret."})


# -- rules, cached per process ------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleView:
    id: int
    organization_id: int
    patterns: tuple[str, ...]
    min_level: str
    dedupe_seconds: int


_rules: dict[int, tuple[float, list[RuleView]]] = {}
_rules_lock = threading.Lock()


def rules_forget() -> None:
    """Drop the cached rules (called when a rule or its channels change in this process; other
    processes see the change within RULE_CACHE_SECONDS)."""
    with _rules_lock:
        _rules.clear()


def rules_for(organization_ids: Iterable[int]) -> dict[int, list[RuleView]]:
    """The enabled rules of these organizations: from the cache, with one query for the rest."""
    now = time.monotonic()
    wanted = set(organization_ids)
    with _rules_lock:
        found = {o: r for o, (at, r) in _rules.items() if o in wanted and now - at < RULE_CACHE_SECONDS}
    missing = wanted - set(found)
    if missing:
        loaded: dict[int, list[RuleView]] = {o: [] for o in missing}
        rows = AlertRule.objects.filter(organization_id__in=missing, enabled=True).values_list(
            "id", "organization_id", "event_kinds", "min_level", "dedupe_seconds"
        )
        for rule_id, org_id, kinds, min_level, dedupe in rows:
            patterns = tuple(k for k in (kinds or []) if isinstance(k, str))
            loaded[org_id].append(RuleView(rule_id, org_id, patterns, min_level, dedupe))
        with _rules_lock:
            for org_id, views in loaded.items():
                _rules[org_id] = (now, views)
        found.update(loaded)
    return found


# -- events to alerts ---------------------------------------------------------------------------------
def events_raised(events: Sequence[Any]) -> None:
    """Hand freshly written BotEvents to the alert rules once the current transaction commits (at
    once outside one). Bulk writes reach it through bots' `events_written` signal, single saves
    through post_save (both receivers are in `alerts.signals`)."""
    try:
        wanted = _wanted(events)
    except Exception:  # an alerting fault must never hurt the writer whose events these are
        logger.exception("Alert matching failed for %d event(s)", len(events))
        return
    if wanted:
        transaction.on_commit(lambda: _alerts_for_events_safely(wanted), robust=True)


DEFAULT_RULE_NAME = "Warnings and worse (default)"


def default_rule_ensure(*, organization_id: int) -> AlertRule:
    """Every organization starts with one rule: any event of warning level or worse becomes an
    alert (deduplicated, shown in admin, the dashboard and the live stream). It has no channels,
    so nothing leaves the platform until the organization adds one; it can be edited, narrowed
    or disabled like any rule."""
    rule, _ = AlertRule.objects.get_or_create(
        organization_id=organization_id,
        name=DEFAULT_RULE_NAME,
        defaults={"event_kinds": ["*"], "min_level": AlertLevel.WARNING},
    )
    return rule


def _wanted(events: Sequence[Any]) -> list[Any]:
    """The events some enabled rule of their organization matches (from the cached rules, so
    usually without a query); the rest need no callback at all."""
    events = [e for e in events if alert_level_for(e.level) is not None]
    if not events:
        return []
    rules = rules_for({e.organization_id for e in events})
    return [
        e
        for e in events
        if any(
            rule_matches(patterns=list(r.patterns), min_level=r.min_level, kind=e.kind, level=alert_level_for(e.level))
            for r in rules.get(e.organization_id, ())
        )
    ]


def _alerts_for_events_safely(events: list[Any]) -> None:
    try:
        alerts_for_events(events=events)
    except Exception:  # an alerting fault must never hurt the writer whose events these are
        logger.exception("Alert matching failed for %d event(s)", len(events))


def alerts_for_events(*, events: Sequence[Any]) -> list[Alert]:
    """Match committed events against their organizations' rules and raise an alert per rule and
    fingerprint; identical events in one batch fold together. Returns the new alerts."""
    rules = rules_for({e.organization_id for e in events})
    groups: dict[tuple[int, str], list[Any]] = {}
    views: dict[int, RuleView] = {}
    for event in events:
        level = alert_level_for(event.level)
        for rule in rules.get(event.organization_id, ()):
            if level and rule_matches(
                patterns=list(rule.patterns), min_level=rule.min_level, kind=event.kind, level=level
            ):
                data = event.data if isinstance(event.data, dict) else {}
                keys = FINGERPRINT_SIGNAL_KEYS if event.kind.startswith("signal.") else FINGERPRINT_KEYS
                extra = ",".join(f"{key}={data[key]}" for key in keys if key in data)
                fp = fingerprint(rule_id=rule.id, kind=event.kind, bot_id=event.bot_id, extra=extra)
                groups.setdefault((rule.id, fp), []).append(event)
                views[rule.id] = rule
    if not groups:
        return []
    names = _bot_names([e for group in groups.values() for e in group])
    created = []
    for (rule_id, fp), group in groups.items():
        first = group[0]
        bot_name = names.get(first.bot_id)
        label = TITLES.get(first.kind, first.kind)
        alert = alert_raise(
            rule=views[rule_id],
            fingerprint=fp,
            kind=first.kind,
            level=max((alert_level_for(e.level) for e in group), key=_rank),
            title=f"{label}: {bot_name}" if bot_name else label,
            message=first.message,
            bot_id=first.bot_id,
            data={"event": first.pk, **(first.data if isinstance(first.data, dict) else {})},
            occurrences=len(group),
        )
        if alert is not None:
            created.append(alert)
    return created


def _rank(level: str | None) -> int:
    return RANK.get(level, -1)


def _bot_names(events: list[Any]) -> dict[int, str]:
    from bots.models import Bot

    names, unknown = {}, set()
    for event in events:
        if event.bot_id is None:
            continue
        cached = event._state.fields_cache.get("bot")
        if cached is not None:
            names[event.bot_id] = cached.name
        else:
            unknown.add(event.bot_id)
    if unknown - set(names):
        names.update(Bot.objects.filter(pk__in=unknown - set(names)).values_list("pk", "name"))
    return names


def alert_raise(
    *,
    rule: RuleView | AlertRule,
    fingerprint: str,
    kind: str,
    level: str,
    title: str,
    message: str,
    bot_id: int | None = None,
    data: dict[str, Any] | None = None,
    occurrences: int = 1,
    now: dt.datetime | None = None,
) -> Alert | None:
    """Open a new alert and queue its deliveries, or fold the occurrences into the open alert
    with the same fingerprint when it began less than the rule's window ago (then nothing is
    sent and None is returned). Safe under concurrency: at most one open alert exists per rule
    and fingerprint (a partial unique constraint), and folding is one UPDATE."""
    now = now or timezone.now()
    window_start = now - dt.timedelta(seconds=rule.dedupe_seconds)
    current = Alert.objects.filter(rule_id=rule.id, fingerprint=fingerprint, status=AlertStatus.OPEN)
    for _ in range(5):
        if current.filter(first_at__gte=window_start).update(count=F("count") + occurrences, last_at=now):
            return None
        try:
            with transaction.atomic():
                current.filter(first_at__lt=window_start).update(status=AlertStatus.CLOSED)
                alert = Alert.objects.create(
                    organization_id=rule.organization_id,
                    rule_id=rule.id,
                    bot_id=bot_id,
                    kind=kind,
                    fingerprint=fingerprint,
                    level=level,
                    title=title[:200],
                    message=message,
                    data=data or {},
                    first_at=now,
                    last_at=now,
                    count=occurrences,
                )
                _deliveries_queue(alert)
        except IntegrityError:
            continue  # another process opened it first: fold into theirs
        return alert
    logger.warning("Alert %s of rule %s kept changing under us; occurrence dropped", fingerprint, rule.id)
    return None


def _deliveries_queue(alert: Alert) -> None:
    """One pending delivery per enabled channel of the rule, each sent by a task after commit;
    and the live update."""
    from alerts.tasks import alert_deliver
    from bots.live import publish_on_commit

    channel_ids = list(
        AlertChannel.objects.filter(
            rules__id=alert.rule_id, enabled=True, organization_id=alert.organization_id
        ).values_list("pk", flat=True)
    )
    deliveries = AlertDelivery.objects.bulk_create(
        [AlertDelivery(organization_id=alert.organization_id, alert=alert, channel_id=c) for c in channel_ids]
    )
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: alert_deliver.delay(pk))
    publish_on_commit(
        alert.organization_id,
        "alert",
        alert={
            "id": alert.pk,
            "level": alert.level,
            "title": alert.title,
            "message": alert.message,
            "created_at": alert.first_at.isoformat(),
        },
    )


# -- delivery -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt came to: `retry_in` seconds when it should be tried again."""

    status: str
    retry_in: float | None = None


def retry_delay(*, retries: int, retry_after: float | None) -> float:
    """The far side's Retry-After when it gave one, else exponential backoff with jitter."""
    cap = float(getattr(settings, "ALERTS_RETRY_MAX_SECONDS", 900))
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    base = float(getattr(settings, "ALERTS_RETRY_BASE_SECONDS", 10))
    delay = min(base * 2**retries, cap)
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret


def max_attempts() -> int:
    return int(getattr(settings, "ALERTS_MAX_ATTEMPTS", 6))


def delivery_attempt(*, delivery_id: int, retries: int = 0) -> Attempt:
    """Send one delivery once and record the outcome. A permanent failure, or a failure on the
    last allowed attempt, marks it failed; another failure asks for a retry. A delivery already
    sent (a redelivered task message) is not sent again."""
    delivery = (
        AlertDelivery.objects.select_related("alert__organization", "alert__bot", "channel")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return Attempt(delivery.status if delivery else "gone")
    channel, alert = delivery.channel, delivery.alert
    AlertDelivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    if not channel.enabled:
        _finish(delivery, DeliveryStatus.FAILED, "The channel was disabled before delivery.")
        return Attempt(DeliveryStatus.FAILED)
    notice = Notice(
        alert_id=alert.pk,
        delivery_id=delivery.pk,
        organization_id=alert.organization_id,
        organization=alert.organization.name,
        kind=alert.kind,
        level=alert.level,
        title=alert.title,
        message=alert.message,
        count=alert.count,
        first_at=alert.first_at,
        last_at=alert.last_at,
        bot_id=alert.bot_id,
        bot=alert.bot.name if alert.bot else None,
        data=alert.data,
    )
    try:
        transport_for(channel).send(notice)
    except TransportError as exc:
        last = exc.permanent or retries + 1 >= max_attempts()
        logger.info("Delivery %s to channel %s failed (%s): %s", delivery.pk, channel.pk, channel.kind, exc.message)
        if last:
            _finish(delivery, DeliveryStatus.FAILED, exc.message)
            return Attempt(DeliveryStatus.FAILED)
        AlertDelivery.objects.filter(pk=delivery.pk).update(last_error=exc.message)
        return Attempt(DeliveryStatus.PENDING, retry_delay(retries=retries, retry_after=exc.retry_after))
    _finish(delivery, DeliveryStatus.SENT, "")
    return Attempt(DeliveryStatus.SENT)


def _finish(delivery: AlertDelivery, status: str, error: str) -> None:
    AlertDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        status=status, last_error=error, sent_at=timezone.now() if status == DeliveryStatus.SENT else None
    )


# -- daily summary ------------------------------------------------------------------------------------
def summary_figures(*, organization_id: int, day: dt.date) -> dict[str, Any]:
    """One organization's day (UTC): bots by status now, realized PnL of positions closed that
    day (net of fees), orders placed and filled, alerts raised."""
    from bots.models import Bot, Order, Position

    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    bots = dict(Bot.objects.for_organization(organization_id).values_list("status").annotate(n=Count("id")).order_by())
    closed = Position.objects.for_organization(organization_id).filter(closed_at__gte=start, closed_at__lt=end)
    pnl = closed.aggregate(pnl=Sum(F("realized_pnl") - F("fees_paid")))["pnl"] or Decimal("0")
    orders = Order.objects.for_organization(organization_id).filter(created_at__gte=start, created_at__lt=end)
    order_counts = orders.aggregate(placed=Count("id"), filled=Count("id", filter=Q(status="filled")))
    alerts = (
        Alert.objects.for_organization(organization_id)
        .filter(first_at__gte=start, first_at__lt=end)
        .exclude(kind=SUMMARY_KIND)
        .aggregate(
            n=Count("id"),
            critical=Count("id", filter=Q(level=AlertLevel.CRITICAL)),
            occurrences=Sum("count"),
        )
    )
    return {
        "day": day.isoformat(),
        "bots": {status: n for status, n in sorted(bots.items())},
        "bots_running": bots.get("running", 0) + bots.get("degraded", 0),
        "bots_error": bots.get("error", 0),
        "realized_pnl": str(pnl.normalize() if pnl else Decimal("0")),
        "positions_closed": closed.count(),
        "orders_placed": order_counts["placed"],
        "orders_filled": order_counts["filled"],
        "alerts": alerts["n"],
        "alerts_critical": alerts["critical"],
        "alert_occurrences": alerts["occurrences"] or 0,
    }


def summary_message(figures: dict[str, Any]) -> str:
    return (
        f"Bots: {figures['bots_running']} running, {figures['bots_error']} in error.\n"
        f"Realized PnL: {figures['realized_pnl']} ({figures['positions_closed']} position(s) closed).\n"
        f"Orders: {figures['orders_placed']} placed, {figures['orders_filled']} filled.\n"
        f"Alerts: {figures['alerts']} ({figures['alerts_critical']} critical, "
        f"{figures['alert_occurrences']} occurrence(s))."
    )


def summaries_send(*, day: dt.date | None = None) -> list[Alert]:
    """Beat job: the summary of `day` (default yesterday, UTC) to every enabled rule that
    subscribes to `summary.daily`. Safe to run twice: the day is part of the fingerprint and an
    organization's summary for a day is raised once per rule."""
    day = day or (timezone.now().astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    rules = [
        r
        for r in AlertRule.objects.filter(enabled=True).order_by("organization_id", "pk")
        if rule_matches(patterns=list(r.event_kinds or []), min_level=r.min_level, kind=SUMMARY_KIND, level="info")
    ]
    sent, figures_by_org = [], {}
    for rule in rules:
        fp = fingerprint(rule_id=rule.pk, kind=SUMMARY_KIND, bot_id=None, extra=day.isoformat())
        if Alert.objects.filter(rule=rule, fingerprint=fp).exists():
            continue
        if rule.organization_id not in figures_by_org:
            figures_by_org[rule.organization_id] = summary_figures(organization_id=rule.organization_id, day=day)
        figures = figures_by_org[rule.organization_id]
        with transaction.atomic():
            alert = _summary_raise(rule=rule, fingerprint=fp, figures=figures)
        if alert is not None:
            sent.append(alert)
    return sent


def _summary_raise(*, rule: AlertRule, fingerprint: str, figures: dict[str, Any]) -> Alert | None:
    # The window spans two days so a second run for the same day folds instead of sending.
    window = RuleView(rule.pk, rule.organization_id, (SUMMARY_KIND,), AlertLevel.INFO, 2 * 86400)
    return alert_raise(
        rule=window,
        fingerprint=fingerprint,
        kind=SUMMARY_KIND,
        level=AlertLevel.INFO,
        title=f"Daily summary {figures['day']}",
        message=summary_message(figures),
        data=figures,
    )
