"""Reads of risk state."""

from __future__ import annotations

from django.db.models import Q

from risk.models import KillSwitch, RiskLimits


def kill_switch_engaged(*, organization_id: int) -> bool:
    """True when the organization's switch or the global switch is engaged."""
    return KillSwitch.objects.filter(
        Q(organization_id=organization_id) | Q(organization__isnull=True), engaged=True
    ).exists()


def risk_limits_for(*, organization):
    """Every limit set of an organization (org, account and bot level)."""
    return RiskLimits.objects.for_organization(organization).select_related("exchange_account", "bot")


def limits_for_bot(*, bot):
    """The bot's effective limits: the strictest of its organization's, its account's and its own
    (one query)."""
    from risk.engine import merge_limits

    rows = RiskLimits.objects.filter(
        Q(organization_id=bot.organization_id, exchange_account__isnull=True, bot__isnull=True)
        | Q(exchange_account_id=bot.exchange_account_id)
        | Q(bot_id=bot.pk)
    )
    return merge_limits(rows)
