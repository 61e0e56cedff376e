"""Analytics pages mounted by the project (the Prometheus route is in config/urls.py)."""

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("bots/<int:bot_id>/trades.csv", views.trades_export, name="trades-csv"),
]
