"""Every org-scoped queryset helper returns its own organization's rows and nothing else."""

import pytest
from django.contrib.auth.models import AnonymousUser

from alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule
from analytics.models import MetricSnapshot
from backtest.models import Backtest
from bots.models import Bot, BotEvent, Fill, FundingPayment, Order, Position
from dex.models import DexAccount, DexSwap, DexWallet, GatewayConnection, Sniper, SnipeToken
from exchanges.models import ExchangeAccount
from hummingbot.models import HummingbotDeployment, HummingbotInstance
from organizations.models import ApiKey, Membership, Organization
from organizations.tenancy import OrganizationOwned
from risk.models import KillSwitch, RiskLimits
from signals.models import AiBudget, AiUsage, Signal, SignalSource, WatchedMarket
from tests import factories

SCOPED = [
    (Membership, factories.MembershipFactory),
    (ApiKey, factories.ApiKeyFactory),
    (ExchangeAccount, factories.ExchangeAccountFactory),
    (Bot, factories.BotFactory),
    (Order, factories.OrderFactory),
    (Fill, factories.FillFactory),
    (Position, factories.PositionFactory),
    (FundingPayment, factories.FundingPaymentFactory),
    (BotEvent, factories.BotEventFactory),
    (RiskLimits, factories.RiskLimitsFactory),
    (KillSwitch, factories.KillSwitchFactory),
    (MetricSnapshot, factories.MetricSnapshotFactory),
    (HummingbotInstance, factories.HummingbotInstanceFactory),
    (HummingbotDeployment, factories.HummingbotDeploymentFactory),
    (AlertChannel, factories.AlertChannelFactory),
    (AlertRule, factories.AlertRuleFactory),
    (Alert, factories.AlertFactory),
    (AlertDelivery, factories.AlertDeliveryFactory),
    (Backtest, factories.BacktestFactory),
    (SignalSource, factories.SignalSourceFactory),
    (Signal, factories.SignalFactory),
    (WatchedMarket, factories.WatchedMarketFactory),
    (AiBudget, factories.AiBudgetFactory),
    (AiUsage, factories.AiUsageFactory),
    (GatewayConnection, factories.GatewayConnectionFactory),
    (DexWallet, factories.DexWalletFactory),
    (DexSwap, factories.DexSwapFactory),
    (DexAccount, factories.DexAccountFactory),
    (Sniper, factories.SniperFactory),
    (SnipeToken, factories.SnipeTokenFactory),
]


def test_every_org_owned_model_is_covered_here():
    from django.apps import apps

    owned = {m for m in apps.get_models() if issubclass(m, OrganizationOwned)}
    assert owned <= {model for model, _ in SCOPED}


def _make(factory, org):
    # Factories whose organization is derived from a parent take it through the parent.
    if factory in (
        factories.OrderFactory,
        factories.PositionFactory,
        factories.BotEventFactory,
        factories.MetricSnapshotFactory,
    ):
        return factory(bot__organization=org)
    if factory is factories.FillFactory:
        return factory(order__bot__organization=org)
    if factory is factories.HummingbotDeploymentFactory:
        return factory(bot__organization=org)
    if factory in (factories.SignalFactory, factories.WatchedMarketFactory):
        return factory(source__organization=org)
    if factory is factories.AlertFactory:
        return factory(rule__organization=org)
    if factory is factories.DexWalletFactory:
        return factory(connection__organization=org)
    if factory is factories.SniperFactory:
        return factory(account__connection__organization=org)
    if factory is factories.SnipeTokenFactory:
        return factory(sniper__account__connection__organization=org)
    if factory is factories.DexAccountFactory:
        return factory(connection__organization=org)
    if factory is factories.DexSwapFactory:
        return factory(wallet__connection__organization=org)
    if factory is factories.AlertDeliveryFactory:
        return factory(alert__rule__organization=org)
    return factory(organization=org)


@pytest.mark.parametrize(("model", "factory"), SCOPED, ids=[m.__name__ for m, _ in SCOPED])
def test_it_rejects_other_org_rows(model, factory, org_a, org_b, alice, bob):
    mine = _make(factory, org_a)
    theirs = _make(factory, org_b)
    assert mine.organization_id == org_a.pk and theirs.organization_id == org_b.pk

    by_org = set(model.objects.for_organization(org_a).values_list("pk", flat=True))
    assert mine.pk in by_org and theirs.pk not in by_org
    by_id = set(model.objects.for_organization(org_a.pk).values_list("pk", flat=True))
    assert by_id == by_org

    for_alice = set(model.objects.for_user(alice).values_list("pk", flat=True))
    assert mine.pk in for_alice and theirs.pk not in for_alice
    for_bob = set(model.objects.for_user(bob).values_list("pk", flat=True))
    assert theirs.pk in for_bob and mine.pk not in for_bob
    assert not model.objects.for_user(AnonymousUser()).exists()


def test_organizations_for_user(org_a, org_b, alice):
    assert list(Organization.objects.for_user(alice)) == [org_a]
    assert not Organization.objects.for_user(AnonymousUser()).exists()


def test_superusers_see_nothing_on_customer_surfaces_without_membership(org_a, superuser):
    factories.BotFactory(organization=org_a)
    assert not Bot.objects.for_user(superuser).exists()
