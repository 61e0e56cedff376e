from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from analytics import views as analytics_views
from core.ratelimit import RateLimitedAdminAuthenticationForm, RateLimitedAuthenticationForm, login_rate_limited
from dashboard.views import healthz

admin.site.site_header = "Trading back office"
admin.site.site_title = "Back office admin"
admin.site.index_title = "Operations"
admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    # Before admin.site.urls, so the admin's sign-in answers 429 while attempts are limited.
    path("admin/login/", login_rate_limited(admin.site.login)),
    path("admin/", admin.site.urls),
    path(
        "login/",
        login_rate_limited(auth_views.LoginView.as_view(authentication_form=RateLimitedAuthenticationForm)),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    path("metrics", analytics_views.metrics, name="prometheus-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("api.urls")),
    path("analytics/", include("analytics.urls")),
    path("telegram/", include("chatops.urls")),
    path("", include("dashboard.urls")),
]
