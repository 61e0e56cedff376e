from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from api import views
from api.backtests import BacktestViewSet
from api.dex import DexAccountViewSet, DexSwapViewSet, DexWalletViewSet, GatewayConnectionViewSet
from api.signals import SignalSourceViewSet, SignalViewSet, SignalWebhookView, WatchedMarketViewSet

router = DefaultRouter()
router.register("bots", views.BotViewSet, basename="bot")
router.register(r"bots/(?P<bot_pk>[^/.]+)/orders", views.BotOrderViewSet, basename="bot-order")
router.register(r"bots/(?P<bot_pk>[^/.]+)/fills", views.BotFillViewSet, basename="bot-fill")
router.register(r"bots/(?P<bot_pk>[^/.]+)/positions", views.BotPositionViewSet, basename="bot-position")
router.register(r"bots/(?P<bot_pk>[^/.]+)/events", views.BotEventViewSet, basename="bot-event")
router.register(r"bots/(?P<bot_pk>[^/.]+)/funding", views.BotFundingViewSet, basename="bot-funding")
router.register("orders", views.OrderViewSet, basename="order")
router.register("fills", views.FillViewSet, basename="fill")
router.register("strategies", views.StrategyViewSet, basename="strategy")
router.register("exchange-accounts", views.ExchangeAccountViewSet, basename="exchange-account")
router.register("risk-limits", views.RiskLimitsViewSet, basename="risk-limits")
router.register("kill-switch", views.KillSwitchViewSet, basename="kill-switch")
router.register("hummingbot/instances", views.HummingbotInstanceViewSet, basename="hummingbot-instance")
router.register("hummingbot/deployments", views.HummingbotDeploymentViewSet, basename="hummingbot-deployment")
router.register("members", views.MembershipViewSet, basename="member")
router.register("backtests", BacktestViewSet, basename="backtest")
# Before "signals": its detail route would otherwise take "sources" for a signal id.
router.register("signals/sources", SignalSourceViewSet, basename="signal-source")
router.register("signals/watched-markets", WatchedMarketViewSet, basename="watched-market")
router.register("signals", SignalViewSet, basename="signal")
router.register("dex/gateways", GatewayConnectionViewSet, basename="dex-gateway")
router.register("dex/wallets", DexWalletViewSet, basename="dex-wallet")
router.register("dex/swaps", DexSwapViewSet, basename="dex-swap")
router.register("dex/accounts", DexAccountViewSet, basename="dex-account")

app_name = "api"
urlpatterns = [
    path("ping/", views.PingView.as_view(), name="ping"),
    path("signals/webhook/<str:token>/", SignalWebhookView.as_view(), name="signal-webhook"),
    *router.urls,
    re_path(r"^.*$", views.not_found),
]
