"""The project's URLs with the analytics pages mounted, as the dashboard will mount them."""

from django.urls import include, path

urlpatterns = [
    path("analytics/", include("analytics.urls")),
    path("", include("config.urls")),
]
