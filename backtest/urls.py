"""Backtest endpoints, to be mounted under the API prefix (e.g. `path("backtests/", include(...))`)."""

from django.urls import path

from backtest.views import BacktestDetailView, BacktestListView

app_name = "backtest"

urlpatterns = [
    path("", BacktestListView.as_view(), name="list"),
    path("<int:pk>/", BacktestDetailView.as_view(), name="detail"),
]
