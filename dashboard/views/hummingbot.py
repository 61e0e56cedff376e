"""Hummingbot instances with their health and deployments (read-only)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.views.base import OrgContext, member_view, render_page
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance


@member_view()
def hummingbot(request: HttpRequest, org: OrgContext) -> HttpResponse:
    deployments = HummingbotDeployment.objects.select_related("bot").order_by("-created_at")
    instances = (
        HummingbotInstance.objects.for_user(request.user)
        .for_organization(org.organization)
        .annotate(
            active_count=Count(
                "deployments",
                filter=~Q(deployments__status__in=[DeploymentStatus.STOPPED, DeploymentStatus.FAILED]),
            )
        )
        .prefetch_related(Prefetch("deployments", queryset=deployments))
        .order_by("name")
    )
    return render_page(
        request, org, "dashboard/hummingbot.html", {"instances": instances, "now": timezone.now(), "active": "hb"}
    )
