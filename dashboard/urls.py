from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("organization/", views.organization_switch, name="organization_switch"),
    path("bots/new/", views.bot_new, name="bot_new"),
    path("bots/<int:pk>/", views.bot_detail, name="bot"),
    path("bots/<int:pk>/edit/", views.bot_edit, name="bot_edit"),
    path("bots/<int:pk>/start/", views.bot_start_view, name="bot_start"),
    path("bots/<int:pk>/stop/", views.bot_stop_view, name="bot_stop"),
    path("bots/<int:pk>/orders/", views.bot_order_view, name="bot_order"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/<int:pk>/verify/", views.account_verify, name="account_verify"),
    path("risk/", views.risk, name="risk"),
    path("risk/kill-switch/", views.kill_switch, name="kill_switch"),
    path("hummingbot/", views.hummingbot, name="hummingbot"),
    path("backtests/", views.backtests, name="backtests"),
    path("backtests/<int:pk>/", views.backtest_detail, name="backtest"),
    path("signals/", views.signals, name="signals"),
    path("signals/<int:pk>/", views.signal_detail, name="signal"),
    path("signals/sources/", views.signal_sources, name="signal_sources"),
    path("dex/", views.dex, name="dex"),
    path("dex/swaps/", views.dex_swaps, name="dex_swaps"),
    path("dex/swaps/<int:pk>/", views.dex_swap_detail, name="dex_swap"),
    path("dex/snipers/<int:pk>/", views.dex_sniper, name="dex_sniper"),
    path("telegram/", views.telegram, name="telegram"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
