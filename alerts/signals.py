"""Receivers: every BotEvent, saved one at a time (post_save) or written in bulk (bots'
`events_written`), goes to the alert rules after commit, and a change to rules or channels drops
this process's rule cache."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from alerts.models import AlertChannel, AlertRule
from alerts.services import default_rule_ensure, events_raised, rules_forget
from bots.models import BotEvent
from bots.signals import events_written
from organizations.models import Organization


@receiver(post_save, sender=Organization, dispatch_uid="alerts.organization_created")
def _organization_created(sender, instance: Organization, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        default_rule_ensure(organization_id=instance.pk)


@receiver(post_save, sender=BotEvent, dispatch_uid="alerts.bot_event_saved")
def _bot_event_saved(sender, instance: BotEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        events_raised([instance])


@receiver(events_written, dispatch_uid="alerts.bot_events_written")
def _bot_events_written(sender, events, **kwargs) -> None:
    events_raised(events)


@receiver(post_save, sender=AlertRule, dispatch_uid="alerts.rule_saved")
@receiver(post_delete, sender=AlertRule, dispatch_uid="alerts.rule_deleted")
@receiver(post_save, sender=AlertChannel, dispatch_uid="alerts.channel_saved")
@receiver(post_delete, sender=AlertChannel, dispatch_uid="alerts.channel_deleted")
@receiver(m2m_changed, sender=AlertRule.channels.through, dispatch_uid="alerts.rule_channels_changed")
def _rules_changed(sender, **kwargs) -> None:
    rules_forget()
