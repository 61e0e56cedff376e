"""The project's URLs with the backtest endpoints mounted where the API serves them."""

from django.urls import include, path

from config.urls import urlpatterns as project

urlpatterns = [path("api/v1/backtests/", include("backtest.urls")), *project]
