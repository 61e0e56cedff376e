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
